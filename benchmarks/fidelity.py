"""Fidelity benchmark: how closely each conversion setting follows the ANN, on a zoo of models.

    python benchmarks/fidelity.py                                # every zoo model, every setting, 10k images
    python benchmarks/fidelity.py --dataset mnist --arch vgg --test-samples 2000 --setting annsnn

The zoo (benchmarks/zoo.py: MLPs with and without biases, the seed CNN, max- and average-pool CNNs,
BatchNorm + bias + stride, VGG-style, ResNet, on MNIST and Fashion-MNIST) is trained once and
committed; no single model can be tuned for. Each model is converted with every setting below and
simulated once for the longest duration; the read-out taken at every step gives the accuracy at
T = 8 ... 256 from that one run (what a run of T steps would give, since the simulation is causal).

Calibration uses zoo.calibration_split(): 1,000 training images. Test images are used only to
measure accuracy. Writes benchmarks/results/fidelity.json (every figure, with settings and
timings) and prints a table: accuracy (%) per setting and T, and the gap to the ANN.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

ROOT = Path(__file__).resolve().parents[1]
# After site-packages: the benchmarks package comes from the checkout, annsnn from the installed package
# (the checkout's annsnn/ lacks annsnn.codegen, which only installing maps; spawned Dask workers inherit sys.path).
sys.path.append(str(ROOT))

import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.conversion.keras_model import load_keras  # noqa: E402
from benchmarks import zoo  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "fidelity.json"
STEPS = (8, 16, 32, 64, 128, 256)

#: The preset before signed neurons and folding joined it: what the ablations below build on.
_EARLIER = dict(preset="annsnn", hidden_neuron="IF_subtract", fold_mean_pool=False)

#: name -> (converter options, calibrate?, what it is). "reference" is ANNarchy's converter as it
#: behaves; the ablations add the recommended pipeline's methods one at a time.
SETTINGS = {
    "reference": (dict(preset="reference"), False, "CPN, IaF, spike count, model-based (raw weights)"),
    "reference+cal": (dict(preset="reference"), True, "the same, weight scaling (model-based scale or raw-weight gain) chosen on calibration data"),
    "robust": (dict(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust"), True,
               "analog input, IF_subtract, robust normalisation (earlier annsnn recommendation)"),
    "+half": (dict(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust",
                   initial_potential=0.5), True, "+ membranes start at half threshold"),
    "+same_step": (dict(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust",
                        initial_potential=0.5, propagation="same_step"), True, "+ events arrive in the same step"),
    "+mp_readout": (dict(_EARLIER, calibrate_bias=False, max_pool="winner", channel_wise=False), True,
                    "+ membrane-potential read-out"),
    "+count_max": (dict(_EARLIER, calibrate_bias=False, channel_wise=False), True,
                   "+ max pooling by the running maximum count"),
    "+bias_cal": (dict(_EARLIER, channel_wise=False), True, "+ bias calibration (layer-wise lambdas)"),
    "+channel_wise": (dict(_EARLIER), True, "+ channel-wise normalisation, one lambda per channel (the preset "
                                            "until signed neurons and folding joined it)"),
    "+signed": (dict(_EARLIER, hidden_neuron="IF_signed"), True,
                "+ signed neurons: a negative spike takes back an earlier one (Wang et al., IJCAI 2022)"),
    "annsnn": (dict(preset="annsnn"), True,
               "+ mean pooling folded into the Dense layer that reads it (the recommended preset)"),
    "+potential": (dict(_EARLIER, calibrate_potential=True), True,
                   "+channel_wise and potential calibration (the gap split into bias and start potential)"),
    "annsnn+potential": (dict(preset="annsnn", calibrate_potential=True), True,
                         "the preset with potential calibration (the gap split into bias and start potential)"),
    "annsnn@128": (dict(preset="annsnn", calibration_duration=128), True,
                   "the preset calibrated at 128 steps instead of 32 (calibration_duration=128: for runs of "
                   "128 steps)"),
    "+multispike": (dict(_EARLIER, hidden_neuron="IF_multispike"), True,
                    "+channel_wise with multi-spike neurons: one event carries the n spikes of a step "
                    "(sinabs' MultiSpike)"),
}
DEFAULT_SETTINGS = ("reference", "reference+cal", "annsnn")


def run_model(dataset, arch, settings, test_samples, steps, calibration, data):
    path = zoo.model_path(dataset, arch)
    model = load_keras(path)
    (_, _), (x_test, y_test) = data
    x_cal, _ = zoo.calibration_split(dataset)
    x_cal = x_cal[:calibration]
    x, y = x_test[:test_samples], y_test[:test_samples]
    ann_pred = np.concatenate([np.asarray(model(x[i:i + 512], training=False)).argmax(1)
                               for i in range(0, len(x), 512)])
    row = dict(dataset=dataset, arch=arch, model=str(path.relative_to(ROOT)), test_samples=len(x),
               calibration_samples=len(x_cal), ann_accuracy=float((ann_pred == y).mean()), settings={})
    for name in settings:
        options, calibrate, description = SETTINGS[name]
        options = dict(options)
        duration = options.pop("calibration_duration", None)  # a load_keras_model argument
        conv = ANNtoSNNConverter(seed=1, **options)
        started = time.perf_counter()
        conv.load_keras_model(model, show_info=False, calibration_data=x_cal if calibrate else None,
                              calibration_duration=duration)
        convert_s = time.perf_counter() - started
        started = time.perf_counter()
        result = conv.evaluate(x, y, steps, progress=False)
        simulate_s = time.perf_counter() - started
        curve = result.accuracy_curve
        row["settings"][name] = dict(
            description=description, options={k: v for k, v in conv.options.items() if k != "seed"},
            accuracy={str(t): float(curve[t - 1]) for t in STEPS if t <= steps},
            agreement_with_ann=float((np.asarray(result.predictions) == ann_pred).mean()),
            convert_seconds=round(convert_s, 2), simulate_seconds=round(simulate_s, 2),
            samples_per_s=round(len(x) / simulate_s, 1), synops_per_sample=result.total_synops,
            snn_macs_per_sample=result.total_snn_macs,
            calibration={k: v for k, v in conv.calibration.items() if k != "scale_agreement"})
        print(f"  {dataset:13s} {arch:14s} {name:14s} " + " ".join(
            f"{100 * curve[t - 1]:6.2f}" for t in STEPS if t <= steps)
            + f"   ANN {100 * row['ann_accuracy']:.2f}  ({convert_s:.0f} s + {simulate_s:.0f} s)", flush=True)
    return row


def table(rows, steps):
    shown = [t for t in STEPS if t <= steps]
    lines = ["| model | setting | ANN % | " + " | ".join(f"T={t}" for t in shown) + " |",
             "|---|---|---|" + "---|" * len(shown)]
    for row in rows:
        for name, result in row["settings"].items():
            ann = row["ann_accuracy"]
            cells = [f"{100 * result['accuracy'][str(t)]:.2f} ({100 * (result['accuracy'][str(t)] - ann):+.2f})"
                     for t in shown]
            lines.append(f"| {row['dataset']} {row['arch']} | {name} | {100 * ann:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="*", choices=zoo.DATASETS, default=list(zoo.DATASETS))
    parser.add_argument("--arch", nargs="*", choices=list(zoo.ARCHS), default=list(zoo.ARCHS))
    parser.add_argument("--setting", nargs="*", choices=list(SETTINGS), default=list(DEFAULT_SETTINGS))
    parser.add_argument("--test-samples", type=int, default=10_000)
    parser.add_argument("--calibration", type=int, default=1000, help="calibration images (training split)")
    parser.add_argument("--steps", type=int, default=max(STEPS))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    rows, started = [], time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(complete):
        # rewritten after every model: a long run that is stopped keeps what it measured
        out.write_text(json.dumps(dict(
            steps=[t for t in STEPS if t <= args.steps], machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
            settings={name: SETTINGS[name][2] for name in args.setting}, complete=complete,
            seconds=round(time.perf_counter() - started, 1), models=rows), indent=1))

    for dataset in args.dataset:
        data = zoo.load_dataset(dataset)
        for arch in args.arch:
            rows.append(run_model(dataset, arch, args.setting, args.test_samples, args.steps, args.calibration,
                                  data))
            write(complete=False)
    write(complete=True)
    print()
    print(table(rows, args.steps))
    print(f"\nwrote {out}")
    return rows


if __name__ == "__main__":
    main()
