"""Convolution and pooling projections over channels-last (H, W, C) geometries.

Both are event-driven when the pre population spikes: a spike costs the
kernel entries (or windows) it reaches, with output channels innermost.
A pre population with a graded ``output`` sends value-weighted events
instead (max pooling then takes the window maximum of the values).
"""
import numpy as np

from .buffers import aligned_copy, aligned_zeros
from .errors import InputError, NetworkError
from .projection import Projection


def _pair(value, what):
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise NetworkError(f"{what} must be a positive int or a pair of them, got {value}")
    return value


def output_size(size, window, stride, padding):
    """Output length and leading padding for one spatial axis: Keras' 'same' or 'valid', or explicit
    (before, after) cells as ONNX and PyTorch state them."""
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2 or min(int(p) for p in padding) < 0:
            raise NetworkError(f"explicit padding must be (before, after) cells >= 0, got {padding}")
        before, after = (int(p) for p in padding)
        if size + before + after < window:
            raise NetworkError(f"window {window} is larger than the padded input ({size} + {before} + {after})")
        return (size + before + after - window) // stride + 1, before
    if padding == "valid":
        if size < window:
            raise NetworkError(f"window {window} is larger than the input ({size}) with padding 'valid'")
        return (size - window) // stride + 1, 0
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + window - size, 0)
        return out, total // 2
    raise NetworkError(f"padding must be 'same' or 'valid', got {padding!r}")


def axis_padding(padding, axis):
    """The padding of one axis: 'same' / 'valid' for both, or the axis' (before, after) of
    ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        return padding
    try:
        return tuple(padding[axis])
    except (TypeError, IndexError):
        raise NetworkError(f"padding must be 'same', 'valid' or ((top, bottom), (left, right)), got {padding!r}") from None


def _image_geometry(pop, role, name):
    if len(pop.geometry) != 3:
        raise NetworkError(f"projection '{name}': {role} population '{pop.name}' needs a (H, W, C) geometry, "
                           f"got {pop.geometry}")
    return pop.geometry


class _Spatial(Projection):
    """What convolution and pooling share: output geometry checks and window fan-out."""

    def _check_post(self, expected):
        if self.post.geometry != expected and not (len(expected) == 3 and expected[:2] == (1, 1)
                                                     and self.post.geometry == expected[2:]):
            raise NetworkError(f"projection '{self.name}': post population '{self.post.name}' has geometry "
                               f"{self.post.geometry}, but this projection produces {expected}")

    def _windows_per_input(self, window):
        """(H, W) number of output positions whose window covers each input position."""
        counts = []
        for axis, size in enumerate(self.pre.geometry[:2]):
            covered = np.zeros(size, dtype=np.int64)
            for o in range(self.out[axis]):
                start = o * self.stride[axis] - self.pad[axis]
                covered[max(start, 0):min(start + window[axis], size)] += 1
            counts.append(covered)
        return np.outer(counts[0], counts[1])

    def fan_out(self):
        """(pre.size,) synaptic events caused by one event of each pre neuron (channels innermost)."""
        per_position = self._windows_per_input(self._window()) * self._events_per_window()
        return np.repeat(per_position.ravel(), self.pre.geometry[2])


class ConvolutionProjection(_Spatial):
    """Shared kernels of shape (KH, KW, C_in, C_out), as Keras stores them; any stride; 'same' or 'valid'."""
    kind = "conv"

    def __init__(self, network, index, pre, post, kernel, target, stride, padding, name):
        super().__init__(network, index, pre, post, target, name)
        h, w, c = _image_geometry(pre, "pre", name)
        kernel = np.asarray(kernel, dtype=np.float32)
        if kernel.ndim != 4 or kernel.shape[2] != c:
            raise InputError(f"projection '{name}': kernel must have shape (KH, KW, {c}, C_out), got {kernel.shape}")
        if not np.isfinite(kernel).all():
            raise InputError(f"projection '{name}': kernel contains NaN or inf")
        self.stride, self.padding = _pair(stride, "stride"), padding
        (oh, pt), (ow, pl) = (output_size(h, kernel.shape[0], self.stride[0], axis_padding(padding, 0)),
                              output_size(w, kernel.shape[1], self.stride[1], axis_padding(padding, 1)))
        self.pad, self.out = (pt, pl), (oh, ow)
        self._check_post((oh, ow, kernel.shape[3]))
        self._w = aligned_copy(kernel)

    @property
    def w(self):
        """The kernel, (KH, KW, C_in, C_out) float32, shared by all batch items (zero-copy)."""
        return self._w

    @w.setter
    def w(self, kernel):
        kernel = np.asarray(kernel, dtype=np.float32)
        if kernel.shape != self._w.shape or not np.isfinite(kernel).all():
            raise InputError(f"projection '{self.name}': kernel must be finite with shape {self._w.shape}")
        np.copyto(self._w, kernel)

    def buffer_fields(self):
        return [(f"proj{self.index}_w", "float", self._w)]

    def _window(self):
        return self._w.shape[:2]

    def _events_per_window(self):
        return self._w.shape[3]

    def template_context(self):
        (h, w, c), (kh, kw, _, co) = self.pre.geometry, self._w.shape
        return super().template_context(H=h, W=w, C=c, OH=self.out[0], OW=self.out[1], CO=co, KH=kh, KW=kw,
                                        SH=self.stride[0], SW=self.stride[1], PT=self.pad[0], PL=self.pad[1])


#: How max pooling treats spikes: "winner" passes, in each window, only the spikes of the input with
#: the highest running spike count (Rueckauer et al. 2017); "count" delivers every increase of the
#: window's largest running count, so the post neuron's summed input is exactly that maximum at every
#: step (one event per window and step at most).
MAX_RULES = ("winner", "count")


class PoolingProjection(_Spatial):
    """Max or mean over windows, per channel; ``max_rule`` (MAX_RULES) for max pooling of spikes."""
    kind = "pool"

    def __init__(self, network, index, pre, post, operation, pool_size, target, stride, padding, max_rule,
                 count_include_pad, name):
        super().__init__(network, index, pre, post, target, name)
        self.count_include_pad = bool(count_include_pad)  # mean over the whole window, padded cells as zeros
        h, w, c = _image_geometry(pre, "pre", name)
        if operation not in ("max", "mean"):
            raise NetworkError(f"projection '{name}': operation must be 'max' or 'mean', got {operation!r}")
        if max_rule not in MAX_RULES:
            raise NetworkError(f"projection '{name}': max_rule must be one of {', '.join(map(repr, MAX_RULES))}, "
                               f"got {max_rule!r}")
        self.operation, self.max_rule = operation, max_rule
        self.pool_size = _pair(pool_size, "pool_size")
        self.stride = _pair(stride if stride is not None else self.pool_size, "stride")
        self.padding = padding
        (oh, pt), (ow, pl) = (output_size(h, self.pool_size[0], self.stride[0], axis_padding(padding, 0)),
                              output_size(w, self.pool_size[1], self.stride[1], axis_padding(padding, 1)))
        self.pad, self.out = (pt, pl), (oh, ow)
        self._check_post((oh, ow, c))
        self._count = aligned_zeros((network.batch_size, pre.size), np.int32)
        self._delivered = aligned_zeros((network.batch_size, oh * ow * c), np.int32)  # "count": max so far
        self._largest = aligned_zeros((network.batch_size, oh * ow * c))  # payload max: this step's largest

    def buffer_fields(self):
        return [(f"proj{self.index}_count", "int32_t", self._count),
                (f"proj{self.index}_delivered", "int32_t", self._delivered),
                (f"proj{self.index}_largest", "float", self._largest)]

    def _window(self):
        return self.pool_size

    def _events_per_window(self):
        return 1  # an upper bound for max pooling, which passes only the winner's spikes

    def reset(self):
        self._count.fill(0)
        self._delivered.fill(0)

    def template_context(self):
        h, w, c = self.pre.geometry
        return super().template_context(H=h, W=w, C=c, OH=self.out[0], OW=self.out[1], PH=self.pool_size[0],
                                        PW=self.pool_size[1], SH=self.stride[0], SW=self.stride[1], PT=self.pad[0],
                                        PL=self.pad[1], operation=self.operation, max_rule=self.max_rule,
                                        count_include_pad=self.count_include_pad)
