"""Connectivity patterns: which (pre, post) pairs a sparse projection connects.

Each pattern returns two int64 arrays of equal length, pre and post indices into the two populations
(or population views), sorted by pre then post. Random patterns draw from a NumPy Generator, so a seed
gives the same synapses on every machine. ``self_pairs`` is the (pre index, post index) offset at which
a neuron meets itself when pre and post are the same population: pairs with post == pre + offset are
self-connections.
"""
import numpy as np

from .errors import NetworkError


def _probability(value):
    if not (isinstance(value, (int, float, np.floating)) and 0.0 <= float(value) <= 1.0):
        raise NetworkError(f"probability must be a number in [0, 1], got {value!r}")
    return float(value)


def _count(value, limit, what):
    if not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= limit:
        raise NetworkError(f"{what} must be an integer in [0, {limit}], got {value!r}")
    return int(value)


def _sample_row(rng, n_candidates, k, skip):
    """k distinct indices of range(n_candidates), sorted; ``skip`` (or None) is left out of the range."""
    if skip is None:
        return np.sort(rng.choice(n_candidates, size=k, replace=False))
    chosen = np.sort(rng.choice(n_candidates - 1, size=k, replace=False))
    return chosen + (chosen >= skip)  # shift past the excluded index


def _own_index(i, self_offset, n_other):
    """The index in the other population of neuron i itself, or None (no self pair in range)."""
    if self_offset is None:
        return None
    j = i + self_offset
    return j if 0 <= j < n_other else None


def _join(rows):
    """[(pre, posts)] -> sorted (pre, post) arrays."""
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pre = np.concatenate([np.full(len(posts), i, dtype=np.int64) for i, posts in rows])
    post = np.concatenate([np.asarray(posts, dtype=np.int64) for _, posts in rows])
    return pre, post


def fixed_probability(n_pre, n_post, probability, rng, self_offset=None):
    """Each pair is connected independently with ``probability`` (per pre neuron: a binomial count of
    distinct post neurons, which is the same distribution and costs O(synapses), not O(pre x post))."""
    p = _probability(probability)
    rows = []
    for i in range(n_pre):
        skip = _own_index(i, self_offset, n_post)
        candidates = n_post - (skip is not None)
        k = rng.binomial(candidates, p) if candidates > 0 else 0
        if k:
            rows.append((i, _sample_row(rng, n_post, k, skip)))
    return _join(rows)


def _meets_itself(n_from, n_to, offset):
    """Whether some neuron of the first range has itself in the second (post = pre + offset)."""
    return offset is not None and max(0, -offset) < min(n_from, n_to - offset)


def fixed_number_post(n_pre, n_post, number, rng, self_offset=None):
    """Each pre neuron connects to ``number`` distinct post neurons."""
    number = _count(number, n_post - _meets_itself(n_pre, n_post, self_offset), "number")
    rows = [(i, _sample_row(rng, n_post, number, _own_index(i, self_offset, n_post))) for i in range(n_pre)]
    return _join(rows)


def fixed_number_pre(n_pre, n_post, number, rng, self_offset=None):
    """Each post neuron receives from ``number`` distinct pre neurons."""
    back = None if self_offset is None else -self_offset
    number = _count(number, n_pre - _meets_itself(n_post, n_pre, back), "number")
    columns = [(j, _sample_row(rng, n_pre, number, _own_index(j, back, n_pre))) for j in range(n_post)]
    post, pre = _join(columns)
    order = np.lexsort((post, pre))
    return pre[order], post[order]


def all_to_all(n_pre, n_post, self_offset=None):
    pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
    post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
    if self_offset is not None:
        keep = post != pre + self_offset
        pre, post = pre[keep], post[keep]
    return pre, post


def from_sparse_matrix(matrix, n_pre, n_post):
    """(pre, post, weights) of the stored entries of a (pre, post) ``scipy.sparse`` matrix (or anything
    with ``tocoo()``); explicit zeros count as synapses."""
    if not hasattr(matrix, "tocoo"):
        raise NetworkError(f"expected a scipy.sparse matrix (pre x post), got {type(matrix).__name__}")
    coo = matrix.tocoo()
    if coo.shape != (n_pre, n_post):
        raise NetworkError(f"the matrix has shape {coo.shape}, the populations need (pre={n_pre}, post={n_post})")
    pre, post = np.asarray(coo.row, dtype=np.int64), np.asarray(coo.col, dtype=np.int64)
    order = np.lexsort((post, pre))
    return pre[order], post[order], np.asarray(coo.data, dtype=np.float64)[order]


def from_arrays(pre, post, n_pre, n_post):
    """Checked (pre, post) index arrays, kept in the order given (weights and delays follow it)."""
    try:
        pre = np.asarray(pre)
        post = np.asarray(post)
    except (TypeError, ValueError):
        raise NetworkError("pre and post indices must be arrays of integers") from None
    if pre.ndim != 1 or post.shape != pre.shape:
        raise NetworkError(f"pre and post indices must be 1-D and of equal length, got {pre.shape} and {post.shape}")
    if pre.size and not (np.issubdtype(pre.dtype, np.integer) and np.issubdtype(post.dtype, np.integer)):
        raise NetworkError(f"pre and post indices must be integers, got {pre.dtype} and {post.dtype}")
    for name, index, limit in (("pre", pre, n_pre), ("post", post, n_post)):
        if index.size and (index.min() < 0 or index.max() >= limit):
            bad = int(index[(index < 0) | (index >= limit)][0])
            raise NetworkError(f"{name} index {bad} is out of range [0, {limit})")
    return pre.astype(np.int64), post.astype(np.int64)
