"""A CNN trained in PyTorch (benchmarks/train_pytorch_cnn.py) and exported to ONNX converts end to end."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

import annsnn  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "benchmarks" / "zoo" / "pytorch_mnist_cnn.onnx"


def test_pytorch_cnn_converts_close_to_its_ann():
    (x_train, _), (x_test, y_test) = load_mnist(verbose=False)
    calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:500]].reshape(-1, 28, 28, 1) / 255.0
    x, y = x_test[:300].reshape(-1, 28, 28, 1) / 255.0, y_test[:300]
    conv = annsnn.ANNtoSNNConverter(preset="annsnn")
    conv.load_model(MODEL, calibration_data=calibration, show_info=False)
    assert [p.kind for p in conv.plans] == ["input", "conv", "pool", "conv", "dense", "dense"]
    assert conv.plans[3].stride == (2, 2) and conv.plans[3].padding == ((1, 1), (1, 1))  # PyTorch's symmetric pad
    ann = conv.source.predict_classes(x)
    snn = np.array(conv.predict(x, duration_per_sample=32, progress=False))
    assert (ann == y).mean() > 0.93
    assert (snn == ann).mean() >= 0.97, (snn == ann).mean()
    assert abs((snn == y).mean() - (ann == y).mean()) <= 0.02
