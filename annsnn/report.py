"""The conversion report behind ``annsnn convert``: figures, report.json and diagnostic plots."""
import json
import time
from pathlib import Path

import numpy as np

from . import plot
from .conversion.normalization import format_factor

DIAGNOSTIC_SAMPLES = 64


def _factor_value(factor):
    """A factor for report.json: a number, or the range of a per-channel one."""
    if factor is None or np.ndim(factor) == 0:
        return None if factor is None else float(factor)
    return dict(min=float(np.min(factor)), max=float(np.max(factor)))


def layer_table(conv):
    """Per-layer rows: name, type, shape, parameters, normalisation factor, threshold."""
    rows = []
    factors = [None] + list(conv.factors)
    for plan, factor in zip(conv.plans, factors):
        vt = conv.thresholds.get(plan.name)
        params = 0 if plan.weights is None else int(plan.weights.size + (0 if plan.bias is None else plan.bias.size))
        rows.append(dict(layer=plan.name, type=plan.keras_class, shape=list(plan.shape), parameters=params,
                         factor=_factor_value(factor), threshold=vt, folded=list(plan.folded)))
    return rows


def format_table(rows):
    header = ("layer", "type", "shape", "parameters", "factor", "threshold")
    cells = [header] + [(r["layer"], r["type"] + (" +BN" if r["folded"] else ""), str(tuple(r["shape"])),
                         f"{r['parameters']:,}", "" if r["factor"] is None else format_factor(r["factor"]),
                         "" if r["threshold"] is None else f"{r['threshold']:.2f}") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _diagnostics(conv, x, duration, out_dir):
    """One small run with monitors: raster/trace of sample 0, rate histograms, ANN activation vs SNN rate."""
    n = min(DIAGNOSTIC_SAMPLES, len(x), conv.network.batch_size)
    net = conv.network
    monitors = [net.monitor(pop, ["spike"]) for pop in conv.populations if pop.spec.spiking]
    hidden = conv.populations[1]
    trace = net.monitor(hidden, ["v"]) if "v" in hidden.attributes() else None
    try:
        conv.predict(x[:n], duration, progress=False)
        spiking = [p for p in conv.populations if p.spec.spiking]
        rates = {p.name: p.spike_counts[:n] / duration for p in spiking}
        raster = {}
        event = conv.schedule is not None and conv.schedule.event
        for pop, mon in zip(spiking, monitors):
            if event:  # one step simulates every window: each spike's clock time is its ts
                ts = np.asarray(pop.get("ts")[0], dtype=np.float64)
                neurons = np.nonzero(ts >= 0)[0]
                steps = np.rint(ts[neurons] / conv.schedule.dt).astype(np.int64)
            else:
                steps, neurons = np.nonzero(mon.spike_raster()[:, 0, :])
            raster[pop.name] = (steps, neurons, pop.size)
        busiest = int(np.argmax(hidden.spike_counts[0])) if hidden.spec.spiking else 0
        files = {"raster": plot.raster_and_trace(
            raster, None if event else trace.get("v")[:, 0, busiest] if trace else np.zeros(duration),
            out_dir / "raster_trace.png", f"v of '{hidden.name}' #{busiest}")}
    finally:
        for mon in monitors + ([trace] if trace else []):
            net.monitors.remove(mon)
    files["rates"] = plot.rate_histograms(rates, out_dir / "firing_rates.png")
    activations = conv.source.activations(x[:n].reshape((n,) + conv.plans[0].shape))
    pairs = {plan.name: (act.reshape(n, -1), rates[plan.name]) for plan, act in zip(conv.plans, activations)
             if plan.name in rates and plan.kind != "input"}
    files["activation_vs_rate"] = plot.activation_vs_rate(pairs, out_dir / "activation_vs_rate.png")
    mean_rates = {name: float(r.mean()) for name, r in rates.items()}
    return files, mean_rates


def build_report(conv, x, y, duration, out_dir, ann_accuracy, settings, progress=True, plots=True, client=None):
    """Evaluate (on ``client``'s Dask workers if given), write ``out_dir/report.json`` and the PNGs;
    returns the report dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration = conv.steps_for(duration)  # TTFS: None means the steps its windows take
    started = time.perf_counter()
    result = conv.evaluate(x, y, duration, progress=progress, client=client)
    seconds = time.perf_counter() - started
    report = dict(settings=settings, samples=len(y), duration=duration, ann_accuracy=ann_accuracy,
                  snn_accuracy=result.accuracy, samples_per_s=len(y) / seconds, seconds=seconds,
                  build=dict(seconds=conv.network.build_info.seconds, compiled=conv.network.build_info.compiled),
                  layers=layer_table(conv), evaluation=result.to_dict())
    if conv.read_out.stop_condition or (conv.coding == "ttfs" and conv.read_out.mode == "time_to_first_spike"):
        decided = conv.stop_steps[conv.stop_steps >= 0]  # event TTFS: clock steps from its spike times
        report["latency_steps"] = dict(
            decided_fraction=float(len(decided) / len(y)),
            **{f"p{q}": float(np.percentile(decided, q)) if len(decided) else None for q in (50, 90, 99)})
    if plots:
        files = {"accuracy_curve": plot.accuracy_curve(result.accuracy_curve, out_dir / "accuracy_vs_time.png",
                                                       ann_accuracy)}
        matrix = plot.confusion_matrix(y, result.predictions, out_dir / "confusion_matrix.png",
                                       classes=conv.populations[-1].size)
        files["confusion_matrix"] = str(out_dir / "confusion_matrix.png")
        diag_files, mean_rates = _diagnostics(conv, x, duration, out_dir)
        files.update(diag_files)
        report.update(confusion_matrix=matrix.tolist(), mean_rates=mean_rates,
                      plots={k: Path(v).name for k, v in files.items()})
    report["evaluation"].pop("predictions", None)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
