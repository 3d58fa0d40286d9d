"""The PyTorch CNN (benchmarks/train_pytorch_cnn.py, exported to ONNX) converted by annsnn on the 10,000
MNIST test images: ANN accuracy (onnx's reference evaluator), SNN accuracy at 32 steps (preset 'annsnn',
calibrated on 1,000 bundled training images), agreement, samples/s.

    python benchmarks/pytorch_cnn_onnx.py      # writes benchmarks/results/pytorch_cnn_onnx.json
"""
import json
import time
from pathlib import Path

import numpy as np

import annsnn
from annsnn.datasets import load_mnist

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "benchmarks" / "zoo" / "pytorch_mnist_cnn.onnx"


def main(steps=32):
    (x_train, _), (x_test, y_test) = load_mnist(verbose=False)
    calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:1000]].reshape(-1, 28, 28, 1) / 255.0
    x = x_test.reshape(-1, 28, 28, 1) / 255.0
    conv = annsnn.ANNtoSNNConverter(preset="annsnn")
    conv.load_model(MODEL, calibration_data=calibration, show_info=False)
    started = time.perf_counter()
    ann = conv.source.predict_classes(x)
    ann_seconds = time.perf_counter() - started
    started = time.perf_counter()
    snn = np.array(conv.predict(x, duration_per_sample=steps, progress=False))
    snn_seconds = time.perf_counter() - started
    result = dict(ann=float((ann == y_test).mean()), snn=float((snn == y_test).mean()),
                  agreement=float((snn == ann).mean()), steps=steps, samples_per_s=len(x) / snn_seconds,
                  ann_reference_evaluator_s=ann_seconds)
    print(result)
    (ROOT / "benchmarks" / "results" / "pytorch_cnn_onnx.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
