"""The bundled Keras models, written as ONNX (examples/keras_to_onnx.py), convert to the same network."""
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("keras")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import annsnn  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402
from keras_to_onnx import export  # noqa: E402

MODELS = Path(annsnn.__file__).resolve().parent / "data" / "models"


@pytest.mark.parametrize("name, samples", [("mlp", 300), ("cnn", 40)])
def test_keras_and_onnx_paths_give_identical_predictions(name, samples, tmp_path):
    from annsnn.conversion.keras_model import load_keras
    keras_model = load_keras(MODELS / f"{name}.keras")
    path = tmp_path / f"{name}.onnx"
    export(keras_model, path)
    (x_train, _), (x_test, y_test) = load_mnist()
    shape = (-1, 28, 28, 1) if name == "cnn" else (-1, 784)
    x_cal, x = x_train[::25].reshape(shape) / 255.0, x_test[:samples].reshape(shape) / 255.0
    via_keras, via_onnx = annsnn.ANNtoSNNConverter(preset="annsnn"), annsnn.ANNtoSNNConverter(preset="annsnn")
    via_keras.load_keras_model(keras_model, calibration_data=x_cal, show_info=False)
    via_onnx.load_model(path, calibration_data=x_cal, show_info=False)
    for a, b in zip(via_keras.plans[1:], via_onnx.plans[1:]):
        assert a.kind == b.kind and a.shape == b.shape
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6, atol=1e-7) if a.weights is not None else None
    keras_pred = via_keras.predict(x, duration_per_sample=32, progress=False)
    onnx_pred = via_onnx.predict(x, duration_per_sample=32, progress=False)
    assert keras_pred == onnx_pred
    assert np.mean(np.array(onnx_pred) == y_test[:samples]) > 0.9
