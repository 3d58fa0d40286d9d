"""Data sets from local files only: MNIST and user ``.npz`` files.

Nothing here ever downloads. ``load_mnist`` uses the full Keras copy of MNIST
when it is already in the local Keras cache, and otherwise the subset shipped
inside the package (``annsnn/data/mnist``: the 10,000-image test set and a
5,000-image training subset, 500 per class).
"""

from __future__ import annotations

import gzip
import os
import sys
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from annsnn.errors import DataError

# Magic numbers of the IDX format: 0x0000 + dtype code 0x08 (uint8) + ndim.
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension


def _keras_cache_file() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` keeps its download."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "mnist.npz"


def _bundled_dir():
    # importlib.resources rather than __file__, so an installed (even zipped) copy works.
    return resources.files("annsnn") / "data" / "mnist"


def mnist_source() -> str:
    """Return ``"keras-cache"`` or ``"bundled"``: the source ``load_mnist`` would use."""
    return "keras-cache" if _keras_cache_file().is_file() else "bundled"


def _read_idx(resource, magic: int, ndim: int) -> np.ndarray:
    """Parse one gzipped IDX file of uint8 values into an array."""
    if not resource.is_file():
        raise DataError(f"MNIST file not found: {resource}")
    try:
        with resource.open("rb") as raw, gzip.GzipFile(fileobj=raw) as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"cannot read MNIST file {resource}: {exc}") from exc
    header_len = 4 * (1 + ndim)
    if len(data) < header_len:
        raise DataError(f"malformed IDX file {resource}: only {len(data)} bytes")
    header = np.frombuffer(data, dtype=">u4", count=1 + ndim)
    if int(header[0]) != magic:
        raise DataError(f"malformed IDX file {resource}: magic number {int(header[0])}, expected {magic}")
    shape = tuple(int(n) for n in header[1:])
    if len(data) - header_len != int(np.prod(shape)):
        raise DataError(f"malformed IDX file {resource}: header says shape {shape} "
                        f"but {len(data) - header_len} data bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def _npz_arrays(source, keys, label, hint="") -> list:
    """Read ``keys`` from an .npz (path or Traversable); any failure becomes DataError."""
    try:
        with source.open("rb") as fh:
            if fh.read(4) != b"PK\x03\x04":  # else numpy reports "pickled data"
                raise DataError(f"{label} {source} is not an .npz (zip) archive")
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as npz:
                for k in keys:
                    if k not in npz.files:
                        raise DataError(f"{label} {source} has no array '{k}'{hint} "
                                        f"(it has: {', '.join(npz.files) or 'none'})")
                return [npz[k] for k in keys]
    except DataError:  # DataError is a ValueError: keep it from the clause below
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{label} not found: {source}") from exc
    except (OSError, ValueError, EOFError) as exc:  # not a zip / pickled objects / truncated
        raise DataError(f"cannot read {label} {source}: {exc}") from exc


def _load_bundled():
    d = _bundled_dir()
    x_train, y_train = _npz_arrays(d / "mnist-train-5k.npz", ["x_train", "y_train"], "MNIST file")
    x_test = _read_idx(d / "t10k-images-idx3-ubyte.gz", _IDX_IMAGES_MAGIC, 3)
    y_test = _read_idx(d / "t10k-labels-idx1-ubyte.gz", _IDX_LABELS_MAGIC, 1)
    return (x_train, y_train), (x_test, y_test), str(d)


def _load_keras_cache():
    path = _keras_cache_file()
    x_train, y_train, x_test, y_test = _npz_arrays(
        path, ["x_train", "y_train", "x_test", "y_test"], "Keras MNIST cache file")
    return (x_train, y_train), (x_test, y_test), str(path)


def load_mnist(verbose: bool = True):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras does.

    Images are uint8 arrays of shape (n, 28, 28) with values 0..255, labels
    uint8 arrays of shape (n,), exactly as ``keras.datasets.mnist.load_data()``
    returns them. The source is the full Keras cache file when present (60,000
    training images) and otherwise the bundled subset (5,000 training images,
    sorted by class: shuffle before training). The test set is the standard
    10,000 images either way. Nothing is downloaded.

    With ``verbose``, one line on stderr says which source was used.
    Raises ``DataError`` naming the file when one is missing or malformed.
    """
    if mnist_source() == "keras-cache":
        (x_train, y_train), (x_test, y_test), where = _load_keras_cache()
        name = "Keras cache"
    else:
        (x_train, y_train), (x_test, y_test), where = _load_bundled()
        name = "bundled subset"
    # Catch a damaged or foreign file here rather than deep inside a model.
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DataError(f"MNIST {part} arrays at {where} have unexpected shape/dtype: "
                            f"x {x.shape} {x.dtype}, y {y.shape} {y.dtype}")
    if verbose:
        print(f"annsnn: MNIST from {name} ({len(x_train):,} train / {len(x_test):,} test images) "
              f"at {where}", file=sys.stderr)
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))


def load_npz_dataset(path):
    """Load ``(x, y)`` from a user's ``.npz`` file.

    The file must hold arrays ``x`` and ``y``, or else ``x_test`` and ``y_test``;
    they are returned unchanged. Raises ``DataError`` naming the file (and the
    missing key) when the file is absent, unreadable or lacks an array, or when
    ``x`` and ``y`` differ in length.
    """
    path = Path(path)
    # Peek at the names first to choose between x/y and the Keras-style x_test/y_test.
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
    except FileNotFoundError as exc:
        raise DataError(f"data file not found: {path}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read data file {path} as .npz: {exc}") from exc
    if "x" not in names and "x_test" in names:
        keys, hint = ["x_test", "y_test"], ""
    else:
        keys, hint = ["x", "y"], " (or 'x_test'/'y_test')"
    x, y = _npz_arrays(path, keys, "data file", hint)
    if len(x) != len(y):
        raise DataError(f"data file {path}: '{keys[0]}' has {len(x)} samples but '{keys[1]}' has {len(y)}")
    return x, y
