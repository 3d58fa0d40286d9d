"""Neuron: a model described as text, parsed once into a frozen spec."""
import math

from annsnn.codegen.errors import EquationError
from annsnn.codegen.parse import parse_neuron


class Neuron:
    """A neuron model in ANNarchy-style text.

    >>> Neuron(parameters="tau = 20.0 : population",
    ...        equations="dv/dt = (g_exc - v) / tau : init=0",
    ...        spike="v > 1", reset="v = 0", name="LIF")
    Neuron('LIF')

    ``output`` names a variable sent to projections as a graded value every
    step instead of spikes (analog input layers). ``active`` is a condition on ``: population``
    parameters, ``t`` and ``dt``: on steps where it is false the population is not updated at all
    (no integration, no spikes, inputs kept for the next active step), which saves the work of
    layers that only act in a window of time. ``refractory`` is a period in ms (a number or an expression
    of parameters) after each spike in which the neuron neither spikes nor integrates: its variables hold,
    except synaptic inputs and variables flagged ``unless_refractory``. ``payload`` names a variable each
    spike carries: projections from this neuron weight the spike by its value (graded spikes, e.g. the
    number of spikes a multi-spike neuron fires at once; see Projection.send_payload).
    ``payload_range`` = (low, high) bounds the values a payload takes (default: unbounded); the converter
    reads it to know how many thresholds one step can send (calibration's rate cap), whether spikes can
    be negative (refused by winner-take-all max pooling) and whether a payload is a sign: a range within
    [-1, 1] declares payloads of -1, 0 or +1 (events priced as adds, not multiplies). Raises
    :class:`annsnn.EquationError` naming the line at fault.
    """

    def __init__(self, parameters="", equations="", spike=None, reset=None, name=None, output=None,
                 description=None, active=None, refractory=None, payload=None, payload_range=None):
        self.name = name or "neuron"
        self.parameters = parameters
        self.equations = equations
        self.spike = spike
        self.reset = reset
        self.output = output
        self.description = description
        self.active = active
        self.refractory = refractory
        self.payload = payload
        self.spec = parse_neuron(self.name, parameters, equations, spike, reset, output, active, refractory,
                                 payload)
        self.payload_range = self._checked_range(payload_range)

    def _checked_range(self, payload_range):
        if payload_range is None:
            return (-math.inf, math.inf) if self.payload else None
        if not self.payload:
            raise EquationError("payload_range needs a payload (the variable each spike carries)",
                                model=self.name, section="payload_range")
        try:
            low, high = (float(bound) for bound in payload_range)
            if isinstance(payload_range, (str, bytes)):  # "12" would read as (1, 2)
                raise ValueError
        except (TypeError, ValueError):
            raise EquationError(f"payload_range must be a pair of numbers (low, high), got {payload_range!r}",
                                model=self.name, section="payload_range") from None
        if math.isnan(low) or math.isnan(high):
            raise EquationError(f"payload_range bounds must be numbers, not NaN: {payload_range!r}",
                                model=self.name, section="payload_range")
        if low > high:
            raise EquationError(f"payload_range needs low <= high, got {payload_range!r}", model=self.name,
                                section="payload_range")
        return (low, high)

    @property
    def max_payload(self):
        """Most thresholds one spike can stand for: 1 without a payload."""
        return self.payload_range[1] if self.payload else 1.0

    @property
    def signed_spikes(self):
        """Whether a spike can carry a negative value (take back charge already sent)."""
        return bool(self.payload) and self.payload_range[0] < 0.0

    @property
    def spiking(self):
        return self.spec.spiking

    def _text(self):
        return (self.parameters, self.equations, self.spike, self.reset, self.name, self.output, self.description,
                self.active, self.refractory, self.payload, self.payload_range)

    def __eq__(self, other):
        return isinstance(other, Neuron) and self._text() == other._text()

    def __hash__(self):
        return hash(self._text())

    def __reduce__(self):
        # Pickled as its text and parsed again on arrival (workers), never as a sympy tree.
        return (Neuron, self._text())

    def __repr__(self):
        return f"Neuron({self.name!r})"
