"""Integration schemes as small descriptions: each maps (variable, rhs, dt) to the new value.

The update is written in terms of the *old* state only, so every ODE of a
model is evaluated before any is written (two-phase update).
"""
from dataclasses import dataclass
from typing import Callable

import sympy

from .errors import EquationError
from .symbols import RANDOM_FUNCTIONS


@dataclass(frozen=True)
class Integrator:
    name: str
    description: str
    new_value: Callable  # (var, rhs, derivative_symbol, dt) -> sympy expression


def _euler(var, rhs, derivative, dt):
    # v + dt*dv, with dv the already-evaluated right-hand side
    return sympy.Add(var, sympy.Mul(dt, derivative, evaluate=False), evaluate=False)


def split_linear(var, rhs):
    """Return (A, B) with rhs == A + B*var, or raise if rhs is not linear in var."""
    expanded = sympy.expand(rhs.doit())
    if expanded.has(*RANDOM_FUNCTIONS):
        raise EquationError("the exponential integrator does not accept random draws in the equation")
    slope = sympy.simplify(sympy.diff(expanded, var))
    if slope.has(var):
        raise EquationError(f"'exponential' needs an ODE linear in '{var}', but d{var}/dt is not linear in it",
                            symbol=str(var))
    if slope == 0:
        raise EquationError(f"'exponential' needs d{var}/dt to depend on '{var}'", symbol=str(var))
    offset = sympy.simplify(expanded - slope * var)
    return offset, slope


def _exponential(var, rhs, derivative, dt):
    offset, slope = split_linear(var, rhs)
    steady = -offset / slope
    return steady + (var - steady) * sympy.exp(slope * dt)


INTEGRATORS = {
    "euler": Integrator("euler", "explicit Euler: v += dt * f(v)", _euler),
    "exponential": Integrator(
        "exponential", "exact for dv/dt = A + B*v with A, B free of v: v = -A/B + (v + A/B) * exp(B*dt)",
        _exponential),
}
