"""Neuron: a model described as text, parsed once into a frozen spec."""
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
    number of spikes a multi-spike neuron fires at once; see Projection.send_payload). Raises
    :class:`annsnn.EquationError` naming the line at fault.
    """

    def __init__(self, parameters="", equations="", spike=None, reset=None, name=None, output=None,
                 description=None, active=None, refractory=None, payload=None):
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

    @property
    def spiking(self):
        return self.spec.spiking

    def _text(self):
        return (self.parameters, self.equations, self.spike, self.reset, self.name, self.output, self.description,
                self.active, self.refractory, self.payload)

    def __eq__(self, other):
        return isinstance(other, Neuron) and self._text() == other._text()

    def __hash__(self):
        return hash(self._text())

    def __reduce__(self):
        # Pickled as its text and parsed again on arrival (workers), never as a sympy tree.
        return (Neuron, self._text())

    def __repr__(self):
        return f"Neuron({self.name!r})"
