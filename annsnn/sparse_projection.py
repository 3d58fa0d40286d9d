"""Sparse projections: synapses that exist, stored by pre neuron (CSR) and shared by all batch items.

A spike walks its own row of synapses, so it costs its fan-out, and memory grows with the synapses,
not with pre x post. Weights (and per-synapse delays) are zero-copy views in that row order.
"""
import numpy as np

from .buffers import aligned_copy, aligned_zeros
from .errors import InputError, NetworkError
from .projection import Projection, delay_steps


class SparseProjection(Projection):
    """Synapses (pre[k], post[k]) with weights w[k] and, optionally, delays per synapse.

    ``pre`` and ``post`` may be population views (``pop[a:b]``); indices are then relative to the
    view. Synapses are held sorted by pre neuron (stable: the given order within a pre neuron).
    """
    kind = "sparse"

    def __init__(self, network, index, pre, post, target, synapses, weights, name):
        pre_view, post_view = pre, post
        pre_pop, post_pop = _population(pre), _population(post)
        super().__init__(network, index, pre_pop, post_pop, target, name)
        pre_index, post_index = synapses
        pre_index = np.asarray(pre_index, dtype=np.int64) + _offset(pre_view)
        post_index = np.asarray(post_index, dtype=np.int64) + _offset(post_view)
        if max(pre_pop.size, post_pop.size) >= 2 ** 31:
            raise NetworkError(f"projection '{name}': populations of 2^31 neurons or more are not supported")
        # the storage order of the synapses given; None when they come sorted (the patterns' do), which
        # saves 8 bytes per synapse
        self._order = None if np.all(pre_index[1:] >= pre_index[:-1]) else np.argsort(pre_index, kind="stable")
        in_order = (lambda a: a) if self._order is None else (lambda a: a[self._order])
        self._pre = aligned_copy(in_order(pre_index), np.int32)
        self._post = aligned_copy(in_order(post_index), np.int32)
        del pre_index, post_index
        counts = np.bincount(self._pre, minlength=pre_pop.size)
        self._row_ptr = aligned_zeros(pre_pop.size + 1, np.int64)
        np.cumsum(counts, out=self._row_ptr[1:])
        self._w = aligned_zeros(len(self._pre))
        self._delays = aligned_zeros(0, np.int32)
        self.w = weights

    @property
    def size(self):
        """Number of synapses."""
        return len(self._pre)

    @property
    def pre_indices(self):
        """(synapses,) pre neuron of each synapse, in storage order (read-only)."""
        return _read_only(self._pre)

    @property
    def post_indices(self):
        """(synapses,) post neuron of each synapse, in storage order (read-only)."""
        return _read_only(self._post)

    @property
    def w(self):
        """(synapses,) float32 weights in storage order, shared by all batch items (zero-copy)."""
        return self._w

    @w.setter
    def w(self, weights):
        self._w[...] = self._per_synapse(weights, "weights")

    def _per_synapse(self, values, what):
        """A scalar, or one value per synapse in the order the synapses were given, as storage order."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0:
            result = values  # broadcast where it is stored: no array per synapse
        elif values.shape == (self.size,):
            result = values if self._order is None else values[self._order]
        else:
            raise InputError(f"projection '{self.name}': {what} must be a scalar or one per synapse "
                             f"({self.size},), got shape {values.shape}")
        if not np.isfinite(result).all():
            raise InputError(f"projection '{self.name}': {what} contain NaN or inf")
        return result

    def set_delay(self, delay):
        """Delays in ms: one for all synapses or one per synapse (in the order the synapses were given)."""
        steps = delay_steps(self._per_synapse(delay, "delays"), self.network.dt, self.name)
        if steps.ndim == 0 or (steps.size and (steps == steps[0]).all()):
            self._delays = aligned_zeros(0, np.int32)
            self._make_ring(int(steps.flat[0]))
        else:
            self._delays = aligned_copy(steps, np.int32)
            self._make_ring(int(steps.max()) if steps.size else 1)

    @property
    def delays(self):
        """(synapses,) delays in ms in storage order."""
        if self._delays.size:
            return self._delays * self.network.dt
        return np.full(self.size, self.delay_steps * self.network.dt)

    def buffer_fields(self):
        fields = [(f"proj{self.index}_row_ptr", "int64_t", self._row_ptr),
                  (f"proj{self.index}_post", "int32_t", self._post), (f"proj{self.index}_w", "float", self._w)]
        if self._delays.size:
            fields.append((f"proj{self.index}_delay", "int32_t", self._delays))
        return fields

    def fan_out(self):
        return np.diff(self._row_ptr)

    def to_dense(self):
        """(pre.size, post.size) float32 matrix of summed weights (for checks on small projections)."""
        dense = np.zeros((self.pre.size, self.post.size), dtype=np.float32)
        np.add.at(dense, (self._pre, self._post), self._w)
        return dense

    def template_context(self):
        return super().template_context(per_synapse_delay=bool(self._delays.size))

    def __repr__(self):
        return (f"SparseProjection({self.pre.name!r} -> {self.post.name!r}, target={self.target!r}, "
                f"synapses={self.size})")


def _population(end):
    return getattr(end, "population", end)


def _offset(end):
    return getattr(end, "start", 0)


def _read_only(array):
    view = array.view()
    view.flags.writeable = False
    return view
