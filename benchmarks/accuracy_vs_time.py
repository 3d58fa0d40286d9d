"""Accuracy at 25, 50, 100 and 200 steps for every bundled model: reference settings against annsnn's.

reference: IB input, IaF (reset to zero), model-based normalisation (bundled scale factor if any).
annsnn:    analog ("constant") input, IF_subtract (reset by subtraction), robust normalisation
           (99.9th percentile) calibrated on 1,000 bundled TRAINING images.
Each setting runs once for 200 steps on the full 10k test set; evaluate() reads the accuracy at every
earlier step from the cumulative output counts (ties count as random choices, in expectation).

    python benchmarks/accuracy_vs_time.py [--models mlp,cnn] [--samples 10000]

Writes benchmarks/results/accuracy_vs_time.json and prints a markdown table.
"""
import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.cli import bundled_model_path, bundled_settings  # noqa: E402
from annsnn.conversion.keras_graph import plan_layers  # noqa: E402
from annsnn.conversion.keras_model import load_keras  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = (25, 50, 100, 200)
# The reference converter refuses biases; its settings are not run on models that have them.
REFERENCE_ONLY_WITHOUT_BIASES = True
SETTINGS = {
    "reference": dict(input_encoding="IB", hidden_neuron="IaF", normalization="model"),
    "annsnn": dict(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,cnn_bn")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=200, help="run length (checkpoints beyond it are skipped)")
    args = parser.parse_args()
    (x_train, _), (x_test, y_test) = load_mnist(verbose=True)
    calibration = x_train[np.random.default_rng(0).permutation(len(x_train))[:1000]] / 255.0
    rows, data = [], {}
    for name in args.models.split(","):
        model = load_keras(str(bundled_model_path(name)))
        shape = (-1,) + tuple(model.inputs[0].shape[1:])
        x = (x_test[:args.samples] / 255.0).astype(np.float32).reshape(shape)
        y = y_test[:args.samples]
        ann = float((model.predict(x, verbose=0, batch_size=512).argmax(1) == y).mean())
        data[name] = {"ann_accuracy": ann}
        has_bias = any(p.bias is not None for p in plan_layers(model))
        for label, options in SETTINGS.items():
            if label == "reference" and has_bias and REFERENCE_ONLY_WITHOUT_BIASES:
                data[name][label] = "not run: the reference converter refuses biases"
                continue
            conv = ANNtoSNNConverter(seed=1, **options)
            extra = {}
            if options["normalization"] == "model":
                extra["scale_factor"] = bundled_settings(name).get(options["input_encoding"], {}).get("scale_factor")
            else:
                extra["calibration_data"] = calibration.reshape(shape)
            conv.load_keras_model(model, show_info=False, **extra)
            started = time.perf_counter()
            result = conv.evaluate(x, y, args.steps, progress=False)
            seconds = time.perf_counter() - started
            at = {t: result.accuracy_curve[t - 1] for t in CHECKPOINTS if t <= args.steps}
            data[name][label] = dict(options, scale_factor=extra.get("scale_factor"), steps=args.steps,
                                     accuracy_at_end=result.accuracy, curve_at=at, seconds=seconds,
                                     synops_per_sample=result.total_synops, macs_per_sample=result.total_macs,
                                     snn_energy_uj=result.snn_energy_uj, ann_energy_uj=result.ann_energy_uj)
            rows.append(f"| {name} | {label} | {100 * ann:.2f} | "
                        + " | ".join(f"{100 * at[t]:.2f}" if t in at else "-" for t in CHECKPOINTS)
                        + f" | {result.total_synops:,.0f} | {result.total_macs:,.0f} |")
            print(rows[-1], flush=True)
    header = ["| model | settings | ANN % | " + " | ".join(f"{t} steps %" for t in CHECKPOINTS)
              + " | SynOps/sample (whole run) | ANN MACs/sample |", "|" + "---|" * (5 + len(CHECKPOINTS))]
    print("\n".join(header + rows))
    data["settings"] = {k: {**v} for k, v in SETTINGS.items()}
    data["samples"] = args.samples
    path = RESULTS / "accuracy_vs_time.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(data)
    path.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
