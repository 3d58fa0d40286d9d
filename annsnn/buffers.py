"""NumPy-owned state buffers aligned to 64 bytes.

NumPy aligns large arrays to 16 bytes only. A weight row that starts 16 or 32 bytes into a cache line
makes every 64-byte vector load of the kernels a split load across two lines, which costs up to half
the throughput of dense propagation. The generated code works on these buffers through raw pointers.
"""
import numpy as np

ALIGNMENT = 64


def _aligned_empty(shape, dtype):
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n_bytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + n_bytes].view(dtype).reshape(shape)


def aligned_full(shape, value, dtype=np.float32):
    """A C-contiguous array of ``shape`` filled with ``value``, its first element on a 64-byte boundary."""
    array = _aligned_empty(shape, dtype)
    array.fill(value)
    return array


def aligned_zeros(shape, dtype=np.float32):
    return aligned_full(shape, 0, dtype)


def aligned_copy(values, dtype=np.float32):
    """``values`` as a new aligned C-contiguous array of ``dtype``."""
    values = np.asarray(values, dtype=dtype)
    array = _aligned_empty(values.shape, dtype)
    np.copyto(array, values)
    return array
