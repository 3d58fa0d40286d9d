"""Time-to-first-spike (TTFS) coding: an exact mapping of a ReLU network onto neurons that fire at
most once (Stanojevic et al., "An exact mapping from ReLU networks to spiking neural networks",
Neural Networks 2023).

Every layer owns a window of ``L`` steps; the input owns window 0, a layer fed by window w owns
window w + 1, and max pooling passes its earliest input spike on within its input's window. A value
a in [0, 1] (the activation divided by its calibration maximum, lambda) is a spike ``round(a * L)``
steps before its window closes, and no spike when that rounds to 0. Before its own window opens a
neuron integrates a ramp: each input spike adds its weight to the slope, so when the window opens
the membrane holds ``L * dt * (W a + b)``. From then on it rises by ``dt`` per step and crosses the
threshold ``L * dt`` after ``L * (1 - W a - b)`` steps: the spike time is the activation, clipped
to [0, 1] exactly as the ReLU clips below and lambda bounds above. With ``v0 = b L dt - dt/2`` the
crossing rounds to the nearest step instead of truncating.

An input from an earlier window (a residual connection) ramps for ``d`` extra windows; a second
projection of the same weights times ``-d L dt`` into ``g_jump`` cancels that at the spike.

Two ways to simulate the same spikes (``simulation``):

* ``"clock"`` walks every step of every window: each neuron integrates its ramp step by step
  (models.TTFS*). Its cost grows with L.
* ``"event"`` (the default) updates each layer once. A spike carries its *lead*, the time from the
  spike to its window's close, as a payload (Projection.send_payload): that is the integral its
  ramp current adds to a neuron of the next window by the time that window opens, whatever window
  the source is in (a residual input's longer ramp and its jump twin cancel). So each neuron knows its
  membrane at its window's opening from its inputs' events alone, and with it the step it crosses at
  (models.TTFS_Event*). Spike times and decisions are the clock's, within one step where float
  rounding decides, at a cost that follows the spikes and does not depend on L.

Everything here is ordinary neurons (in the equation syntax) and projections; the only requirement on
the simulator is ``propagation="same_step"``, so that a chain of layers has no delay besides the windows.
"""
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from annsnn import models
from annsnn.errors import ConversionError
from annsnn.network import Network
from annsnn.neuron import Neuron

from .keras_graph import fused_into_add
from .normalization import DATA_NORMALIZATIONS, merge_weight
from .presets import DEFAULT

#: TTFS read-outs: the earliest output spike decides (the simulation stops there), or the output
#: layer's membrane when its window opens (its input exactly, before the output is quantised).
TTFS_READ_OUTS = ("time_to_first_spike", "membrane_potential")
#: Options that shape rate coding only; with coding="ttfs" passing one is an error.
RATE_ONLY = ("input_encoding", "hidden_neuron", "initial_potential", "calibrate_bias", "propagation", "max_pool",
             "calibrate_potential", "conv_trace", "fold_mean_pool")
#: How a TTFS network is simulated (see the module's docstring); "event" is the default.
TTFS_SIMULATIONS = ("event", "clock")
#: Steps per layer window: the value resolution of every layer is 1/L of its calibration maximum. Event
#: simulation costs the same for any L, so its default resolves 32x finer (a window's 4096 steps make
#: 12-bit spike times); clock simulation costs grow with L.
DEFAULT_WINDOWS = {"event": 4096, "clock": 128}


@dataclass(frozen=True)
class TTFSReadOut:
    """The ReadOut interface (mode, neuron, score, stop_condition, scores) for TTFS outputs."""
    mode: str
    neuron: Neuron
    score: str
    stop_condition: Optional[str]

    def scores(self, population, n_items):
        """Earliest spike: the neurons that spiked first compete on their membrane (in the slope phase
        every membrane has risen by the same amount, so the higher one crossed earlier within the
        step: ties on the grid go to the larger activation); the others lose. A sample whose output
        layer never spiked is decided by the membrane."""
        v = np.array(population.get("v")[:n_items], dtype=np.float64)
        if self.mode == "membrane_potential":
            return v
        ts = np.array(population.get("ts")[:n_items], dtype=np.float64)
        spiked = ts >= 0
        earliest = np.where(spiked, ts, np.inf).min(axis=1, keepdims=True)
        scores = np.where(spiked & (ts == earliest), v, -np.inf)
        silent = ~spiked.any(axis=1)
        scores[silent] = v[silent]
        return scores

    def decision_steps(self, population, n_items, schedule):
        """Event simulation: the clock step each item is decided at, the step of its earliest output spike
        plus one (as a clock run that stops there counts it); -1 where no output spiked or the membrane
        decides."""
        if self.mode == "membrane_potential":
            return np.full(n_items, -1, dtype=np.int64)
        ts = np.array(population.get("ts")[:n_items], dtype=np.float64)
        earliest = np.where(ts >= 0, ts, np.inf).min(axis=1)
        return np.where(np.isfinite(earliest), np.rint(earliest / schedule.dt) + 1, -1).astype(np.int64)


def make_ttfs_readout(mode, simulation="event"):
    if mode not in TTFS_READ_OUTS:
        raise ConversionError(f"read_out '{mode}' does not apply to coding='ttfs'; choose one of "
                              f"{', '.join(TTFS_READ_OUTS)}")
    if simulation == "event":  # one step decides; the output's ts is its clock-time spike
        return TTFSReadOut(mode, models.TTFS_Event, "ts" if mode == "time_to_first_spike" else "v", None)
    stop = "spiked : any" if mode == "time_to_first_spike" else None
    return TTFSReadOut(mode, models.TTFS, "ts" if stop else "v", stop)


def check_simulation(simulation):
    if simulation not in TTFS_SIMULATIONS:
        raise ConversionError(f"ttfs_simulation must be one of {', '.join(map(repr, TTFS_SIMULATIONS))}, "
                              f"got {simulation!r}")
    return simulation


def check_window(window):
    if not isinstance(window, (int, np.integer)) or isinstance(window, bool) or window < 2:
        raise ConversionError(f"ttfs_window (steps per layer window) must be an integer >= 2, got {window!r}")
    return int(window)


def _sources(plan, by_name, plans):
    """Populations whose spikes reach ``plan``: its inputs, through the layers fused into an Add."""
    sources = []
    for name in plan.inputs:
        source = by_name[name]
        if source.kind != "input" and fused_into_add(source, plans):
            sources.extend(source.inputs)
        else:
            sources.append(name)
    return sources


def assign_windows(plans):
    """{plan name: index of the window it spikes in}; plans fused into an Add get none."""
    by_name = {p.name: p for p in plans}
    windows = {plans[0].name: 0}
    for plan in plans[1:]:
        if fused_into_add(plan, plans):
            continue
        latest = max(windows[name] for name in _sources(plan, by_name, plans))
        windows[plan.name] = latest if plan.kind == "pool" and plan.operation == "max" else latest + 1
    return windows


@dataclass(frozen=True)
class Schedule:
    """When each layer integrates and spikes: times in ms on the grid of ``dt``."""
    window: int                   # steps per layer window
    dt: float
    windows: Dict[str, int]       # plan name -> window index
    output: str
    simulation: str = "clock"     # "event": one step simulates every window (see TTFS_SIMULATIONS)

    @property
    def length(self):
        return self.window * self.dt

    def opens(self, name):
        """The step at which ``name``'s window opens."""
        return self.windows[name] * self.window

    @property
    def event(self):
        return self.simulation == "event"

    def duration(self, read_out_mode):
        """Steps to simulate until the read-out is decided (one for event simulation)."""
        return 1 if self.event else self.clock_duration(read_out_mode)

    def clock_duration(self, read_out_mode):
        """Clock steps after which the read-out is decided: the output window's opening (membrane) or close."""
        last = self.opens(self.output)
        return last if read_out_mode == "membrane_potential" else last + self.window


@dataclass
class BuiltTTFS:
    network: Network
    populations: list
    projections: list
    thresholds: dict
    schedule: Schedule


#: (input, max-pool relay, hidden) neurons of each simulation
_NEURONS = {"clock": (models.TTFS_Input, models.TTFS_Relay, models.TTFS),
            "event": (models.TTFS_Event_Input, models.TTFS_Event_Relay, models.TTFS_Event)}


def build_ttfs_network(plans, weight_factors, bias_factors, lambdas, window, batch_size, seed, num_threads,
                       read_out, dt=1.0, simulation="event"):
    """The TTFS network of normalised plans (``weight_factors``/``bias_factors`` aligned with
    plans[1:], from data-based normalisation with ``lambdas``), simulated by ``simulation``."""
    windows = assign_windows(plans)
    if (max(windows.values()) + 1) * window >= 2 ** 24:  # spike times are float32 steps: exact below 2^24
        raise ConversionError(f"ttfs_window={window} with {max(windows.values()) + 1} windows needs more than 2^24 "
                              "steps, beyond float32's exact integers; choose a smaller ttfs_window")
    schedule = Schedule(window, float(dt), windows, plans[-1].name, check_simulation(simulation))
    net = Network(dt=dt, batch_size=batch_size, seed=seed, num_threads=num_threads, propagation="same_step",
                  name="converted_ttfs_event" if schedule.event else "converted_ttfs")
    by_name = {p.name: p for p in plans}
    factor = dict(zip((p.name for p in plans[1:]), zip(weight_factors, bias_factors)))
    input_neuron, relay_neuron, hidden_neuron = _NEURONS[simulation]
    pops, projections, populations, thresholds = {}, [], [], {}
    for index, plan in enumerate(plans):
        if plan.kind != "input" and fused_into_add(plan, plans):
            continue
        relay = plan.kind == "pool" and plan.operation == "max"
        neuron = (input_neuron if plan.kind == "input" else relay_neuron if relay
                  else read_out.neuron if index == len(plans) - 1 else hidden_neuron)
        pop = net.create(plan.shape, neuron, name=plan.name)
        pops[plan.name] = pop
        (_event_timing if schedule.event else _clock_timing)(pop, plan, relay, schedule, by_name, plans)
        if plan.kind != "input" and not relay:
            bias = _bias(plan, by_name, plans, factor)
            v0 = -0.5 * dt + (0.0 if bias is None else np.tile(bias, plan.size // bias.size) * schedule.length)
            pop.v0 = np.broadcast_to(np.asarray(v0, dtype=np.float32), (plan.size,))
        if plan.kind != "input":
            projections.extend(_connect(net, pops, pop, plan, by_name, plans, factor, lambdas, schedule))
        # the clock's input neurons rise to the threshold too; relays and event inputs have none
        thresholds[plan.name] = None if relay or (plan.kind == "input" and schedule.event) else schedule.length
        populations.append(pop)
    if read_out.stop_condition:
        populations[-1].stop_conditions.append(read_out.stop_condition)
    net.reset()
    return BuiltTTFS(net, populations, projections, thresholds, schedule)


def _clock_timing(pop, plan, relay, schedule, by_name, plans):
    """Clock simulation: the window a population fires in, and the steps it is updated on (from the
    opening of its earliest input's window to its own window's close)."""
    dt, opens = schedule.dt, schedule.opens(plan.name)
    pop.t_close = (opens + schedule.window - 0.5) * dt
    if plan.kind == "input":
        pop.vt = schedule.length
        return
    pop.t_begin = (min(schedule.opens(name) for name in _sources(plan, by_name, plans)) - 0.5) * dt
    if not relay:
        pop.vt, pop.t_open = schedule.length, (opens - 0.5) * dt


def _event_timing(pop, plan, relay, schedule, by_name, plans):
    """Event simulation: the close of the window a population fires in, and the clock grid of its leads."""
    pop.t_close = (schedule.opens(plan.name) + schedule.window) * schedule.dt
    if not relay:
        pop.levels, pop.grid = float(schedule.window), schedule.dt


def _bias(plan, by_name, plans, factor):
    """The normalised bias of ``plan`` (the biases of layers fused into an Add included), or None."""
    parts = []
    if plan.bias is not None:
        parts.append(plan.bias * factor[plan.name][1])
    if plan.kind == "add":
        for name in plan.inputs:
            source = by_name[name]
            if source.kind != "input" and fused_into_add(source, plans) and source.bias is not None:
                parts.append(source.bias * factor[source.name][1])
    return sum(parts) if parts else None


def _connect(net, pops, pop, plan, by_name, plans, factor, lambdas, schedule):
    """The projections into ``pop``; each from an earlier window gets its jump twin."""
    made = []

    event = schedule.event
    payload = dict(payload="lead") if event else {}

    def project(source_name, through, weights, offset=0):
        pre = pops[source_name]
        # windows between the source's and this one's input window (a relay shares its source's: -1)
        extra = schedule.windows[plan.name] - 1 - schedule.windows[source_name]
        for target, scale in (("exc", 1.0), ("jump", -extra * schedule.length)):
            if target == "jump" and (extra <= 0 or event):  # a lead is already the integral up to the opening
                continue
            suffix = "" if target == "exc" else "_jump"
            name = f"{through.name}_proj{suffix}" if through is not None else f"{plan.name}_from_{source_name}{suffix}"
            if through is None:
                made.append(net.connect_one_to_one(pre, pop, target, _scaled(weights, scale),
                                                   channel_offset=offset, name=name, **payload))
            elif through.kind == "dense":
                made.append(net.connect(pre, pop, target, through.weights * weights * scale, name=name, **payload))
            elif through.kind == "conv":
                made.append(net.connect_convolution(pre, pop, through.weights * weights * scale,
                                                    target=target, stride=through.stride,
                                                    padding=through.padding, name=name, **payload))
            else:  # pooling: max relays the earliest spike; average is the mean of the spike-coded values
                # (event: the largest lead is the earliest spike, so a max pooling of the leads)
                operation = "max" if event and through.operation == "max" else "mean"
                made.append(net.connect_pooling(pre, pop, operation, through.pool_size, target=target,
                                                stride=through.stride, padding=through.padding, name=name,
                                                count_include_pad=through.count_include_pad, **payload))

    if plan.kind in ("add", "concat"):
        offset = 0
        for source_name in plan.inputs:
            source = by_name[source_name]
            if source.kind != "input" and fused_into_add(source, plans):
                project(source.inputs[0], source, factor[source.name][0])
                continue
            project(source_name, None, merge_weight(lambdas, source, plan, offset if plan.kind == "concat" else 0),
                    offset if plan.kind == "concat" else 0)
            offset += source.shape[-1]
    else:
        project(plan.inputs[0], plan, factor[plan.name][0])
    return made


def _scaled(weight, scale):
    return weight * scale if np.ndim(weight) else float(weight) * scale


def ttfs_options(given):
    """coding="ttfs"'s own defaults, whatever the preset: data normalisation (maximum activations;
    "robust" if asked for), one scale per channel, the first-spike read-out; rate-coding options passed
    explicitly are errors."""
    passed = [name for name in RATE_ONLY if given[name] is not DEFAULT]
    if passed:
        raise ConversionError(f"option(s) {', '.join(passed)} apply to rate coding only, not to coding='ttfs'")
    options = dict(input_encoding=models.TTFS_Input, hidden_neuron=models.TTFS, initial_potential=0.0,
                   calibrate_bias=False, calibrate_potential=False, propagation="same_step", conv_trace=False,
                   fold_mean_pool=False)
    if given["normalization"] is DEFAULT:
        options["normalization"] = "data"
    elif given["normalization"] not in DATA_NORMALIZATIONS:
        raise ConversionError(f"coding='ttfs' needs normalization 'data' or 'robust' (its windows come from "
                              f"calibration activations), got {given['normalization']!r}")
    if given["read_out"] is DEFAULT:
        options["read_out"] = TTFS_READ_OUTS[0]
    if given["channel_wise"] is DEFAULT:
        options["channel_wise"] = True
    return options
