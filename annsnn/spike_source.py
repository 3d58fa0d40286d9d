"""Spike sources: neurons that spike at given times (ANNarchy's SpikeSourceArray).

The times are data, not dynamics, so the population has a generated kernel of its own
(templates/spike_source.hpp.j2) instead of equations: each step it looks up its events by binary
search in one sorted (step, neuron) table, shared by all batch items.
"""
import numpy as np
import sympy

from annsnn.codegen.kernels import NeuronKernel, StopCondition, parse_stop_condition
from annsnn.codegen.spec import NeuronSpec
from .buffers import aligned_copy
from .errors import InputError, NetworkError
from .population import Population

SOURCE_SPEC = NeuronSpec(name="SpikeSourceArray", parameters=(), equations=(), spike=sympy.true, reset=(),
                         inputs=(), random_sites=0, output=None)


class _SourceNeuron:
    """Stands in for a Neuron: the spec a Population reads (the source has no text to parse)."""
    name = "SpikeSourceArray"
    spec = SOURCE_SPEC


class SpikeSourceArray(Population):
    """``spike_times[i]`` (ms) are the times neuron i spikes, the same in every batch item (a flat list
    of numbers is one neuron's times). A time t falls on step round(t / dt); two times of one neuron on
    one step give one spike."""

    def __init__(self, network, index, spike_times, name):
        times = _as_lists(spike_times)
        super().__init__(network, index, max(len(times), 1), _SourceNeuron(), name)
        if not times:
            raise NetworkError(f"spike source '{name}': give at least one neuron's spike times (a list per neuron)")
        self.spike_times = times

    @staticmethod
    def _check_neuron(neuron, name):
        """The stand-in neuron is always right."""

    @property
    def spike_times(self):
        """Per neuron, the spike times in ms on the step grid (assigning new ones takes effect at the next
        simulate call; the number of neurons stays)."""
        steps, neurons, _ = self._events
        return [steps[neurons == i] * self.network.dt for i in range(self.size)]

    @spike_times.setter
    def spike_times(self, spike_times):
        times = _as_lists(spike_times)
        if len(times) != self.size:
            raise InputError(f"spike source '{self.name}': {len(times)} lists of times for {self.size} neurons")
        steps, neurons = [], []
        for i, neuron_times in enumerate(times):
            if not np.isfinite(neuron_times).all() or (neuron_times < 0).any():
                raise InputError(f"spike source '{self.name}': neuron {i} has a negative or non-finite time")
            unique = np.unique(np.rint(neuron_times / self.network.dt).astype(np.int64))
            steps.append(unique)
            neurons.append(np.full(len(unique), i, dtype=np.int32))
        steps, neurons = np.concatenate(steps), np.concatenate(neurons)
        order = np.lexsort((neurons, steps))
        object.__setattr__(self, "_events", (aligned_copy(steps[order], np.int64), aligned_copy(neurons[order], np.int32),
                                             np.array([len(steps)], dtype=np.int64)))
        self.network._module = None  # new buffer addresses: bind again (the generated code is unchanged)

    def buffer_fields(self):
        prefix = f"pop{self.index}"
        steps, neurons, count = self._events
        return super().buffer_fields() + [(f"{prefix}_event_step", "int64_t", steps),
                                          (f"{prefix}_event_neuron", "int32_t", neurons),
                                          (f"{prefix}_n_events", "int64_t", count)]

    def kernel(self, stop_conditions):
        """The render-ready kernel; ``stop_conditions`` are (id, text) pairs, of which a source takes
        'spiked' with ': any' or ': all' only."""
        stops = [StopCondition(index, text, "spiked_now", self.check_stop_condition(text)[1])
                 for index, text in stop_conditions]
        return NeuronKernel(pop_id=self.index, prefix=f"pop{self.index}", size=self.size, shared=[], per_neuron=[],
                            stored=[], inputs=[], hoisted=[], body=[], spike="true", reset=[], uses_random=False,
                            stop_conditions=stops, template="spike_source.hpp.j2")

    def check_stop_condition(self, text):
        condition, mode = parse_stop_condition(text, self.spec)
        if getattr(condition, "name", None) != "spiked":
            raise NetworkError(f"spike source '{self.name}': a stop condition may only be 'spiked : any' or "
                               f"'spiked : all', got '{text}'")
        return condition, mode

    def __repr__(self):
        return f"SpikeSourceArray({self.name!r}, neurons={self.size})"


def _as_lists(spike_times):
    """One array of times per neuron; a flat list of numbers is one neuron's times (as in ANNarchy)."""
    try:
        spike_times = list(spike_times)
        if spike_times and all(np.ndim(t) == 0 for t in spike_times):
            spike_times = [spike_times]
        return [np.atleast_1d(np.asarray(t, dtype=np.float64)).ravel() for t in spike_times]
    except (TypeError, ValueError):
        raise InputError("spike_times must be a list with one sequence of times (ms) per neuron") from None
