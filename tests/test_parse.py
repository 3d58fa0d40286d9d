"""Neuron text → spec, and the errors that name the line and symbol at fault."""
import pytest
import sympy

from annsnn import EquationError, Neuron
from annsnn.codegen.parse import parse_neuron


def error_of(**kwargs):
    kwargs.setdefault("name", "cell")
    with pytest.raises(EquationError) as info:
        Neuron(**kwargs)
    return info.value


def test_izhikevich_spec():
    spec = parse_neuron("izh", parameters="a = 0.02 : population\nb = 0.2\nI = 0",
                        equations="""
                            dv/dt = 0.04*v^2 + 5*v + 140 - u + I + g_exc : init=-65, min=-90, max=30
                            du/dt = a*(b*v - u) : init=-13  # recovery
                        """, spike="v >= 30", reset="v = -65; u += 8")
    assert [p.name for p in spec.shared_parameters] == ["a"]
    assert spec.variables == ("v", "u") and spec.inputs == ("g_exc",)
    v = spec.equations[0]
    assert (v.kind, v.init, float(v.lower), float(v.upper), v.method) == ("ode", -65.0, -90.0, 30.0, "euler")
    assert [(r.target, r.operator) for r in spec.reset] == [("v", "="), ("u", "+=")]
    assert isinstance(spec.spike, sympy.GreaterThan)


def test_caret_and_double_star_are_both_power():
    a = parse_neuron("a", equations="x = y^3\ny = 2").equations[0].rhs
    b = parse_neuron("b", equations="x = y**3\ny = 2").equations[0].rhs
    assert a == b and isinstance(a, sympy.Pow)


def test_sympy_names_stay_user_symbols():
    spec = parse_neuron("names", parameters="beta = 1\nE = 2\ngamma = 3\nlambda_ = 4\nlambda = 5\nI = 6\nS = 7",
                        equations="x = beta + E + gamma + lambda_ + lambda + I + S")
    assert {s.name for s in spec.equations[0].rhs.free_symbols} == {"beta", "E", "gamma", "lambda_", "lambda",
                                                                   "I", "S"}
    assert all(isinstance(s, sympy.Symbol) for s in spec.equations[0].rhs.free_symbols)


def test_malformed_equation_names_line():
    err = error_of(parameters="tau = 10", equations="dv/dt = -v/tau\ndu/dt = (v - ")
    assert err.line == 2 and err.section == "equations" and "syntax error" in str(err)
    assert "du/dt = (v -" in str(err)


def test_unknown_symbol_names_symbol_and_line():
    err = error_of(parameters="tau = 10", equations="dv/dt = -v/tau\ndw/dt = v + q")
    assert err.symbol == "q" and err.line == 2 and "unknown symbol 'q'" in str(err)


def test_reset_of_population_parameter_is_refused():
    err = error_of(parameters="vt = 1 : population", equations="dv/dt = 1", spike="v > vt", reset="v = 0\nvt = 2")
    assert err.section == "reset" and err.line == 2 and err.symbol == "vt" and "population" in str(err)


def test_exponential_on_nonlinear_ode_is_refused():
    err = error_of(parameters="tau = 10", equations="dv/dt = -v*v/tau : exponential")
    assert "linear" in str(err) and err.line == 1


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(equations="x = exp(1, 2)"), "takes 1 argument"),
    (dict(equations="x = foo(1)"), "unknown function 'foo'"),
    (dict(equations="x = 1 : init=abc"), "must be a number"),
    (dict(equations="x = 1 : wobble"), "unknown equation flag"),
    (dict(parameters="a = 1 : shared"), "unknown parameter flag"),
    (dict(parameters="t = 1"), "built-in name"),
    (dict(parameters="exp = 1"), "built-in name"),
    (dict(parameters="g_exc = 1"), "synaptic input"),
    (dict(equations="x = 1\nx = 2"), "declared twice"),
    (dict(equations="x = (1 > 2) + 1"), "condition cannot be used as a number"),
    (dict(equations="dv/dt = 1", spike="v + 1"), "expected a condition"),
    (dict(equations="dv/dt = 1", reset="v = 0"), "needs a spike condition"),
    (dict(equations="x = a.b"), "unsupported syntax"),
    (dict(equations="x = [1]"), "unsupported syntax"),
    (dict(equations="x = " + "exp(" * 100 + "1" + ")" * 100), "nested"),
    (dict(equations="x = " + "(" * 300 + "1" + ")" * 300), "x = ((("),
    (dict(equations="x = " + "+".join(["1"] * 3000)), "too long"),
    (dict(equations="dv/dt = 1", spike="v > 0", reset="t = 0"), "t"),
])
def test_precise_errors(kwargs, fragment):
    assert fragment in str(error_of(**kwargs))


def test_comments_semicolons_and_builtins():
    spec = parse_neuron("misc", parameters="k = 8 : population  # period", equations=(
        "p = ite(t > 2, modulo(t, k), clip(t, 0, 1)); q = min(p, 3) + max(abs(p), sqrt(4)) + pow(2, 3)\n"
        "r = Uniform(0, 1) + Normal(0, 1) + Uniform(0, 1)"))
    assert spec.variables == ("p", "q", "r") and spec.random_sites == 3
