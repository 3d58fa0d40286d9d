"""TTFS benchmark: time-to-first-spike coding on the fidelity zoo, beside the recommended rate coding.

    python benchmarks/ttfs.py                                       # ReLU zoo, event simulation, L = 4096, 10k images
    python benchmarks/ttfs.py --dataset mnist --arch seed_cnn mlp2_nobias --test-samples 1000
    python benchmarks/ttfs.py --simulation event clock --windows 128  # both simulations, the same spikes

For every zoo model (benchmarks/zoo.py; the QCFS-trained variants are left out, their activation is
not a ReLU), every simulation (event, clock) and every window length L, the model is converted with
``coding="ttfs"`` (calibration on
zoo.calibration_split(), never on test images) and evaluated: accuracy, arg-max agreement with the
ANN, spikes per neuron per sample, SynOps per sample, steps to the decision and samples/s.

Beside it, in the same run, the recommended rate-coded pipeline (preset "annsnn"): its accuracy
curve up to --rate-steps picks the smallest T within 0.3 points of the ANN (the largest T if none
is), and a second run at that T measures its SynOps and samples/s. Ratios (TTFS / rate) come from
the same process, one after the other. Writes benchmarks/results/ttfs.json and prints a table.
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
# After site-packages, as in fidelity.py: annsnn from the installed package, benchmarks from the checkout.
sys.path.append(str(ROOT))

import numpy as np  # noqa: E402

from annsnn import ANNtoSNNConverter  # noqa: E402
from annsnn.conversion.keras_model import load_keras  # noqa: E402
from benchmarks import zoo  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "ttfs.json"
RELU_ARCHS = tuple(arch for arch in zoo.ARCHS if not arch.startswith("qcfs_"))
WITHIN = 0.003  # "within 0.3 points" for the rate-coded comparison


def _timed_evaluate(conv, x, y, duration):
    started = time.perf_counter()
    result = conv.evaluate(x, y, duration, progress=False)
    return result, time.perf_counter() - started


def run_ttfs(model, x_cal, x, y, ann_pred, window, normalization, channel_wise, read_out, simulation):
    conv = ANNtoSNNConverter(coding="ttfs", ttfs_window=window, normalization=normalization, ttfs_simulation=simulation,
                             channel_wise=channel_wise, read_out=read_out, seed=1)
    started = time.perf_counter()
    conv.load_keras_model(model, show_info=False, calibration_data=x_cal)
    convert_s = time.perf_counter() - started
    result, seconds = _timed_evaluate(conv, x, y, None)
    predictions = np.asarray(result.predictions)
    return dict(simulation=simulation, window=window, normalization=normalization, channel_wise=channel_wise,
                read_out=read_out, snn_energy_uj=result.snn_energy_uj, ann_energy_uj=result.ann_energy_uj,
                windows=len(set(conv.schedule.windows.values())), steps=result.steps,
                accuracy=result.accuracy, agreement_with_ann=float((predictions == ann_pred).mean()),
                mean_decision_steps=result.mean_decision_steps, spikes_per_neuron=result.spikes_per_neuron,
                synops_per_sample=result.total_synops, convert_seconds=round(convert_s, 2),
                samples_per_s=round(len(x) / seconds, 1))


def run_rate(model, x_cal, x, y, ann_accuracy, max_steps):
    """The recommended rate-coded pipeline at the smallest T within 0.3 points of the ANN."""
    conv = ANNtoSNNConverter(preset="annsnn", seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x_cal)
    curve, _ = _timed_evaluate(conv, x, y, max_steps)
    close = [t for t in range(1, max_steps + 1) if curve.accuracy_curve[t - 1] >= ann_accuracy - WITHIN]
    steps = close[0] if close else max_steps
    result, seconds = _timed_evaluate(conv, x, y, steps)
    return dict(steps=steps, within_0_3=bool(close), accuracy=result.accuracy, snn_energy_uj=result.snn_energy_uj,
                synops_per_sample=result.total_synops, snn_macs_per_sample=result.total_snn_macs,
                samples_per_s=round(len(x) / seconds, 1))


def run_model(dataset, arch, args, data):
    model = load_keras(zoo.model_path(dataset, arch))
    (_, _), (x_test, y_test) = data
    x_cal = zoo.calibration_split(dataset)[0][:args.calibration]
    x, y = x_test[:args.test_samples], y_test[:args.test_samples]
    ann_pred = np.concatenate([np.asarray(model(x[i:i + 512], training=False)).argmax(1)
                               for i in range(0, len(x), 512)])
    ann = float((ann_pred == y).mean())
    row = dict(dataset=dataset, arch=arch, test_samples=len(x), calibration_samples=len(x_cal), ann_accuracy=ann,
               ttfs=[])
    for window in args.windows:
        for simulation in args.simulation:
            for normalization in args.normalization:
                result = run_ttfs(model, x_cal, x, y, ann_pred, window, normalization, not args.layer_wise,
                                  args.read_out, simulation)
                row["ttfs"].append(result)
                print(f"  {dataset:13s} {arch:14s} TTFS {simulation} L={window:<4d} {normalization:6s} "
                      f"{100 * result['accuracy']:6.2f} (ANN {100 * ann:.2f}, agreement "
                      f"{100 * result['agreement_with_ann']:.2f} %) {result['spikes_per_neuron']:.3f} spikes/neuron "
                      f"{result['synops_per_sample']:,.0f} SynOps {result['samples_per_s']:,.0f} samples/s", flush=True)
    if args.rate_steps:
        row["rate"] = run_rate(model, x_cal, x, y, ann, args.rate_steps)
        r = row["rate"]
        print(f"  {dataset:13s} {arch:14s} rate T={r['steps']:<3d}        {100 * r['accuracy']:6.2f} "
              f"{r['synops_per_sample']:,.0f} SynOps {r['samples_per_s']:,.0f} samples/s", flush=True)
    return row


def table(rows):
    """Markdown: per model and window, TTFS beside the rate-coded pipeline at its smallest T within 0.3
    points (rate's analog first layer is multiply-accumulates every step, counted apart from SynOps)."""
    lines = ["| model | ANN % | simulation, L | TTFS % (agreement %) | spikes/neuron | steps to decision | TTFS SynOps | "
             "TTFS samples/s | rate T | rate % | rate SynOps + MACs | rate samples/s | TTFS / rate events | "
             "TTFS / rate samples/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        rate = row.get("rate")
        for t in row["ttfs"]:
            cells = [f"{row['dataset']} {row['arch']}", f"{100 * row['ann_accuracy']:.2f}",
                     f"{t.get('simulation', 'clock')}, {t['window']}",
                     f"{100 * t['accuracy']:.2f} ({100 * t['agreement_with_ann']:.2f})",
                     f"{t['spikes_per_neuron']:.3f}", f"{t['mean_decision_steps']:.0f}",
                     f"{t['synops_per_sample']:,.0f}", f"{t['samples_per_s']:,.0f}"]
            if rate:
                events = rate["synops_per_sample"] + rate.get("snn_macs_per_sample", 0.0)
                cells += [f"{rate['steps']}{'' if rate['within_0_3'] else ' (not within 0.3)'}",
                          f"{100 * rate['accuracy']:.2f}",
                          f"{rate['synops_per_sample']:,.0f} + {rate.get('snn_macs_per_sample', 0.0):,.0f}",
                          f"{rate['samples_per_s']:,.0f}", f"{t['synops_per_sample'] / max(events, 1):.2f}",
                          f"{t['samples_per_s'] / rate['samples_per_s']:.2f}"]
            else:
                cells += [""] * 6
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", nargs="*", choices=zoo.DATASETS, default=list(zoo.DATASETS))
    parser.add_argument("--arch", nargs="*", choices=RELU_ARCHS, default=list(RELU_ARCHS))
    parser.add_argument("--windows", nargs="*", type=int, default=[4096], help="steps per layer window")
    parser.add_argument("--simulation", nargs="*", choices=("event", "clock"), default=["event"],
                        help="event: each layer once, spikes carry their time; clock: every step (same spikes)")
    parser.add_argument("--normalization", nargs="*", choices=("data", "robust"), default=["data"])
    parser.add_argument("--layer-wise", dest="layer_wise", action="store_true",
                        help="one lambda per layer instead of one per channel")
    parser.add_argument("--read-out", dest="read_out", default="time_to_first_spike",
                        choices=("time_to_first_spike", "membrane_potential"))
    parser.add_argument("--rate-steps", dest="rate_steps", type=int, default=64,
                        help="longest T tried for the rate-coded comparison (0: skip it)")
    parser.add_argument("--test-samples", type=int, default=10_000)
    parser.add_argument("--calibration", type=int, default=1000, help="calibration images (training split)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--table", metavar="JSON", default=None, help="print the table of a results file and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())["models"]))
        return []
    rows, started = [], time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(complete):
        out.write_text(json.dumps(dict(
            machine=f"{platform.machine()}, {os.cpu_count()} CPUs", options=vars(args), complete=complete,
            seconds=round(time.perf_counter() - started, 1), models=rows), indent=1))

    for dataset in args.dataset:
        data = zoo.load_dataset(dataset)
        for arch in args.arch:
            rows.append(run_model(dataset, arch, args, data))
            write(complete=False)
    write(complete=True)
    print()
    print(table(rows))
    print(f"\nwrote {out}")
    return rows


if __name__ == "__main__":
    main()
