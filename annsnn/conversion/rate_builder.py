"""Rate coding's builder: LayerPlans and their scales → a Network of the converter's neurons.

Each plan becomes a population (an input model, the hidden neuron, the read-out neuron), its layer a
projection (dense, convolution, pooling; Add and Concatenate as one-to-one projections, a linear layer
read only by an Add projecting straight into it), biases and calibration corrections per neuron.
conversion/ttfs.py is the same for time-to-first-spike coding.
"""
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional

import numpy as np

from annsnn import models
from annsnn.errors import ConversionError
from annsnn.network import Network

from .keras_graph import fused_into_add
from .normalization import merge_weight


@dataclass(frozen=True)
class RateSettings:
    """The converter options the builder reads."""
    input_model: Any
    hidden_model: Any
    read_out: Any
    conv_trace: bool
    lower_thresholds: bool    # model-based normalisation: the reference lowers thresholds with depth
    initial_potential: float
    propagation: str
    seed: Optional[int]
    num_threads: Optional[int]
    max_pool: str


@dataclass
class RateNetwork:
    network: Network
    populations: List
    projections: List
    thresholds: Dict[str, Optional[float]]


def build_rate_network(plans, settings, factors, bias_factors, lambdas, bias_corrections, potential_corrections,
                       batch_size):
    """The spiking network of ``plans`` with weight and bias ``factors`` (one per plan after the input)."""
    net = Network(batch_size=batch_size, seed=settings.seed, num_threads=settings.num_threads, name="converted",
                  propagation=settings.propagation)
    populations, projections, thresholds = [], [], {}
    factor = dict(zip((p.name for p in plans[1:]), zip(factors, bias_factors)))
    by_name = {p.name: p for p in plans}
    pops = {}
    for index, plan in enumerate(plans):
        if plan.kind != "input" and fused_into_add(plan, plans):
            continue  # projects straight into the Add that reads it
        last = index == len(plans) - 1
        neuron = settings.input_model if plan.kind == "input" else settings.read_out.neuron if last \
            else settings.hidden_model
        # what a convolution or pooling reader receives; analog input is a value every step already
        if settings.conv_trace and neuron.spiking and any(p.kind in ("conv", "pool") and plan.name in p.inputs
                                                          for p in plans):
            neuron = models.with_spike_trace(neuron)
        pop = net.create(plan.shape, neuron, name=plan.name)
        pops[plan.name] = pop
        if plan.kind != "input":
            if not last and "vt" in pop.attributes() and settings.lower_thresholds:
                pop.vt = 1.0 - 0.05 * plan.depth
            if "v0" in pop.attributes() and "vt" in pop.attributes():
                # QCFS's shift of 1/2 is a membrane that starts at half threshold
                start = 0.5 if plan.activation == "qcfs" else settings.initial_potential
                vt = pop.vt[:, None] if pop.vt.ndim == 1 and pop.v0.ndim == 2 else pop.vt  # (B,) vt, (B, N) v0
                pop.v0 = start * vt
            if plan.kind in ("add", "concat"):
                projections += _connect_merge(net, settings, pops, pop, plan, by_name, factor, lambdas)
            else:
                projections.append(_connect(net, settings, pops[plan.inputs[0]], pop, plan, factor[plan.name][0]))
                _set_bias(pop, plan, factor[plan.name][1])
            if plan.name in bias_corrections:
                correction = bias_corrections[plan.name]
                pop.bias = pop.bias + np.tile(correction, pop.size // correction.size)
            if plan.name in potential_corrections:
                correction = potential_corrections[plan.name]
                pop.v0 = pop.v0 + np.tile(correction, pop.size // correction.size)
        thresholds[plan.name] = float(pop.vt[0]) if "vt" in pop.attributes() and pop.vt.ndim == 1 else None
        populations.append(pop)
    if settings.read_out.stop_condition:
        populations[-1].stop_conditions.append(settings.read_out.stop_condition)
    net.reset()  # start values that depend on parameters set above (v0)
    return RateNetwork(net, populations, projections, thresholds)


def _connect_merge(net, settings, pops, pop, plan, by_name, factor, lambdas):
    """Add: every input projects one-to-one (a fused linear layer projects its kernel) into the
    same neurons; Concatenate: each input fills its channel range."""
    made, offset, bias = [], 0, None
    for source_name in plan.inputs:
        source = by_name[source_name]
        if source.kind != "input" and fused_into_add(source, list(by_name.values())):
            weight, bias_factor = factor[source.name]
            made.append(_connect(net, settings, pops[source.inputs[0]], pop, source, weight))
            if source.bias is not None:
                part = source.bias * bias_factor
                bias = part if bias is None else bias + part
            continue
        weight = merge_weight(lambdas, source, plan, offset if plan.kind == "concat" else 0)
        made.append(net.connect_one_to_one(
            pops[source_name], pop, "exc", weight, channel_offset=offset if plan.kind == "concat" else 0,
            name=f"{plan.name}_from_{source_name}"))
        offset += source.shape[-1]
    if bias is not None:
        _set_bias(pop, replace(plan, bias=bias), 1.0)
    return made


def _set_bias(pop, plan, factor):
    if plan.bias is None:
        return
    if "bias" not in pop.attributes() or pop.bias.ndim != 2:
        raise ConversionError(f"layer '{plan.name}' ({plan.keras_class}) has a bias, but neuron "
                              f"'{pop.neuron.name}' has no per-neuron 'bias' parameter to carry it")
    pop.bias = np.tile(plan.bias * factor, pop.size // plan.bias.size)  # channels innermost


def _connect(net, settings, pre, post, plan, factor):
    name = f"{plan.name}_proj"
    if plan.kind == "dense":
        return net.connect(pre, post, "exc", plan.weights * factor, name=name)
    source = "mask" if settings.conv_trace and "mask" in pre.spec.variables else None
    if plan.kind == "conv":
        return net.connect_convolution(pre, post, plan.weights * factor, stride=plan.stride,
                                       padding=plan.padding, name=name, source=source)
    return net.connect_pooling(pre, post, plan.operation, plan.pool_size, stride=plan.stride,
                               padding=plan.padding, name=name, max_rule=settings.max_pool, source=source,
                               count_include_pad=plan.count_include_pad)
