"""Train a small PyTorch CNN on the bundled MNIST training subset and export it to ONNX.

    python3 -m venv benchmarks/.peers/torch
    benchmarks/.peers/torch/bin/pip install "torch==2.13.0+cpu" onnx
    benchmarks/.peers/torch/bin/python benchmarks/train_pytorch_cnn.py

Writes benchmarks/zoo/pytorch_mnist_cnn.onnx, the model tests/test_onnx_pytorch.py converts end to end.
The network is what a PyTorch user writes: Conv2d with padding, a strided Conv2d, BatchNorm2d, ReLU,
MaxPool2d, Flatten of an NCHW tensor, Linear layers with biases, Dropout. Training sees only the
bundled 5,000 training images (never the test set); CI never runs this script (no torch there).
"""
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "zoo" / "pytorch_mnist_cnn.onnx"


def model():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),            # 28 -> 14
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),  # 14 -> 7
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))


def main(epochs=6, seed=0):
    torch.manual_seed(seed)
    with np.load(ROOT / "annsnn" / "data" / "mnist" / "mnist-train-5k.npz") as data:
        x, y = data["x_train"].astype(np.float32) / 255.0, data["y_train"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))  # the file is sorted by class
    x, y = torch.from_numpy(x[order][:, None]), torch.from_numpy(y[order])
    net = model()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    started = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for start in range(0, len(x), 64):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(net(x[start:start + 64]), y[start:start + 64])
            loss.backward()
            optimiser.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}", flush=True)
    net.eval()
    with torch.no_grad():
        train_accuracy = float((net(x).argmax(1) == y).float().mean())
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), str(OUT), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    info = dict(torch=torch.__version__, epochs=epochs, seed=seed, train_accuracy=train_accuracy,
                seconds=round(time.perf_counter() - started, 1), file=str(OUT.relative_to(ROOT)),
                bytes=OUT.stat().st_size)
    (ROOT / "benchmarks" / "results" / "train_pytorch_cnn.json").write_text(json.dumps(info, indent=1))
    print(info)


if __name__ == "__main__":
    main()
