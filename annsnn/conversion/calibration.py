"""Calibration on the user's data: what must differ between models is chosen at conversion time.

Two procedures, both driven by samples the user supplies (never by test data) and both run on the
generated simulator itself:

* ``choose_model_scale``: the reference's model-based normalisation multiplies each layer by
  ``scale / largest positive input sum``. Which scale suits a network depends on the model and the
  input encoding (earlier versions shipped one hand-tuned per bundled model). Here every candidate
  scale, and every common gain on the raw Keras weights (what the reference runs in practice), is
  simulated on the calibration samples and the one whose SNN agrees best with the ANN's own
  decisions wins; labels are not needed.
* ``calibrate_biases``: layer-wise bias and potential calibration (Li et al., ICML 2021, "SNN
  calibration"). Layer by layer, in order, the mean per-channel gap between the ANN's normalised
  activation (clipped to the one spike per step a neuron can fire) and the SNN's rate is corrected
  by the layer's bias current and/or its start potential, so the error of one layer is not passed
  on to the next.
"""
import logging
from dataclasses import dataclass

import numpy as np

from annsnn.errors import ConversionError

log = logging.getLogger("annsnn.calibration")

#: Common model-based scales tried by choose_model_scale: 1 to 64 by factors of 2.
COARSE_SCALES = tuple(float(2 ** k) for k in range(7))
#: Gains tried on the raw Keras weights: 1/8 to 2 by factors of 2. Under IaF's reset to zero, weights
#: that drive a layer to fire every step lose the charge above threshold; a smaller common gain keeps
#: layers below saturation (the MNIST seed CNN with IB input agreed with its ANN on 95.6 % of held-out
#: training images with the raw weights, 98.8 % at gain 1/2).
RAW_GAINS = tuple(2.0 ** k for k in range(-3, 2))
#: Samples simulated per candidate: the choice needs the plateau, not the last tenth of a point.
SCALE_SEARCH_SAMPLES = 300


@dataclass(frozen=True)
class WeightScaling:
    """One candidate of the scale search: Diehl's model-based factors ``value / largest positive input
    sum`` per layer (``family="model"``), or the Keras weights times ``value`` (``family="raw"``);
    ``conv_trace``: convolution and pooling layers fed ANNarchy's spike trace instead of spikes."""
    family: str
    value: float
    conv_trace: bool = False

    @property
    def label(self):
        if self.family == "model":
            text = f"{self.value:.3g}"
        else:
            text = "raw weights" if self.value == 1.0 else f"raw x {self.value:.3g}"
        return text + " + trace" if self.conv_trace else text


def traceable(plans):
    """Whether any layer of ``plans`` reads its input through a convolution or pooling, the layers that
    conv_trace feeds a spike trace: only then is there a choice between spikes and the trace."""
    return any(plan.kind in ("conv", "pool") for plan in plans)


def ann_decisions(activations):
    """The ANN's class per calibration sample (the last plan's activation, logits for softmax)."""
    return np.asarray(activations[-1]).reshape(len(activations[-1]), -1).argmax(axis=1)


def agreement(conv, x, duration, reference):
    """Fraction of samples on which the current spiking network decides as ``reference`` does."""
    outcome = conv.simulate_samples(x, duration)
    return float((np.asarray(conv.conclude(outcome)) == reference).mean())


def _scale_factors(conv, scaling):
    """Per-layer weight factors of a WeightScaling."""
    from .normalization import model_based_factors
    weights = [p.weights for p in conv.plans[1:]]
    if scaling.family == "raw":
        return [scaling.value] * len(weights)
    return model_based_factors(weights, [scaling.value] * len(weights))


def choose_model_scale(conv, x, reference, duration):
    """The weight scaling whose SNN agrees best with the ANN's decisions ``reference`` on calibration
    samples ``x``: a common model-based scale, or a common gain on the raw Keras weights (what the
    reference converter runs in practice, at gain 1).

    Each family is searched alike: its coarse candidates (scales 1, 2, ... 64; gains 1/8 ... 2), then
    sqrt(2) either side of the best, and among equally good values the middle one wins: the middle of
    a plateau is the choice least sensitive to the difference between calibration and test data. With
    ``conv.conv_trace_search`` and convolution or pooling layers, both families are searched again
    with those layers fed ANNarchy's spike trace. A later search (raw after model-based, trace after
    spikes: slower) replaces the choice only when strictly better. Returns (WeightScaling, {label:
    agreement}); ``conv`` is left built with the choice.
    """
    # spread over the whole set: calibration data may come sorted by class
    pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), SCALE_SEARCH_SAMPLES)).astype(np.int64))
    x, reference = x[pick], reference[pick]
    scores = {}

    def build(scaling):
        conv.factors = _scale_factors(conv, scaling)
        conv.bias_factors = [factor * conv.bias_gain for factor in conv.factors]
        conv.conv_trace = scaling.conv_trace
        conv.rebuild()

    def score(scaling):
        if scaling not in scores:
            build(scaling)
            scores[scaling] = agreement(conv, x, duration, reference)
        return scores[scaling]

    def search(family, coarse, trace):
        candidates = [WeightScaling(family, value, trace) for value in coarse]
        best_coarse = max(candidates, key=score)
        for value in (best_coarse.value / 2 ** 0.5, best_coarse.value * 2 ** 0.5):
            score(WeightScaling(family, value, trace))
        tried = sorted((s for s in scores if (s.family, s.conv_trace) == (family, trace)), key=lambda s: s.value)
        best = max(scores[s] for s in tried)
        plateau = [s for s in tried if scores[s] >= best - 0.5 / len(x)]
        return plateau[(len(plateau) - 1) // 2]

    traces = (False, True) if conv.conv_trace_search and traceable(conv.plans) else (conv.conv_trace,)
    chosen = None
    for trace in traces:
        for family, coarse in (("model", COARSE_SCALES), ("raw", RAW_GAINS)):
            best = search(family, coarse, trace)
            if chosen is None or scores[best] > scores[chosen]:
                chosen = best
    build(chosen)
    labels = {s.label: a for s, a in scores.items()}
    log.info("model-based normalisation: %s chosen on %d calibration samples at %d steps; agreement with the "
             "ANN: %s", chosen.label if chosen.family == "raw" else f"scale {chosen.label}", len(x), duration,
             ", ".join(f"{k} {100 * a:.1f} %" for k, a in labels.items()))
    return chosen, labels


def encoding_gain(input_model, input_scale, seed, steps=1000, levels=21):
    """Spikes per step that a spiking input encoding emits per unit of input value (1 for analog input).

    Weights carry spikes, biases a current every step: for a network to compute what the ANN computes,
    a bias must be scaled by the rate its layer's inputs arrive at. The encoding is simulated on input
    values 0, 0.05, ..., 1 and the slope of rate against value (through the origin) is its gain; any
    encoding written as a Neuron is measured the same way.
    """
    if not input_model.spec.spiking:
        return 1.0
    from annsnn.network import Network
    values = np.linspace(0.0, 1.0, levels, dtype=np.float32)
    net = Network(batch_size=1, seed=seed, name="encoding_gain")
    population = net.create(levels, input_model, name="input")
    net.compile()
    population.set("rates", values * np.float32(input_scale))
    net.simulate(steps)
    rates = population.spike_counts[0] / float(steps)
    return float((rates * values).sum() / (values * values).sum())


def _per_channel_mean(values, channels):
    return np.asarray(values, dtype=np.float64).reshape(len(values), -1, channels).mean(axis=(0, 1))


def calibrate_biases(conv, x, activations, duration, bias=True, potential=False):
    """Li et al.'s layer-wise calibration over every spiking layer that can carry a bias, in order.

    ``activations`` are the ANN's, one array per plan (calibration_activations). Needs the "data" or
    "robust" normalisation, whose lambdas say which activation one spike per step stands for.

    The per-channel gap between the ANN's target and the SNN's rate is corrected by a bias current
    (``bias``: it acts every step) and/or a start potential (``potential``: a charge given once, so
    its effect on the rate fades as 1/T). With both, the gap is measured at ``duration`` and at four
    times that, and split as gap(T) = steady + charge / T: the steady part (clipping, quantisation)
    goes to the bias and the transient part (the deficit while deep layers fill up) to the start
    potential, so that a correction made for short runs does not over-drive long ones. With only the
    potential, the whole gap at ``duration`` is given as a start charge.
    Returns ({layer: per-channel bias correction per step}, {layer: per-channel start potential added}).
    """
    if not conv.lambdas:
        raise ConversionError("calibration needs normalization='data' or 'robust' (their per-layer "
                              "scales say what rate each activation should give)")
    plans = {plan.name: (plan, activation) for plan, activation in zip(conv.plans, activations)}
    biases, potentials = {}, {}
    long = 4 * duration
    for population in conv.populations[1:]:
        plan, activation = plans[population.name]
        if (not population.spec.spiking or plan.kind not in ("dense", "conv", "add")
                or "bias" not in population.attributes()):
            continue
        # the start potential needs one per neuron; a layer without one gets the bias correction alone
        charged = potential and "v0" in population.attributes() and population.v0.ndim == 2
        if not bias and not charged:
            continue
        channels = plan.shape[-1]
        vt = population.vt[0] if "vt" in population.attributes() else 1.0
        # rates run at the input encoding's gain (spikes per step per unit of input; 1 for analog input)
        # a step sends at most one spike's worth of thresholds: one, or the payload's bound (multi-spike)
        target = np.clip(conv.bias_gain * np.asarray(activation, dtype=np.float64) / conv.lambdas[plan.name],
                         0.0, vt * population.neuron.max_payload)
        target = _per_channel_mean(target.reshape(len(x), -1), channels)

        def gap(steps):
            return target - _per_channel_mean(conv.layer_rates(x, steps, population) * vt, channels)

        short_gap = gap(duration)
        if bias and charged:
            charge = (short_gap - gap(long)) / (1.0 / duration - 1.0 / long)
            steady = short_gap - charge / duration
        elif charged:
            charge, steady = short_gap * duration, None
        else:
            charge, steady = None, short_gap
        repeat = population.size // channels
        if steady is not None:
            biases[plan.name] = steady.astype(np.float32)
            population.bias = population.bias + np.tile(biases[plan.name], repeat)
        if charge is not None:
            potentials[plan.name] = charge.astype(np.float32)
            population.v0 = population.v0 + np.tile(potentials[plan.name], repeat)
        log.info("calibration of '%s': mean |bias correction| %.4f per step, mean |start potential added| %.4f",
                 plan.name, float(np.abs(steady).mean()) if steady is not None else 0.0,
                 float(np.abs(charge).mean()) if charge is not None else 0.0)
    return biases, potentials
