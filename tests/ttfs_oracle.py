"""NumPy oracle of the TTFS mapping (annsnn.conversion.ttfs), for testing only.

Computed from the mapping's equations, not simulated: every layer's value is its normalised
pre-activation rounded to the grid of 1/L and clipped to [0, 1]; a value q/L > 0 is a spike q steps
before the layer's window closes. Max pooling passes the largest value (the earliest spike) on
within its input's window.
"""
import numpy as np


def _pad_same(size, kernel, stride):
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, stride, padding):
    """(n, H, W, C) * (KH, KW, C, O), Keras' 'valid'/'same' (extra padding at the bottom/right)."""
    kh, kw = kernel.shape[:2]
    sh, sw = stride
    if padding == "same":
        (top, bottom), (left, right) = _pad_same(x.shape[1], kh, sh), _pad_same(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out_h, out_w = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :]
            out += patch @ kernel[i, j]
    return out


def pool2d(x, size, stride, operation):
    """'valid' pooling; a (H, W) pool over the whole map is global pooling."""
    ph, pw = size
    sh, sw = stride
    out_h, out_w = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    windows = np.stack([x[:, i:i + sh * out_h:sh, j:j + sw * out_w:sw, :]
                        for i in range(ph) for j in range(pw)])
    return windows.max(axis=0) if operation == "max" else windows.mean(axis=0)


def _lambda(lambdas, name, channels):
    value = np.asarray(lambdas[name], dtype=np.float64)
    return value if value.ndim == 0 else np.tile(value, channels // value.size)


def spike_steps(plans, weight_factors, bias_factors, lambdas, window, x):
    """{plan name: (n, *shape) spike step, -1 for none} of the TTFS network of ``plans``."""
    factor = dict(zip((p.name for p in plans[1:]), zip(weight_factors, bias_factors)))
    readers = {p.name: [r for r in plans if p.name in r.inputs] for p in plans}
    fused = {p.name for p in plans if p.kind in ("dense", "conv") and p.activation == "linear"
             and readers[p.name] and all(r.kind == "add" for r in readers[p.name])}
    by_name = {p.name: p for p in plans}
    value, window_of, steps = {}, {}, {}

    def quantise(z):
        return np.clip(np.floor(window * z + 0.5), 0, window) / window

    def linear(plan):
        a = value[plan.inputs[0]]
        w = plan.weights * factor[plan.name][0]
        if plan.kind == "dense":
            z = a.reshape(len(a), -1) @ w
        else:
            z = conv2d(a, w, plan.stride, plan.padding)
        return z + (0.0 if plan.bias is None else plan.bias * factor[plan.name][1])

    first = plans[0]
    value[first.name] = quantise(np.asarray(x, dtype=np.float64).reshape((len(x),) + first.shape)
                                 / float(lambdas[first.name]))
    window_of[first.name] = 0
    for plan in plans[1:]:
        if plan.name in fused:
            continue
        sources = [name for source in plan.inputs
                   for name in (by_name[source].inputs if source in fused else [source])]
        if plan.kind == "pool" and plan.operation == "max":
            value[plan.name] = pool2d(value[plan.inputs[0]], plan.pool_size, plan.stride, "max")
            window_of[plan.name] = window_of[plan.inputs[0]]
            continue
        window_of[plan.name] = 1 + max(window_of[name] for name in sources)
        if plan.kind in ("dense", "conv"):
            z = linear(plan)
        elif plan.kind == "pool":
            z = pool2d(value[plan.inputs[0]], plan.pool_size, plan.stride, "mean")
            z = z.reshape((len(z),) + plan.shape)
        else:
            parts = []
            for source in plan.inputs:
                if source in fused:
                    parts.append(linear(by_name[source]))
                else:
                    channels = by_name[source].shape[-1]
                    offset = (sum(by_name[s].shape[-1] for s in plan.inputs[:plan.inputs.index(source)])
                              if plan.kind == "concat" else 0)
                    merge = _lambda(lambdas, plan.name, plan.shape[-1])
                    merge = merge if merge.ndim == 0 else merge[offset:offset + channels]
                    parts.append(value[source] * (_lambda(lambdas, source, channels) / merge))
            z = sum(parts) if plan.kind == "add" else np.concatenate(parts, axis=-1)
        value[plan.name] = quantise(z.reshape((len(z),) + plan.shape))
    for name, a in value.items():
        q = np.rint(a * window).astype(np.int64)
        steps[name] = np.where(q > 0, (window_of[name] + 1) * window - q, -1)
    return steps, value
