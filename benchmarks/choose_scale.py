"""Choose the normalisation scale factor of a bundled model per input encoding, on TRAINING data only.

For each encoding, every candidate scale is converted and evaluated (spike_count read-out) on a fixed
random 2,000-image subset of the bundled training images; the chosen scale is the middle of the
candidates whose accuracy is within 0.1 points of the best (a plateau is more robust than its peak).
The test set is never looked at. Writes annsnn/data/models/<model>.json, which `annsnn demo` reads,
and benchmarks/results/choose_scale_<model>.json with every figure.

    python benchmarks/choose_scale.py --model mlp --encodings IB,PSO,CPN
"""
import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.conversion.keras_model import load_keras  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--encodings", default="IB,PSO,CPN")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=200)
    args = parser.parse_args()

    (x_train, y_train), _ = load_mnist(verbose=True)
    pick = np.random.default_rng(0).permutation(len(x_train))[:args.samples]
    model = load_keras(ROOT / "annsnn" / "data" / "models" / f"{args.model}.keras")
    x = (x_train[pick] / 255.0).astype(np.float32).reshape((-1,) + tuple(model.inputs[0].shape[1:]))
    y = y_train[pick]
    ann = float((model.predict(x, verbose=0).argmax(1) == y).mean())
    settings, figures = {}, {"model": args.model, "samples": int(args.samples), "duration": args.duration,
                             "ann_train_accuracy": ann, "encodings": {}}
    print(f"ANN accuracy on the {args.samples} training images: {100 * ann:.2f} %")
    print("| encoding | " + " | ".join(f"scale {c:g}" for c in CANDIDATES) + " | chosen |")
    print("|---|" + "---|" * (len(CANDIDATES) + 1))
    for encoding in args.encodings.split(","):
        accuracies = []
        for scale in CANDIDATES:
            conv = ANNtoSNNConverter(input_encoding=encoding, read_out="spike_count", seed=1)
            conv.load_keras_model(model, show_info=False, scale_factor=scale)
            accuracies.append(float((np.array(conv.predict(x, args.duration, progress=False)) == y).mean()))
        best = max(accuracies)
        plateau = [c for c, a in zip(CANDIDATES, accuracies) if a >= best - 0.001]
        chosen = plateau[len(plateau) // 2]
        settings[encoding] = {"scale_factor": chosen,
                              "chosen_by": f"benchmarks/choose_scale.py on {args.samples} training images, "
                                           f"{args.duration} steps, spike_count read-out"}
        figures["encodings"][encoding] = {"candidates": CANDIDATES, "train_accuracy": accuracies,
                                          "chosen": chosen}
        print(f"| {encoding} | " + " | ".join(f"{100 * a:.2f}" for a in accuracies) + f" | {chosen:g} |", flush=True)
    out = ROOT / "annsnn" / "data" / "models" / f"{args.model}.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing.update(settings)
    out.write_text(json.dumps(existing, indent=2) + "\n")
    figures["seconds"] = time.process_time()
    result = ROOT / "benchmarks" / "results" / f"choose_scale_{args.model}.json"
    result.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out} and {result}")


if __name__ == "__main__":
    main()
