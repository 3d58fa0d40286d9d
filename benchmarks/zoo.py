"""Train the model zoo for the fidelity benchmark: 8 small Keras architectures x 2 data sets, plus QCFS variants of 3.

    python benchmarks/zoo.py                                   # all 22 models
    python benchmarks/zoo.py --dataset mnist --arch cnn_max resnet
    python benchmarks/zoo.py --arch qcfs_mlp2_nobias qcfs_cnn_avg qcfs_vgg   # the QCFS variants only

One zoo of differently built networks (with/without biases, max/average pooling, BatchNorm,
strides, depth, residual Adds) shows where ANN-to-SNN conversion loses accuracy, which the two
reference models alone cannot. The qcfs_* variants (mlp2_nobias, cnn_avg, vgg trained with
annsnn.qcfs.QCFS(levels=4) in place of each hidden ReLU) show what conversion-aware training buys.
Writes benchmarks/zoo/<dataset>_<arch>.keras and benchmarks/results/zoo_train.json and prints a
table. Everything is seeded (keras.utils.set_random_seed(0)); CPU thread scheduling can still shift the last digit.

Data: MNIST is annsnn.datasets.load_mnist (the bundled 5,000-image training subset unless the
full Keras cache is present), each training image used with its 8 one-pixel shifts when the
training set is that small; Fashion-MNIST is the full 60k/10k set read from
../shared/data/fashion-mnist (IDX gz files). Both training sets are shuffled once with
numpy.random.default_rng(0); images [0:1000] of the shuffled set are the calibration split
(calibration_split()). Training uses every training image, so calibration overlaps training,
never the 10,000-image test set, which is used for test accuracy only.
"""

import argparse
import functools
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the table

ROOT = Path(__file__).resolve().parents[1]
# After site-packages: the benchmarks package comes from the checkout, annsnn from the installed package
# (the checkout's annsnn/ lacks annsnn.codegen, which only installing maps; spawned Dask workers inherit sys.path).
sys.path.append(str(ROOT))

import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

from annsnn.datasets import load_mnist, mnist_source  # noqa: E402
from annsnn.qcfs import QCFS  # noqa: E402
from benchmarks.train_models import build_cnn  # noqa: E402

ZOO_DIR = ROOT / "benchmarks" / "zoo"
RESULTS = ROOT / "benchmarks" / "results" / "zoo_train.json"
FASHION_DIR = ROOT.parent / "shared" / "data" / "fashion-mnist"
DATASETS = ("mnist", "fashion-mnist")
SEED = 0
CALIBRATION = 1000  # shuffled training images [0:1000]
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
BATCH, LR = 128, 1e-3  # Adam, cosine-decayed over the run
# BatchNorm moving-statistics momentum. Keras' 0.99 keeps ~3 % of the initial variance of 1 after
# the ~400 steps of a one-epoch run, several times the true variance (~0.03): inference accuracy
# fell to 68 % (cnn_bn_stride) and 21 % (resnet) on MNIST while training-mode accuracy was 99 %.
BN_MOMENTUM = 0.9


# ---------------------------------------------------------------- data

def _read_idx_gz(path, header):
    """uint8 payload of a gzipped IDX file (16-byte header for images, 8 for labels)."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def _load_fashion():
    if not FASHION_DIR.is_dir():
        raise FileNotFoundError(f"Fashion-MNIST not found: expected the IDX .gz files in {FASHION_DIR}")
    part = lambda name, header: _read_idx_gz(FASHION_DIR / name, header)  # noqa: E731
    x_train = part("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    x_test = part("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    y_train, y_test = part("train-labels-idx1-ubyte.gz", 8), part("t10k-labels-idx1-ubyte.gz", 8)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"Fashion-MNIST files in {FASHION_DIR} disagree on image and label counts")
    return (x_train, y_train), (x_test, y_test)


def load_dataset(name):
    """(x_train, y_train), (x_test, y_test): float32 in [0, 1], shape (n, 28, 28, 1), int64 labels.

    The training set comes shuffled with default_rng(0) (the bundled MNIST subset is sorted by
    class), so its first 1,000 images are the calibration split; the test set is in file order.
    """
    if name == "mnist":
        train, test = load_mnist(verbose=False)
    elif name == "fashion-mnist":
        train, test = _load_fashion()
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    order = np.random.default_rng(SEED).permutation(len(train[0]))
    scale = lambda x: (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)  # noqa: E731
    return ((scale(train[0][order]), train[1][order].astype(np.int64)),
            (scale(test[0]), test[1].astype(np.int64)))


def calibration_split(name):
    """(x, y) of the 1,000 calibration images: shuffled training images [0:1000], never test images."""
    (x_train, y_train), _ = load_dataset(name)
    return x_train[:CALIBRATION], y_train[:CALIBRATION]


def model_path(dataset, arch):
    return ZOO_DIR / f"{dataset}_{arch}.keras"


# ---------------------------------------------------------------- architectures
# Only layers annsnn's converter supports; every hidden activation ReLU (QCFS in the qcfs_*
# variants), softmax Dense(10) output.
#
# Builders with an `act` argument take an activation factory: act(name=...) returns a Keras layer
# applied after a linear Dense/Conv2D. act=None (the default) is the ReLU built into the
# Dense/Conv2D (activation="relu"), exactly the layers the committed ReLU models were trained with.

# QCFS_CEILING: the initial ceiling of every QCFS layer. Adam at 1e-3 moves a ceiling by only about
# 0.001 a step, so the initial value largely stays; the committed ReLU models' activations are ~1 in
# the first convs and ~5-15 in dense_1. A 6,400-image pilot on Fashion-MNIST (cnn_avg): ceiling 4
# left the network untrained (9 % test accuracy: with 4 levels the first convs' small activations
# round to 0), ceiling 2 trained (62 %, ReLU 68 %); vgg at 2 and 1 alike (57 %, 59 %; ReLU 70 %).
QCFS_LEVELS, QCFS_CEILING = 4, 2.0
qcfs_act = functools.partial(QCFS, levels=QCFS_LEVELS, initial_ceiling=QCFS_CEILING)  # factory for qcfs_*


def _input():
    return keras.Input(shape=(28, 28, 1), name="input")


def _hidden(layer_cls, x, act, name, *args, **kwargs):
    """A hidden Dense/Conv2D `name` on x with a ReLU built in (act None), or linear and then act(name=name_act)."""
    if act is None:
        return layer_cls(*args, activation="relu", name=name, **kwargs)(x)
    x = layer_cls(*args, name=name, **kwargs)(x)
    return act(name=f"{name}_act")(x)


def mlp2_nobias(act=None, name="mlp2_nobias"):
    """The reference MLP's shape on image input: no biases, light dropout."""
    inp = _input()
    x = layers.Flatten(name="flatten")(inp)
    for i in (1, 2):
        x = _hidden(layers.Dense, x, act, f"dense_{i}", 128, use_bias=False)
        x = layers.Dropout(0.2, name=f"dropout_{i}")(x)
    out = layers.Dense(10, use_bias=False, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name=name)


def mlp4_bias():
    """A deeper MLP with biases: error accumulates over 4 spiking layers."""
    inp = _input()
    x = layers.Flatten(name="flatten")(inp)
    for i, units in enumerate((256, 128, 64), start=1):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
    out = layers.Dense(10, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="mlp4_bias")


def seed_cnn():
    """benchmarks/train_models.py build_cnn(), unchanged: the seed CNN (5x5 convs, no biases)."""
    return build_cnn()


def _small_cnn(pool, name, act=None):
    inp = _input()
    x = inp
    for i, filters in enumerate((16, 32), start=1):
        x = _hidden(layers.Conv2D, x, act, f"conv_{i}", filters, 3, padding="same")
        x = pool(2, name=f"pool_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = _hidden(layers.Dense, x, act, "dense_1", 64)
    out = layers.Dense(10, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name=name)


def cnn_max():
    """Small CNN with biases and max-pooling (a spiking max is approximated)."""
    return _small_cnn(layers.MaxPooling2D, "cnn_max")


def cnn_avg(act=None, name="cnn_avg"):
    """cnn_max with average pooling (linear, so exact in spikes): isolates the pooling effect."""
    return _small_cnn(layers.AveragePooling2D, name, act)


def cnn_bn_stride():
    """Strided convs instead of pooling, BatchNorm folded into each conv on conversion."""
    inp = _input()
    x = inp
    for i, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"conv_{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(10, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="cnn_bn_stride")


def vgg(act=None, name="vgg"):
    """VGG-style: 6 convs in 3 pairs, the deepest plain chain in the zoo."""
    inp = _input()
    x = inp
    for b, filters in enumerate((16, 32, 64), start=1):
        for j in (1, 2):
            x = _hidden(layers.Conv2D, x, act, f"conv_{b}_{j}", filters, 3, padding="same")
        x = layers.MaxPooling2D(2, name=f"pool_{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = _hidden(layers.Dense, x, act, "dense_1", 64)
    out = layers.Dense(10, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name=name)


def _res_block(x, filters, stride, name):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn2")(y)
    if stride != 1:  # projection shortcut to the new shape
        x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_proj")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(x)
    x = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_relu2")(x)


def resnet():
    """Small ResNet: Add joins (identity and 1x1 projection shortcuts) and global average pooling."""
    inp = _input()
    x = layers.Conv2D(16, 3, padding="same", name="stem_conv")(inp)
    x = layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate(((16, 1), (32, 2), (64, 2)), start=1):
        x = _res_block(x, filters, stride, f"block{i}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(10, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="resnet")


# Conversion-aware training (Bu et al., ICLR 2022): the same networks with every hidden ReLU
# replaced by a QCFS(levels=4) layer after a linear Dense/Conv2D; its trained ceiling becomes the
# layer's threshold on conversion.

def qcfs_mlp2_nobias():
    """mlp2_nobias with QCFS(levels=4) for every hidden ReLU: conversion-aware training, trained ceilings."""
    return mlp2_nobias(act=qcfs_act, name="qcfs_mlp2_nobias")


def qcfs_cnn_avg():
    """cnn_avg with QCFS(levels=4) for every hidden ReLU: conversion-aware training, trained ceilings."""
    return cnn_avg(act=qcfs_act, name="qcfs_cnn_avg")


def qcfs_vgg():
    """vgg with QCFS(levels=4) for every hidden ReLU: conversion-aware training, trained ceilings."""
    return vgg(act=qcfs_act, name="qcfs_vgg")


ARCHS = {f.__name__: f for f in (mlp2_nobias, mlp4_bias, seed_cnn, cnn_max, cnn_avg,
                                 cnn_bn_stride, vgg, resnet,
                                 qcfs_mlp2_nobias, qcfs_cnn_avg, qcfs_vgg)}
DESCRIPTIONS = {name: f.__doc__.splitlines()[0] for name, f in ARCHS.items()}

# Epochs per data set, chosen from a timed epoch of each model on 2 shared CPU cores (60k images:
# MLPs ~7 s, cnn_max/avg ~45 s, seed_cnn ~100 s, cnn_bn_stride ~80 s, vgg ~140 s, resnet ~200 s)
# so that the 16 models train in about 25 minutes (measured: 23 min of fit, 26 min in all).
# MNIST epochs are over the 45,000 shifted images. The time budget, not convergence, sets these.
# The 3 QCFS variants were given ~15 minutes for all 6 models, trained while another benchmark shared
# the 2 cores (a QCFS epoch took about 1.5-2x the ReLU model's uncontended time), hence fewer
# epochs than their ReLU twins for the MLP and Fashion-MNIST cnn_avg.
EPOCHS = {
    "mnist": dict(mlp2_nobias=10, mlp4_bias=10, seed_cnn=1, cnn_max=2, cnn_avg=2,
                  cnn_bn_stride=1, vgg=1, resnet=1,
                  qcfs_mlp2_nobias=6, qcfs_cnn_avg=2, qcfs_vgg=1),
    "fashion-mnist": dict(mlp2_nobias=8, mlp4_bias=8, seed_cnn=1, cnn_max=3, cnn_avg=3,
                          cnn_bn_stride=1, vgg=1, resnet=1,
                          qcfs_mlp2_nobias=5, qcfs_cnn_avg=2, qcfs_vgg=1),
}


# ---------------------------------------------------------------- training

def _augment(x, y):
    """The image plus its 8 one-pixel shifts (np.roll wraps; the 28x28 sets have blank borders)."""
    x = np.concatenate([np.roll(x, (dy, dx), axis=(1, 2)) for dy, dx in SHIFTS])
    y = np.tile(y, len(SHIFTS))
    order = np.random.default_rng(SEED).permutation(len(x))
    return x[order], y[order]


def train(dataset, arch, data):
    """Train one model, save an uncompiled copy, and score the saved file on the full test set."""
    (x_train, y_train), (x_test, y_test) = data
    shifted = dataset == "mnist" and len(x_train) <= 10_000  # only the small bundled subset
    if shifted:
        x_train, y_train = _augment(x_train, y_train)
    epochs = EPOCHS[dataset][arch]
    keras.utils.set_random_seed(SEED)  # Python, NumPy and TensorFlow seeds in one go
    model = ARCHS[arch]()
    lr = keras.optimizers.schedules.CosineDecay(LR, decay_steps=epochs * -(-len(x_train) // BATCH))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    print(f"training {dataset}_{arch}: {len(x_train):,} images x {epochs} epochs ...", flush=True)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    # Uncompiled copy: a compiled .keras also stores Adam's slots (3x the file).
    path = model_path(dataset, arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    export = ARCHS[arch]()
    export.set_weights(model.get_weights())
    export.save(path)
    reloaded = keras.models.load_model(path, compile=False)
    acc = float(np.mean(reloaded.predict(x_test, batch_size=500, verbose=0).argmax(axis=1) == y_test))
    print(f"  {seconds:.0f} s, test accuracy {acc:.2%}", flush=True)
    return {
        "dataset": dataset, "arch": arch, "params": int(model.count_params()), "epochs": epochs,
        "batch_size": BATCH, "optimizer": f"Adam, lr {LR:g} cosine decay",
        "train_images": int(len(data[0][0])), "shifted_copies": shifted,
        "test_images": int(len(x_test)), "train_seconds": round(seconds, 1),
        "test_accuracy": round(acc, 4), "description": DESCRIPTIONS[arch],
        "file": str(path.relative_to(ROOT)), "file_bytes": path.stat().st_size,
    }


def save_results(rows):
    """Merge rows into zoo_train.json, keeping the entries of models not retrained this time."""
    key = lambda r: (r["dataset"], r["arch"])  # noqa: E731
    previous = {}
    if RESULTS.exists():
        previous = {key(r): r for r in json.loads(RESULTS.read_text()).get("models", [])}
    previous.update({key(r): r for r in rows})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "mnist_source": mnist_source(), "seed": SEED,
        "calibration": f"shuffled (default_rng({SEED})) training images [0:{CALIBRATION}]",
        "keras": keras.__version__, "backend": keras.backend.backend(),
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "models": [previous[(d, a)] for d in DATASETS for a in ARCHS if (d, a) in previous],
    }, indent=2) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, action="append",
                        help="data set to train on (repeatable; default both)")
    parser.add_argument("--arch", choices=list(ARCHS), nargs="+", help="architectures (default all)")
    args = parser.parse_args(argv)
    datasets, archs = args.dataset or list(DATASETS), args.arch or list(ARCHS)
    print(f"MNIST source: {mnist_source()}; keras {keras.__version__}, backend {keras.backend.backend()}")

    rows, start = [], time.perf_counter()
    for dataset in datasets:
        data = load_dataset(dataset)
        for arch in archs:
            rows.append(train(dataset, arch, data))
            save_results(rows)  # after each model, so an interrupted run keeps what it trained
    total = time.perf_counter() - start

    print(f"\n{'model':<28} {'params':>8} {'epochs':>6} {'train s':>8} {'test acc':>9} {'file KB':>8}")
    for r in rows:
        print(f"{r['dataset'] + '_' + r['arch']:<28} {r['params']:>8,} {r['epochs']:>6} "
              f"{r['train_seconds']:>8.1f} {r['test_accuracy']:>9.2%} {r['file_bytes'] / 1024:>8.0f}")
    print(f"total {total:.0f} s; wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
