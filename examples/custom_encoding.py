"""A custom input encoding written as equations: a regular (deterministic) rate code, used by the
converter in place of the built-in ones, on the bundled MLP."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402

import annsnn  # noqa: E402
from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.cli import bundled_model_path  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

# Integrate the pixel intensity (rates = pixel * max_f / 100 per step) and fire at 1: a spike train
# whose rate is exactly proportional to the intensity, with none of Poisson's noise.
regular = annsnn.Neuron(
    parameters="rates = 0.0",
    equations="dv/dt = rates / 100.0 : init=0.0",
    spike="v >= 1.0",
    reset="v -= 1.0",
    name="RegularRate",
)

(_, _), (x, y) = load_mnist(verbose=False)
x, y = x[:1000].reshape(-1, 784) / 255.0, y[:1000]
for encoding in ("CPN", regular):
    conv = ANNtoSNNConverter(input_encoding=encoding, seed=1)
    conv.load_keras_model(str(bundled_model_path("mlp")), show_info=False, scale_factor=8.0)
    accuracy = (np.array(conv.predict(x, 100, progress=False)) == y).mean()
    name = encoding if isinstance(encoding, str) else encoding.name
    print(f"{name:12s} input, 100 steps: {100 * accuracy:.2f} % on 1,000 test images")
