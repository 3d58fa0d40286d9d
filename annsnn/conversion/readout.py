"""Read-out modes: which output neuron to use, when to stop, how to decide."""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from annsnn import models
from annsnn.errors import ConversionError
from annsnn.neuron import Neuron

READ_OUTS = ("spike_count", "time_to_first_spike", "time_to_k_spikes", "membrane_potential")


@dataclass(frozen=True)
class ReadOut:
    mode: str
    neuron: Neuron
    score: str                       # variable of the output population compared across classes
    stop_condition: Optional[str]    # early stop (simulate_until) or None

    def scores(self, population, n_items):
        return np.array(population.get(self.score)[:n_items], dtype=np.float64)


#: Hidden neurons whose networks count at the output with reset by subtraction (measured on the zoo).
SUBTRACTING = (models.IF_subtract, models.IF_multispike, models.IF_signed)


def spike_counter(hidden):
    """The output neuron of spike-count read-outs for networks of ``hidden`` neurons: the built-in
    counters for the built-in neurons and for neurons that do not spike, a user's own spiking neuron
    with a spike counter ``sc`` added otherwise (its own reset and dynamics, not IaF's)."""
    if hidden in SUBTRACTING:
        return models.IF_subtract_ReadOut
    if hidden == models.IaF or not hidden.spiking:
        return models.IaF_ReadOut
    if "sc" in hidden.spec.attribute_names():
        raise ConversionError(f"hidden_neuron '{hidden.name}' declares 'sc', which the spike-count read-out "
                              "adds to it at the output layer to count spikes; rename it")
    return models.counting(hidden, f"{hidden.name}_ReadOut")


def make_readout(mode, k=None, hidden=models.IaF):
    """The read-out ``mode``; counting modes count with spike_counter(``hidden``), the hidden neuron."""
    if mode not in READ_OUTS:
        raise ConversionError(f"unknown read_out '{mode}'; choose one of {', '.join(READ_OUTS)}")
    if mode == "membrane_potential":
        return ReadOut(mode, models.IaF_Acc, "v", None)
    counter = spike_counter(hidden)
    if mode == "spike_count":
        return ReadOut(mode, counter, "sc", None)
    if mode == "time_to_first_spike":
        return ReadOut(mode, counter, "sc", "spiked : any")
    if k is None or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConversionError(f"read_out 'time_to_k_spikes' needs an integer k >= 1, got k={k!r}")
    return ReadOut(mode, counter, "sc", f"sc >= {int(k)} : any")


def decide(scores, sample_ids, seed, multiple):
    """Arg-max per row; ties broken at random from (seed, sample id), or all tied classes if multiple."""
    if len(scores) == 0:
        return []
    tied = scores == scores.max(axis=1, keepdims=True)
    if multiple:
        return [np.flatnonzero(row).tolist() for row in tied]
    result = scores.argmax(axis=1).tolist()
    ids = list(sample_ids)
    for row in np.flatnonzero(tied.sum(axis=1) > 1):  # only ties need the per-sample generator
        result[row] = int(np.random.default_rng([seed, int(ids[row])]).choice(np.flatnonzero(tied[row])))
    return result
