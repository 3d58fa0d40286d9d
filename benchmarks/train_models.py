"""Train the reference Keras models that annsnn ships, on the MNIST data it ships.

    python benchmarks/train_models.py              # every model
    python benchmarks/train_models.py --model mlp  # or cnn, cnn_bn

mlp and cnn are the reference models (no biases); cnn_bn is the seed CNN with biases and
BatchNormalization, for the conversion features the reference lacks.
Writes annsnn/data/models/{mlp,cnn,cnn_bn}.keras and benchmarks/results/train_models.json,
and prints a table of parameters, epochs, training time and test accuracy on the
full 10,000-image MNIST test set. Uses annsnn.datasets, so it trains on the bundled
5,000-image subset unless the full Keras MNIST cache is present (the JSON records
which; with the 60,000-image cache training takes about 12 times longer). Each
training image is used with its 8 one-pixel shifts. Everything is seeded; CPU thread
scheduling can still shift the last digit. About 5 minutes on 2 CPU cores.
"""

import argparse
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

MODELS_DIR = ROOT / "annsnn" / "data" / "models"
RESULTS = ROOT / "benchmarks" / "results" / "train_models.json"
SEED = 0


def build_mlp():
    """The reference MLP: 784-128-128-10, no biases (simpler to convert to spikes)."""
    inp = keras.Input(shape=(784,), name="input")
    x = layers.Dense(128, use_bias=False, activation="relu", name="dense_1")(inp)
    x = layers.Dropout(0.5, name="dropout_1")(x)
    x = layers.Dense(128, use_bias=False, activation="relu", name="dense_2")(x)
    x = layers.Dropout(0.5, name="dropout_2")(x)
    out = layers.Dense(10, use_bias=False, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="mlp")


def build_cnn():
    """The seed CNN: three 5x5 conv + 2x2 max-pool blocks (16, 64, 64 filters), then softmax."""
    inp = keras.Input(shape=(28, 28, 1), name="input")
    x = inp
    for i, filters in enumerate((16, 64, 64), start=1):
        x = layers.Conv2D(filters, (5, 5), padding="same", use_bias=False,
                          activation="relu", name=f"conv_{i}")(x)
        x = layers.MaxPooling2D((2, 2), name=f"pool_{i}")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(10, use_bias=False, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="cnn")


def build_cnn_bn():
    """The seed CNN with biases and BatchNormalization (folded into the convolutions on conversion)."""
    inp = keras.Input(shape=(28, 28, 1), name="input")
    x = inp
    for i, filters in enumerate((16, 64, 64), start=1):
        x = layers.Conv2D(filters, (5, 5), padding="same", use_bias=True, name=f"conv_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
        x = layers.MaxPooling2D((2, 2), name=f"pool_{i}")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(10, use_bias=True, activation="softmax", name="dense_out")(x)
    return keras.Model(inp, out, name="cnn_bn")


# Hyper-parameters from a small sweep on this data (lr, momentum, batch, epochs, with or
# without shifted copies). Both use a cosine-decayed learning rate over the whole run.
CONFIGS = {
    "mlp": dict(build=build_mlp, shape=(784,), epochs=15, batch_size=32, lr=0.01,
                optimizer=lambda lr: keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
                optimizer_desc="SGD(momentum=0.9), lr 0.01 cosine decay"),
    "cnn": dict(build=build_cnn, shape=(28, 28, 1), epochs=6, batch_size=32, lr=1e-3,
                optimizer=lambda lr: keras.optimizers.Adam(learning_rate=lr),
                optimizer_desc="Adam, lr 1e-3 cosine decay"),
    "cnn_bn": dict(build=build_cnn_bn, shape=(28, 28, 1), epochs=4, batch_size=32, lr=1e-3,
                   optimizer=lambda lr: keras.optimizers.Adam(learning_rate=lr),
                   optimizer_desc="Adam, lr 1e-3 cosine decay"),
}
# Each training image plus its 8 one-pixel shifts: 45,000 images from 5,000. On the
# bundled subset this lifts test accuracy by ~2.5 points (MLP) and ~0.6 (CNN).
SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]


def prepare(shape):
    """Float32 data in [0, 1], in the model's input shape; training set augmented and shuffled."""
    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    # np.roll wraps a pixel column/row round the edge; MNIST's 4-pixel borders are blank.
    x_train = np.concatenate([np.roll(x_train, (dy, dx), axis=(1, 2)) for dy, dx in SHIFTS])
    y_train = np.tile(y_train, len(SHIFTS))
    # The bundled subset is sorted by class: shuffle once with a fixed seed.
    order = np.random.default_rng(SEED).permutation(len(x_train))
    x_train, y_train = x_train[order], y_train[order]
    scale = lambda x: (x.astype("float32") / 255.0).reshape((len(x),) + shape)  # noqa: E731
    return (scale(x_train), y_train), (scale(x_test), y_test)


def train(name):
    cfg = CONFIGS[name]
    keras.utils.set_random_seed(SEED)  # Python, NumPy and TensorFlow seeds in one go
    (x_train, y_train), (x_test, y_test) = prepare(cfg["shape"])
    model = cfg["build"]()
    steps = cfg["epochs"] * -(-len(x_train) // cfg["batch_size"])
    lr = keras.optimizers.schedules.CosineDecay(cfg["lr"], decay_steps=steps)
    model.compile(optimizer=cfg["optimizer"](lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    print(f"training {name}: {len(x_train):,} images x {cfg['epochs']} epochs ...", flush=True)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=cfg["batch_size"], epochs=cfg["epochs"],
              shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    path = MODELS_DIR / f"{name}.keras"
    # Save an uncompiled copy: a compiled model's .keras also stores the optimizer's
    # slots (Adam: 2 per weight), tripling the file; a compiled one without them warns
    # on every load. The converter needs only the graph and the weights.
    export = cfg["build"]()
    export.set_weights(model.get_weights())
    export.save(path)
    # Score the file as saved, so the reported accuracy is the shipped model's.
    reloaded = keras.models.load_model(path)
    predicted = reloaded.predict(x_test, batch_size=500, verbose=0).argmax(axis=1)
    acc = float(np.mean(predicted == y_test))
    return {
        "model": name, "params": int(model.count_params()), "epochs": cfg["epochs"],
        "batch_size": cfg["batch_size"], "optimizer": cfg["optimizer_desc"],
        "train_images": int(len(x_train) // len(SHIFTS)), "augmented_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "train_seconds": round(seconds, 1), "test_accuracy": round(float(acc), 4),
        "file": str(path.relative_to(ROOT)), "file_bytes": path.stat().st_size,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*CONFIGS, "all"], default="all")
    args = parser.parse_args(argv)
    names = list(CONFIGS) if args.model == "all" else [args.model]
    print(f"MNIST source: {mnist_source()}; keras {keras.__version__}, backend {keras.backend.backend()}")

    rows = [train(name) for name in names]

    print(f"\n{'model':<6} {'params':>8} {'epochs':>6} {'train s':>8} {'test acc':>9} {'file KB':>8}")
    for r in rows:
        print(f"{r['model']:<6} {r['params']:>8,} {r['epochs']:>6} {r['train_seconds']:>8.1f} "
              f"{r['test_accuracy']:>9.2%} {r['file_bytes'] / 1024:>8.0f}")

    # Keep the other model's entry when only one is retrained.
    previous = {}
    if RESULTS.exists():
        previous = {r["model"]: r for r in json.loads(RESULTS.read_text()).get("models", [])}
    previous.update({r["model"]: r for r in rows})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "mnist_source": mnist_source(), "seed": SEED, "keras": keras.__version__,
        "backend": keras.backend.backend(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "models": [previous[n] for n in CONFIGS if n in previous],
    }, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
