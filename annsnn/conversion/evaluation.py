"""evaluate(): accuracy, accuracy against time, SynOps against the ANN's MACs, energy estimate."""
from dataclasses import asdict, dataclass
from typing import Dict, List

import numpy as np

from annsnn.errors import InputError

PJ_PER_ACCUMULATE = 0.9   # Horowitz 2014, 45 nm, float32 add
PJ_PER_MAC = 4.6          # Horowitz 2014, 45 nm, float32 multiply-accumulate
ENERGY_ASSUMPTION = ("energy = 0.9 pJ per synaptic event (an accumulate) for the SNN and 4.6 pJ per "
                     "multiply-accumulate for the ANN and for the SNN's graded (analog input) projections, "
                     "which send every non-zero value every step, and for spikes that carry a number (multi-spike "
                     "neurons); an event-simulated TTFS network's spikes are accumulates, as in its clock twin (which "
                     "has extra jump events on residual networks) (Horowitz 2014, 45 nm, float32); memory "
                     "traffic, neuron updates and ANN pooling are not counted")


@dataclass
class Evaluation:
    accuracy: float
    samples: int
    steps: int
    accuracy_curve: List[float]            # expected accuracy had the read-out been taken at step 1..T
    synops_per_sample: Dict[str, float]    # synaptic events per projection (layer), mean per sample
    macs_per_sample: Dict[str, float]      # ANN multiply-accumulates of the same layers (pooling: 0)
    snn_energy_uj: float                   # per sample, microjoules
    ann_energy_uj: float
    predictions: List[int] = None           # the class chosen for each sample
    energy_assumption: str = ENERGY_ASSUMPTION
    # multiply-accumulates per projection from graded populations (analog input), mean per sample
    snn_macs_per_sample: Dict[str, float] = None
    # steps until the decision, mean over samples: where an early-stopping read-out stopped, else all steps
    mean_decision_steps: float = None
    # spikes per neuron per sample over the spiking populations after the input
    spikes_per_neuron: float = None

    @property
    def total_synops(self):
        return float(sum(self.synops_per_sample.values()))

    @property
    def total_macs(self):
        return float(sum(self.macs_per_sample.values()))

    @property
    def total_snn_macs(self):
        return float(sum((self.snn_macs_per_sample or {}).values()))

    def to_dict(self):
        return dict(asdict(self), total_synops=self.total_synops, total_macs=self.total_macs,
                    total_snn_macs=self.total_snn_macs)

    def __str__(self):
        lines = [f"accuracy {100 * self.accuracy:.2f} % on {self.samples} samples, {self.steps} steps"]
        for step in sorted({1, 10, 25, 50, 100, 200, self.steps} & set(range(1, self.steps + 1))):
            lines.append(f"  accuracy at step {step:5d}: {100 * self.accuracy_curve[step - 1]:.2f} %")
        graded = self.snn_macs_per_sample or {}
        lines.append(f"{'layer':20s} {'SynOps/sample':>15s} {'SNN MACs/sample':>16s} {'ANN MACs/sample':>16s}")
        for name, synops in self.synops_per_sample.items():
            lines.append(f"{name:20s} {synops:15,.0f} {graded.get(name, 0.0):16,.0f} "
                         f"{self.macs_per_sample[name]:16,.0f}")
        lines.append(f"decision after {self.mean_decision_steps:.1f} steps on average; "
                     f"{self.spikes_per_neuron:.3f} spikes per neuron per sample (after the input)")
        lines.append(f"energy per sample: SNN {self.snn_energy_uj:.3f} uJ, ANN {self.ann_energy_uj:.3f} uJ")
        lines.append(f"({self.energy_assumption})")
        return "\n".join(lines)


def _labels(labels, n):
    y = np.asarray(labels)
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"labels must be {n} integer class indices (or one-hot rows), got shape {y.shape} "
                         f"and dtype {y.dtype}")
    return y.astype(np.int64)


def score_samples(conv, x, y, duration, first_id=0, progress=False):
    """Simulate prepared samples and, per batch, the expected correct answers at every step.

    Runs where the network lives: in this process, or on a worker for a distributed evaluate.
    """
    net, output = conv.network, conv.populations[-1]
    # TTFS decides by the earliest output spike with ties broken by the membrane, which in the output
    # window orders the neurons as the read-out does: its curve is the membrane's arg-max
    ttfs = conv.coding == "ttfs"
    variable = "v" if conv.read_out.mode == "membrane_potential" or ttfs else "spike"
    monitor = net.monitor(output, [variable])
    parts = []

    def on_chunk(start, items):
        data = monitor.get(variable)[:, :items] if variable == "v" else monitor.spike_raster()[:, :items]
        if ttfs and conv.read_out.stop_condition:
            data = _held_after_stop(data, net.last_stop_steps(items))
        score = data if variable == "v" else np.cumsum(data, axis=0, dtype=np.int32)
        tied = score == score.max(axis=2, keepdims=True)
        truth = tied[:, np.arange(items), y[start:start + items]]
        parts.append((truth / tied.sum(axis=2)).sum(axis=1))  # random tie-breaking, in expectation
        monitor.reset()

    try:
        outcome = conv.simulate_samples(x, duration, first_id=first_id, progress=progress, on_chunk=on_chunk)
    finally:
        net.monitors.remove(monitor)
    outcome.curve_parts = parts
    return outcome


def _held_after_stop(data, stop_steps):
    """(steps, items, n) recordings with each stopped item's last recorded row repeated after its stop."""
    data = np.array(data)
    for item, stop in enumerate(stop_steps):
        if 0 < stop < len(data):
            data[stop:, item] = data[stop - 1, item]
    return data


def evaluate(conv, samples, labels, duration, batch_size=None, progress=True, client=None, chunk_size=None):
    x = conv._prepare(samples)
    y = _labels(labels, len(x))
    duration = conv.steps_for(duration)
    outcome = conv.run(x, y, duration, batch_size=batch_size, client=client, chunk_size=chunk_size, progress=progress)
    predictions = conv.conclude(outcome)
    return summarise(conv, outcome, predictions, y, duration)


def summarise(conv, outcome, predictions, y, duration):
    names = [proj.name for proj in conv.projections]
    synops = dict(zip(names, outcome.synaptic_events.mean(axis=0).tolist() if len(y) else [0.0] * len(names)))
    graded = dict(zip(names, outcome.graded_events.mean(axis=0).tolist() if len(y) else [0.0] * len(names)))
    macs = {proj.name: float(proj.fan_out().sum()) if getattr(proj, "kind", "") in ("dense", "conv") else 0.0
            for proj in conv.projections}
    n = max(len(y), 1)
    # an event-simulated TTFS network runs one step; its latency is counted on the clock grid
    full = conv.schedule.clock_duration(conv.read_out.mode) if conv.coding == "ttfs" else duration
    decided = np.where(outcome.stop_steps > 0, outcome.stop_steps, full)
    counted = [pop.size for pop in conv.populations[1:] if pop.spec.spiking]
    spikes = sum(total for pop, total in zip(conv.populations[1:], outcome.spike_totals[1:]) if pop.spec.spiking)
    return Evaluation(
        mean_decision_steps=float(decided.mean()) if len(y) else float("nan"),
        spikes_per_neuron=float(spikes / n / sum(counted)) if counted else 0.0,
        accuracy=float((np.asarray(predictions) == y).mean()) if len(y) else float("nan"), samples=len(y),
        steps=int(duration), accuracy_curve=(outcome.accuracy_curve(duration) / n).tolist(),
        synops_per_sample=synops, macs_per_sample=macs,
        snn_energy_uj=(sum(synops[p.name] * (PJ_PER_MAC if _multiplies(p, conv) else PJ_PER_ACCUMULATE)
                           for p in conv.projections) + sum(graded.values()) * PJ_PER_MAC) * 1e-6,
        snn_macs_per_sample=graded,
        ann_energy_uj=sum(macs.values()) * PJ_PER_MAC * 1e-6, predictions=[int(p) for p in predictions])


def _multiplies(projection, conv):
    """Whether an event of ``projection`` costs a multiply-accumulate: a payload weights it, unless the
    payload is a TTFS lead (priced as accumulates) or a sign: the neuron's own payload with a declared
    range within [-1, 1] (-1, 0 or +1: an add or a subtract)."""
    if not projection.payload or conv.coding == "ttfs":
        return False
    neuron = projection.pre.neuron
    own = projection.payload == neuron.payload  # the range says nothing of another variable (send_payload)
    low, high = neuron.payload_range if own else (-np.inf, np.inf)
    return max(-low, high) > 1.0
