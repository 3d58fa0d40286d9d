"""The seed notebook's CNN flow: three conv/max-pool blocks converted with event-driven convolutions."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.cli import bundled_model_path  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 500
(_, _), (x_test, y_test) = load_mnist()
x, y = (x_test[:samples] / 255.0).reshape(-1, 28, 28, 1), y_test[:samples]

conv = ANNtoSNNConverter(input_encoding="IB", read_out="spike_count")
conv.load_keras_model(str(bundled_model_path("cnn")), show_info=True, scale_factor=[2, 3, 4, 5, 6, 7, 8])
predictions = np.array(conv.predict(x, duration_per_sample=200))
print(f"SNN accuracy on {samples} test images: {100 * np.mean(predictions == y):.2f} %")

# The recommended pipeline (analog input, reset by subtraction, robust normalisation, half-threshold
# start, bias calibration, same-step events, membrane read-out), calibrated on training images, 32 steps
(x_train, _), _ = load_mnist(verbose=False)
better = ANNtoSNNConverter(preset="annsnn")
better.load_keras_model(str(bundled_model_path("cnn")), show_info=False,
                        calibration_data=(x_train[::5] / 255.0).reshape(-1, 28, 28, 1))
predictions = np.array(better.predict(x, duration_per_sample=32, progress=False))
print(f"preset 'annsnn', 32 steps: {100 * np.mean(predictions == y):.2f} %")
