"""Parsed neuron models as frozen dataclasses: the typed spec that code generation reads."""
from dataclasses import dataclass
from typing import Optional, Tuple

import sympy


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    shared: bool          # ": population": one value per population (and batch item)
    line: int


@dataclass(frozen=True)
class Equation:
    """An ODE (``dv/dt = rhs``) or an assignment (``p = rhs``)."""
    name: str
    kind: str             # "ode" | "assignment"
    rhs: sympy.Expr
    init: object          # a float, or a sympy.Expr of parameters evaluated per neuron at reset
    lower: Optional[sympy.Expr]
    upper: Optional[sympy.Expr]
    method: str           # integrator name for ODEs, "" for assignments
    line: int
    text: str
    unless_refractory: bool = False  # keeps integrating during the refractory period


@dataclass(frozen=True)
class ResetStatement:
    target: str
    operator: str         # "=", "+=", "-=", "*=", "/="
    expr: sympy.Expr
    line: int
    text: str


@dataclass(frozen=True)
class NeuronSpec:
    name: str
    parameters: Tuple[Parameter, ...]
    equations: Tuple[Equation, ...]
    spike: Optional[sympy.Basic]
    reset: Tuple[ResetStatement, ...]
    inputs: Tuple[str, ...]       # synaptic input variables, e.g. ("g_exc",)
    random_sites: int             # number of Uniform/Normal call sites
    output: Optional[str]         # variable sent as a graded value instead of spikes
    active: Optional[sympy.Basic] = None  # condition on shared parameters, t and dt: the steps it updates
    refractory: Optional[sympy.Expr] = None  # ms after a spike without spikes or integration
    payload: Optional[str] = None  # variable each spike carries; projections weight the spike by it

    @property
    def neuron_parameters(self):
        return tuple(p for p in self.parameters if not p.shared)

    @property
    def shared_parameters(self):
        return tuple(p for p in self.parameters if p.shared)

    @property
    def variables(self):
        return tuple(e.name for e in self.equations)

    @property
    def spiking(self):
        return self.spike is not None

    @property
    def cleared_inputs(self):
        """Inputs without an ODE of their own: they hold one step's events and are cleared after it."""
        return tuple(g for g in self.inputs if g not in self.variables)

    @property
    def state_names(self):
        """Variables, then the cleared inputs (an input with an ODE is a variable too)."""
        return self.variables + self.cleared_inputs

    def attribute_names(self):
        """Every name a Population exposes for this model."""
        return tuple(p.name for p in self.parameters) + self.state_names

    def initial_values(self):
        values = {p.name: p.value for p in self.parameters}
        values.update({g: 0.0 for g in self.inputs})
        values.update({e.name: e.init for e in self.equations})
        return values
