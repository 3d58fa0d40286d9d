"""Side by side with ANNarchy 5's converter on the zoo models both can run (no bias; Dense, Conv2D, pooling).

    python benchmarks/annarchy_side_by_side.py                  # installs the peer on first use, then runs
    python benchmarks/annarchy_side_by_side.py --mlp-samples 1000 --cnn-samples 200

The peer is installed from PyPI into its own virtual environment (benchmarks/.peers/annarchy, ignored by
git; never by CI): ANNarchy 5.0.4.1 and the TensorFlow this environment has. For each model and input
encoding (CPN, IB) both converters classify the same first test images for 200 steps with the reference
settings (IaF, spike count, model-based normalisation): ANNarchy as it is, annsnn's "reference" preset
without and with calibration (its weight scaling, and for CNNs whether convolution and pooling layers get
spikes or ANNarchy's trace of them, chosen on zoo.calibration_split(), training images only), and with
calibration and conv_trace=True (the trace forced, as ANNarchy's converter always uses it).
--reuse-annarchy takes ANNarchy's figures from an earlier run's JSON (its CNNs take about 2 s per image);
the committed JSON joins two runs by hand (see its note), a new run writes this script's own layout.
ANNarchy runs in a subprocess of its own environment; speeds are measured in the same run, so their ratio
is what to read (the machine is noisy). Writes benchmarks/results/annarchy_side_by_side.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
# After site-packages: the benchmarks package comes from the checkout, annsnn from the installed package.
sys.path.append(str(ROOT))

import numpy as np  # noqa: E402

PEER_DIR = ROOT / "benchmarks" / ".peers" / "annarchy"
PEER_PACKAGE = "ANNarchy==5.0.4.1"
RESULTS = ROOT / "benchmarks" / "results" / "annarchy_side_by_side.json"
#: Zoo models without biases, made of layers ANNarchy's converter takes.
MODELS = (("mnist", "mlp2_nobias"), ("fashion-mnist", "mlp2_nobias"), ("mnist", "seed_cnn"),
          ("fashion-mnist", "seed_cnn"))
ENCODINGS = ("CPN", "IB")
STEPS = 200


# ---------------------------------------------------------------- the peer, in its own environment

def peer_python(install):
    python = PEER_DIR / "bin" / "python"
    if python.exists():
        return python
    if not install:
        raise SystemExit(f"ANNarchy's environment {PEER_DIR} is missing: run without --no-install")
    import tensorflow as tf
    print(f"installing {PEER_PACKAGE} and tensorflow=={tf.__version__} into {PEER_DIR} (from PyPI)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_DIR)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PEER_PACKAGE, f"tensorflow=={tf.__version__}"],
                   check=True)
    return python


def worker(args):
    """Runs inside the peer's environment: ANNarchy converts the model and classifies the images."""
    from ANNarchy.extensions.ann_to_snn_conversion import ANNtoSNNConverter
    x = np.load(args.images)
    conv = ANNtoSNNConverter(input_encoding=args.encoding, hidden_neuron="IaF", read_out="spike_count")
    started = time.perf_counter()
    conv.load_keras_model(args.model, directory=str(Path(args.workdir) / "annarchy"), show_info=False)
    build = time.perf_counter() - started
    started = time.perf_counter()
    # multiple=True: its own tie-break (int() of a one-element array) fails under NumPy >= 2.4; the same
    # random choice among the tied classes is made here
    tied = conv.predict(x, duration_per_sample=args.steps, multiple=True)
    seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    predictions = [int(rng.choice(classes)) for classes in tied]
    Path(args.out).write_text(json.dumps(dict(predictions=[int(p) for p in predictions], build_seconds=build,
                                              seconds=seconds)))


def run_annarchy(python, model, x, encoding, steps):
    with tempfile.TemporaryDirectory() as work:
        images, out = Path(work) / "images.npy", Path(work) / "out.json"
        np.save(images, x)
        # ANNarchy's CMake build asks the python3 on PATH for nanobind: the peer's environment comes first
        env = dict(os.environ, PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   VIRTUAL_ENV=str(PEER_DIR))
        subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", "--model", str(model),
                        "--images", str(images), "--encoding", encoding, "--steps", str(steps), "--out", str(out),
                        "--workdir", work], check=True, cwd=work, stdout=subprocess.DEVNULL, env=env)
        return json.loads(out.read_text())


# ---------------------------------------------------------------- both, same images

def run_annsnn(model, x, encoding, steps, x_cal, **options):
    from annsnn import ANNtoSNNConverter
    conv = ANNtoSNNConverter(preset="reference", input_encoding=encoding, seed=1, **options)
    conv.load_keras_model(model, show_info=False, calibration_data=x_cal)
    started = time.perf_counter()
    predictions = conv.predict(x, steps, progress=False)
    return dict(predictions=[int(p) for p in predictions], seconds=time.perf_counter() - started,
                **{key: conv.calibration.get(key) for key in ("model_scale", "raw_weight_gain", "conv_trace")})


def _figures(result, y, n):
    return dict(accuracy=float((np.asarray(result["predictions"]) == y).mean()),
                samples_per_s=round(n / result["seconds"], 2),
                **{k: v for k, v in result.items() if k not in ("predictions", "seconds")})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-samples", type=int, default=1000)
    parser.add_argument("--cnn-samples", type=int, default=200, help="ANNarchy's CNNs run at about 0.5 samples/s")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing the peer")
    parser.add_argument("--reuse-annarchy", action="store_true",
                        help="take ANNarchy's figures from --out where it already holds the same case")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("model", "images", "encoding", "workdir"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    from benchmarks import zoo
    out = Path(args.out)
    earlier = {}
    if args.reuse_annarchy and out.exists():
        earlier = {(r["dataset"], r["arch"], r["encoding"], r["samples"], r["steps"]): r["annarchy"]
                   for r in json.loads(out.read_text())["rows"]}
    python = None if earlier else peer_python(install=not args.no_install)
    rows, started = [], time.perf_counter()
    for dataset, arch in MODELS:
        (_, _), (x_test, y_test) = zoo.load_dataset(dataset)
        x_cal, _ = zoo.calibration_split(dataset)
        n = args.mlp_samples if arch.startswith("mlp") else args.cnn_samples
        x, y = x_test[:n], y_test[:n]
        model = zoo.model_path(dataset, arch)
        from annsnn.conversion.keras_model import load_keras
        keras_model = load_keras(model)
        ann = float((np.asarray(keras_model(x, training=False)).argmax(1) == y).mean())
        for encoding in ENCODINGS:
            row = dict(dataset=dataset, arch=arch, encoding=encoding, samples=n, steps=args.steps, ann=ann)
            key = (dataset, arch, encoding, n, args.steps)
            if key in earlier:
                row["annarchy"] = dict(earlier[key], reused=True)
            else:
                python = python or peer_python(install=not args.no_install)
                peer = run_annarchy(python, model, x, encoding, args.steps)
                row["annarchy"] = _figures(peer, y, n)
            row["annsnn_reference"] = _figures(run_annsnn(model, x, encoding, args.steps, None), y, n)
            row["annsnn_reference_cal"] = _figures(run_annsnn(model, x, encoding, args.steps, x_cal), y, n)
            # ANNarchy's convolution and pooling layers read a trace of the spikes, not the spikes
            row["annsnn_reference_trace_cal"] = _figures(
                run_annsnn(model, x, encoding, args.steps, x_cal, conv_trace=True), y, n)
            row["speedup_cal_vs_annarchy"] = round(row["annsnn_reference_cal"]["samples_per_s"]
                                                   / row["annarchy"]["samples_per_s"], 1)
            rows.append(row)
            print(f"{dataset:13s} {arch:12s} {encoding:3s} n={n:5d}  ANN {100 * ann:6.2f}  ANNarchy "
                  f"{100 * row['annarchy']['accuracy']:6.2f}  annsnn reference {100 * row['annsnn_reference']['accuracy']:6.2f}"
                  f"  +cal {100 * row['annsnn_reference_cal']['accuracy']:6.2f}"
                  f"  +trace {100 * row['annsnn_reference_trace_cal']['accuracy']:6.2f}  speed x{row['speedup_cal_vs_annarchy']}",
                  flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(dict(peer=PEER_PACKAGE, seconds=round(time.perf_counter() - started, 1),
                                           rows=rows), indent=1))
    print()
    print("| model | encoding | test images | ANN % | ANNarchy % | annsnn reference % | + calibration % "
          "| + calibration + conv trace % | speed ratio (+ calibration / ANNarchy) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} {r['arch']} | {r['encoding']} | {r['samples']} | {100 * r['ann']:.2f} | "
              f"{100 * r['annarchy']['accuracy']:.2f} | {100 * r['annsnn_reference']['accuracy']:.2f} | "
              f"{100 * r['annsnn_reference_cal']['accuracy']:.2f} | "
              f"{100 * r['annsnn_reference_trace_cal']['accuracy']:.2f} | {r['speedup_cal_vs_annarchy']}x |")
    return rows


if __name__ == "__main__":
    main()
