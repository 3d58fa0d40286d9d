"""Line grammar of neuron descriptions → :class:`NeuronSpec`.

parameters:  ``tau = 20.0`` or ``vt = 1.0 : population``
equations:   ``dv/dt = rhs : init=-65, min=-90, max=30, exponential`` or ``p = rhs``;
             ``tau * dv/dt = rhs`` is ``dv/dt = rhs / tau``; ``init=`` may also be an expression of
             parameters (``init=v0``, ``init=0.5 * vt``). A synaptic input may have an ODE of its own
             (``tau_e * dg_exc/dt = -g_exc``): it then keeps its value between steps and each spike adds
             its weight to it; an input without one is cleared after every step.
spike:       a condition, ``v > vt``
reset:       ``v = c; u += d`` (newlines or ';')
refractory:  a duration in ms (a number or an expression of parameters): after a spike the neuron
             does not spike and its variables hold, except synaptic inputs and variables flagged
             ``unless_refractory``, which keep integrating (ANNarchy's rule).
"""
import numbers
import re

import sympy

from .errors import EquationError
from .integrators import INTEGRATORS
from .spec import Equation, NeuronSpec, Parameter, ResetStatement
from .symbols import IDENTIFIER, SymbolTable, check_identifier, parse_expression

MAX_STATEMENTS = 500
_ODE_LHS = re.compile(r"(?:(?P<factor>.+)\*)?d(?P<name>[A-Za-z][A-Za-z0-9_]*)/dt\Z")
_RESET_OPERATORS = ("+=", "-=", "*=", "/=", "=")


def split_statements(text, section, *, semicolons=True):
    """Yield (line number, statement) pairs; '#' starts a comment."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise EquationError(f"expected text, got {type(text).__name__}", section=section)
    statements = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0]
        parts = line.split(";") if semicolons else [line]
        for part in parts:
            if part.strip():
                statements.append((number, part.strip()))
    if len(statements) > MAX_STATEMENTS:
        raise EquationError(f"too many statements ({len(statements)}, limit {MAX_STATEMENTS})", section=section)
    return statements


def split_assignment(statement, operators=("=",)):
    """Split 'lhs OP rhs' at the first top-level assignment operator."""
    for i, char in enumerate(statement):
        if char != "=":
            continue
        before = statement[i - 1] if i else ""
        after = statement[i + 1] if i + 1 < len(statement) else ""
        if after == "=" or before in "<>!=":
            continue
        if before in "+-*/" and before + "=" in operators:
            return statement[:i - 1].strip(), before + "=", statement[i + 1:].strip()
        if before in "+-*/":
            raise EquationError(f"operator '{before}=' is not allowed here")
        if "=" in operators:
            return statement[:i].strip(), "=", statement[i + 1:].strip()
    raise EquationError("expected an assignment 'name = expression'")


def _split_flags(statement):
    body, _, flags = statement.partition(":")
    items, depth, current = [], 0, ""
    for char in flags:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        items.append(current.strip())
    return body.strip(), [item for item in items if item]


def _constant(text, what):
    try:
        expr = parse_expression(text, SymbolTable(allow_inputs=False, allow_random=False), boolean=False)
    except EquationError as exc:
        raise EquationError(f"{what} must be a number, got '{text.strip()}' ({exc.message})") from None
    try:
        value = float(expr.doit())
    except (TypeError, ValueError):
        raise EquationError(f"{what} must be a number, got '{text}'") from None
    if value != value or abs(value) == float("inf"):
        raise EquationError(f"{what} must be finite, got '{text}'")
    return value


class _Parser:
    def __init__(self, name, parameters, equations, spike, reset, output, active=None, refractory=None,
                 payload=None):
        self.name = name
        self.payload = payload
        self.sources = dict(parameters=parameters, equations=equations, spike=spike, reset=reset, active=active,
                            refractory=refractory)
        self.output = output
        self.table = SymbolTable.with_builtins()

    def located(self, exc, section, line=None, text=None):
        return exc.located(model=self.name, section=section, line=line, text=text)

    def run(self):
        parameters = self.parse_parameters()
        self.parameter_table = SymbolTable(allow_inputs=False, allow_random=False)
        for parameter in parameters:
            self.parameter_table.add(parameter.name)
        declared = self.declare_equations()
        for name in [p.name for p in parameters] + [d[1] for d in declared]:
            self.table.add(name)
            if name.startswith("g_"):
                self.table.inputs.append(name)
        equations = tuple(self.parse_equation(*d) for d in declared)
        spike = self.parse_spike()
        reset = self.parse_reset(parameters, equations)
        if reset and spike is None:
            raise EquationError("a reset needs a spike condition", model=self.name, section="reset")
        if self.output is not None and self.output not in [e.name for e in equations] + [p.name for p in parameters]:
            raise EquationError(f"output '{self.output}' is not a parameter or variable of the model",
                                model=self.name, section="output", symbol=self.output)
        if self.payload is not None and self.output is not None:
            raise EquationError(f"payload '{self.payload}' cannot be combined with output '{self.output}': a graded "
                                "output is sent every step instead of spikes", model=self.name, section="payload",
                                symbol=self.payload)
        if self.payload is not None and (spike is None or self.payload not in [e.name for e in equations]):
            raise EquationError(f"payload '{self.payload}' must be a variable of a spiking model (each spike "
                                "carries its value)", model=self.name, section="payload", symbol=self.payload)
        active = self.parse_active(parameters)
        refractory = self.parse_refractory(spike)
        return NeuronSpec(name=self.name, parameters=parameters, equations=equations, spike=spike,
                          reset=reset, inputs=tuple(dict.fromkeys(self.table.inputs)),
                          random_sites=self.table.random_sites, output=self.output, active=active,
                          refractory=refractory, payload=self.payload)

    def parse_refractory(self, spike):
        """The refractory period in ms: a number or an expression of parameters (evaluated after each
        spike, so a per-neuron parameter gives per-neuron periods)."""
        text = self.sources["refractory"]
        if text is None:
            return None
        if spike is None:
            raise EquationError("a refractory period needs a spike condition", model=self.name, section="refractory")
        if isinstance(text, bool) or not isinstance(text, (str, numbers.Real)):
            raise EquationError(f"refractory must be a number of ms or an expression of parameters, got "
                                f"{type(text).__name__}", model=self.name, section="refractory")
        try:
            expr = parse_expression(str(text), self.parameter_table, boolean=False)
        except EquationError as exc:
            raise EquationError(f"refractory must be a number of ms or an expression of parameters "
                                f"({exc.message})", model=self.name, section="refractory", text=str(text),
                                symbol=exc.symbol) from None
        if not expr.free_symbols:
            try:
                value = float(expr)
            except (TypeError, ValueError):
                value = float("nan")
            if not value >= 0 or value == float("inf"):
                raise EquationError(f"refractory must be a finite number of ms, at least 0, got {text}",
                                    model=self.name, section="refractory", text=str(text))
        return expr

    def _check_new_name(self, name, seen, section, line, text):
        try:
            check_identifier(name)
        except EquationError as exc:
            raise self.located(exc, section, line, text) from None
        if name in seen:
            raise EquationError(f"'{name}' is declared twice (first on {seen[name]})", model=self.name,
                                section=section, line=line, text=text, symbol=name)

    def parse_parameters(self):
        params, self.seen = [], {}
        for line, statement in split_statements(self.sources["parameters"], "parameters"):
            try:
                body, flags = _split_flags(statement)
                lhs, _, rhs = split_assignment(body)
                self._check_new_name(lhs, self.seen, "parameters", line, statement)
                shared = False
                for flag in flags:
                    if flag != "population":
                        raise EquationError(f"unknown parameter flag '{flag}' (known: population)")
                    shared = True
                value = _constant(rhs, f"parameter '{lhs}'")
            except EquationError as exc:
                raise self.located(exc, "parameters", line, statement) from None
            self.seen[lhs] = f"parameters line {line}"
            params.append(Parameter(lhs, value, shared, line))
        return tuple(params)

    def declare_equations(self):
        declared = []
        for line, statement in split_statements(self.sources["equations"], "equations"):
            try:
                body, flags = _split_flags(statement)
                lhs, _, rhs = split_assignment(body)
                match = _ODE_LHS.match(lhs.replace(" ", ""))
                kind, name = ("ode", match.group("name")) if match else ("assignment", lhs)
                factor = match.group("factor") if match else None
                if kind == "ode" and name.startswith("g_"):  # an input with dynamics: g_<target>
                    if len(name) < 3 or not IDENTIFIER.match(name):
                        raise EquationError(f"'{name}' is not a valid input name (g_ and a target)", symbol=name)
                else:
                    self._check_new_name(name, self.seen, "equations", line, statement)
                if name in self.seen:
                    raise EquationError(f"'{name}' is declared twice (first on {self.seen[name]})", symbol=name)
            except EquationError as exc:
                raise self.located(exc, "equations", line, statement) from None
            self.seen[name] = f"equations line {line}"
            declared.append((kind, name, rhs, factor, flags, line, statement))
        return declared

    def parse_equation(self, kind, name, rhs_text, factor_text, flags, line, statement):
        try:
            rhs = parse_expression(rhs_text, self.table, boolean=False)
            if factor_text is not None:  # tau * dv/dt = rhs  ->  dv/dt = rhs / tau; tau of parameters
                factor = parse_expression(factor_text, self.parameter_table, boolean=False)
                rhs = sympy.Mul(rhs, sympy.Pow(factor, sympy.Integer(-1), evaluate=False), evaluate=False)
            init, lower, upper, method = 0.0, None, None, "euler" if kind == "ode" else ""
            unless_refractory = False
            for flag in flags:
                key, _, value = flag.partition("=")
                key = key.strip()
                if key == "unless_refractory" and not value:
                    unless_refractory = True
                elif key == "init" and value:
                    init = self._initial_value(value, name)
                elif key in ("min", "max") and value:
                    bound = parse_expression(value, self.table, boolean=False)
                    lower, upper = (bound, upper) if key == "min" else (lower, bound)
                elif key in INTEGRATORS and not value:
                    if kind != "ode":
                        raise EquationError(f"'{key}' applies to ODEs only")
                    method = key
                else:
                    raise EquationError(f"unknown equation flag '{flag}' "
                                        f"(known: init=, min=, max=, unless_refractory, {', '.join(INTEGRATORS)})")
            if method == "exponential":
                INTEGRATORS[method].new_value(self.table.symbols[name], rhs, None, self.table.symbols["dt"])
        except EquationError as exc:
            raise self.located(exc, "equations", line, statement) from None
        return Equation(name, kind, rhs, init, lower, upper, method, line, statement, unless_refractory)

    def _initial_value(self, text, name):
        """A number, or an expression of the model's parameters evaluated per neuron at each reset
        (so a parameter can set where a variable starts, e.g. a membrane at half threshold)."""
        try:
            expr = parse_expression(text, self.parameter_table, boolean=False)
        except EquationError as exc:
            raise EquationError(f"init of '{name}' must be a number or an expression of parameters, got "
                                f"'{text.strip()}' ({exc.message})", symbol=exc.symbol) from None
        return _constant(text, f"init of '{name}'") if not expr.free_symbols else expr

    def _condition_text(self, section):
        """(first line, the section's lines joined) of a one-condition section, or None when it is empty."""
        statements = split_statements(self.sources[section], section, semicolons=False)
        if not statements:
            return None
        return statements[0][0], " ".join(s for _, s in statements)

    def parse_spike(self):
        condition = self._condition_text("spike")
        if condition is None:
            return None
        line, joined = condition
        try:
            return parse_expression(joined, self.table, boolean=True)
        except EquationError as exc:
            raise self.located(exc, "spike", line, joined) from None

    def parse_active(self, parameters):
        """The ``active`` condition: the population updates only on steps where it holds. It may use
        ``: population`` parameters, t and dt, so that it is decided once per step for all neurons."""
        condition = self._condition_text("active")
        if condition is None:
            return None
        if self.output is not None:
            raise EquationError(f"an active condition cannot be combined with output '{self.output}': a graded "
                                "value is sent every step", model=self.name, section="active")
        line, text = condition
        table = SymbolTable.with_builtins(allow_inputs=False, allow_random=False)
        for parameter in parameters:
            if parameter.shared:
                table.add(parameter.name)
        try:
            return parse_expression(text, table, boolean=True)
        except EquationError as exc:
            if exc.symbol and exc.symbol in self.seen:
                exc = EquationError(f"'{exc.symbol}' is per neuron; the active condition may use only "
                                    "': population' parameters, t and dt (it holds for all neurons at once)",
                                    symbol=exc.symbol)
            raise self.located(exc, "active", line, text) from None

    def parse_reset(self, parameters, equations):
        writable = {e.name for e in equations} | {p.name for p in parameters if not p.shared}
        shared = {p.name for p in parameters if p.shared}
        statements = []
        for line, statement in split_statements(self.sources["reset"], "reset"):
            try:
                target, op, rhs = split_assignment(statement, _RESET_OPERATORS)
                if target in shared:
                    raise EquationError(f"reset assigns to '{target}', a parameter marked population; "
                                        "declare it without ': population' to change it per neuron", symbol=target)
                if target not in writable:
                    self.table.lookup(target)  # raises 'unknown symbol' for undeclared names
                    raise EquationError(f"reset cannot assign to '{target}'", symbol=target)
                expr = parse_expression(rhs, self.table, boolean=False)
            except EquationError as exc:
                raise self.located(exc, "reset", line, statement) from None
            statements.append(ResetStatement(target, op, expr, line, statement))
        return tuple(statements)


def parse_neuron(name, parameters="", equations="", spike=None, reset=None, output=None, active=None,
                 refractory=None, payload=None):
    """Parse a neuron description into a :class:`NeuronSpec` (raises :class:`EquationError`)."""
    if not isinstance(name, str) or not name.strip():
        raise EquationError("a neuron needs a non-empty name")
    return _Parser(name, parameters, equations, spike, reset, output, active, refractory, payload).run()


def free_names(expr):
    """User-visible names used by an expression."""
    return {s.name for s in expr.free_symbols} if isinstance(expr, sympy.Basic) else set()
