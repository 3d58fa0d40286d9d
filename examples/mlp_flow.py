"""The seed notebook's MLP flow: load the bundled Keras MLP, convert it, classify MNIST test images."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.cli import bundled_model_path  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
(x_train, _), (x_test, y_test) = load_mnist()
x, y = x_test[:samples].reshape(-1, 784) / 255.0, y_test[:samples]

# The reference's settings; its weight scaling is chosen by simulating 1,000 training images (never test ones)
conv = ANNtoSNNConverter(input_encoding="IB", hidden_neuron="IaF", read_out="spike_count")
calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:1000]].reshape(-1, 784) / 255.0
net = conv.load_keras_model(str(bundled_model_path("mlp")), calibration_data=calibration, show_info=True)
chosen = conv.calibration
print("chosen on calibration data:", f"model-based scale {chosen['model_scale']}" if chosen["raw_weight_gain"] is None
      else f"the Keras weights times {chosen['raw_weight_gain']:.3g}")
predictions = conv.predict(x, duration_per_sample=200)
print(f"SNN accuracy on {samples} test images: {100 * np.mean(np.array(predictions) == y):.2f} %")

result = conv.evaluate(x[:500], y[:500], 200, progress=False)
print(result)
