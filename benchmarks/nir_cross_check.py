"""Cross-check annsnn's NIR export in a PyTorch-based NIR importer (sinabs), outside CI.

    python benchmarks/nir_cross_check.py [--samples 1000] [--steps 64]

annsnn converts the bundled MLP (preset 'annsnn' with a spike-count read-out, so that every neuron node
is an IF node), writes it with export_nir, and classifies the first test images. sinabs (installed by
this script from PyPI with torch's CPU wheel into benchmarks/.peers/torch; never by CI) reads the same
file with sinabs.from_nir and classifies the same images, fed as the same constant input currents
every step. Reports both accuracies and their agreement; writes benchmarks/results/nir_cross_check.json.

Known differences, which the agreement measures: sinabs' IF (IAFSqueeze) may emit several spikes in
one step (MultiSpike), floors the membrane at -v_threshold, and starts it at 0 (annsnn's node metadata
v0 = threshold / 2 is not read); annsnn emits at most one spike per step and neuron.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benchmarks" / ".peers" / "torch"
#: sinabs 3.1.3 builds its graph through nirtorch 1.x, which fails on nir 1.0.8's type inference; with
#: nir 1.0.4 it works, but that reader knows no IF.v_reset: the worker drops all-zero v_reset fields.
PACKAGES = ["torch==2.13.0+cpu", "sinabs", "nir==1.0.4", "nirtorch<2"]


def peer_python():
    python = PEER / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return python


def sinabs_worker(args):
    """Runs in the peer's environment: sinabs classifies x (N, 784) over ``steps`` steps."""
    import nir
    import sinabs
    import torch
    import h5py
    x = np.load(args.x)
    with h5py.File(args.nir, "r+") as f:  # NIR 1.0.4 has no v_reset (zero, its implied value)
        for node in f["node"]["nodes"].values():
            if "v_reset" in node and not np.any(node["v_reset"][()]):
                del node["v_reset"]
    model = sinabs.from_nir(nir.read(args.nir), batch_size=len(x))
    inputs = torch.tensor(np.repeat(x[:, None, :], args.steps, axis=1).reshape(len(x) * args.steps, -1),
                          dtype=torch.float32)
    with torch.no_grad():
        out = model(inputs)
        out = out[0] if isinstance(out, tuple) else out  # nirtorch's executor returns (output, state)
        out = out.reshape(len(x), args.steps, -1).sum(1).numpy()
    np.save(args.out, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("nir", "x", "out"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return sinabs_worker(args)

    import annsnn
    from annsnn.cli import bundled_model_path
    from annsnn.datasets import load_mnist
    (x_train, _), (x_test, y_test) = load_mnist(verbose=False)
    calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:1000]].reshape(-1, 784) / 255.0
    x, y = x_test[:args.samples].reshape(-1, 784) / 255.0, y_test[:args.samples]
    conv = annsnn.ANNtoSNNConverter(preset="annsnn", read_out="spike_count", seed=1)
    conv.load_keras_model(str(bundled_model_path("mlp")), calibration_data=calibration, show_info=False)
    ours = np.array(conv.predict(x, duration_per_sample=args.steps, progress=False))
    with tempfile.TemporaryDirectory() as work:
        path, inputs, out = Path(work) / "mlp.nir", Path(work) / "x.npy", Path(work) / "counts.npy"
        annsnn.export_nir(conv, path)
        np.save(inputs, (x * conv.input_scale).astype(np.float32))
        subprocess.run([str(peer_python()), __file__, "--worker", "--nir", str(path), "--x", str(inputs),
                        "--steps", str(args.steps), "--out", str(out)], check=True)
        counts = np.load(out)
    theirs = counts.argmax(1)
    result = dict(samples=len(x), steps=args.steps, annsnn_accuracy=float((ours == y).mean()),
                  sinabs_accuracy=float((theirs == y).mean()), agreement=float((ours == theirs).mean()),
                  sinabs_silent_samples=int((counts.sum(1) == 0).sum()))
    print(json.dumps(result, indent=1))
    (ROOT / "benchmarks" / "results" / "nir_cross_check.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
