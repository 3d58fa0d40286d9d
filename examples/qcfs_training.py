"""Conversion-aware training: put annsnn's QCFS activation where ReLU would go, train as usual, and
the converted SNN follows the ANN within a few time steps.

    python examples/qcfs_training.py [EPOCHS] [TEST_SAMPLES]

Trains a small CNN on the bundled MNIST training subset (5,000 images) with QCFS(levels=4)
activations, converts it with the recommended preset (the trained ceilings become the layers'
thresholds, membranes start at half threshold) and compares it with the ANN at 1 to 16 steps.
"""
import sys

import numpy as np

from annsnn import ANNtoSNNConverter
from annsnn.conversion.keras_model import import_keras
from annsnn.datasets import load_mnist
from annsnn.qcfs import QCFS

keras = import_keras()
layers = keras.layers
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000

(x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
order = np.random.default_rng(0).permutation(len(x_train))  # the bundled subset is sorted by class
x_train, y_train = (x_train[order] / 255.0).reshape(-1, 28, 28, 1).astype("float32"), y_train[order]
x_test, y_test = (x_test[:samples] / 255.0).reshape(-1, 28, 28, 1).astype("float32"), y_test[:samples]

keras.utils.set_random_seed(0)
inputs = keras.Input(shape=(28, 28, 1))
x = QCFS(levels=4)(layers.Conv2D(16, 3, padding="same")(inputs))  # QCFS in place of ReLU
x = layers.AveragePooling2D(2)(x)
x = QCFS(levels=4)(layers.Conv2D(32, 3, padding="same")(x))
x = layers.AveragePooling2D(2)(x)
x = QCFS(levels=4)(layers.Dense(64)(layers.Flatten()(x)))
model = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
ann = model.predict(x_test, verbose=0).argmax(1)
print(f"ANN (QCFS, 4 levels) accuracy on {len(y_test)} test images: {100 * np.mean(ann == y_test):.2f} %")
print("trained ceilings:", ", ".join(f"{float(l.ceiling.numpy()):.3f}" for l in model.layers if isinstance(l, QCFS)))

conv = ANNtoSNNConverter(preset="annsnn", seed=1)
conv.load_keras_model(model, show_info=False, calibration_data=x_train[:1000])  # training images only
result = conv.evaluate(x_test, y_test, 16, progress=False)
for steps in (1, 2, 4, 8, 16):
    print(f"SNN at {steps:2d} steps: {100 * result.accuracy_curve[steps - 1]:.2f} %")
