"""Neuron spec → the C++ snippets the neuron-update template renders.

Naming: a user name ``x`` is the C++ local ``u_x`` (so ``int`` or ``class``
are safe), its buffer is ``P.pop<k>_x``; generated helpers never start with
``u_``. Sub-expressions that depend only on population-level values (shared
parameters, ``t``, ``dt``) are hoisted out of the neuron loop.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import sympy

from .errors import EquationError
from .integrators import INTEGRATORS
from .printer import KernelPrinter
from .symbols import RANDOM_FUNCTIONS, SymbolTable, parse_expression

POPULATION_LEVEL_BUILTINS = ("t", "dt")
#: Hidden per-neuron state of models with a refractory period: the steps it has left. Not a valid user
#: name (it starts with '_'), so it cannot collide with one.
REFRACTORY_STATE = "_refractory_left"


def local_name(name):
    return "u_" + name


@dataclass
class StopCondition:
    """A compiled stop condition of a population (``simulate_until``)."""
    index: int
    text: str
    code: str
    mode: str  # "any" | "all"


@dataclass
class NeuronKernel:
    pop_id: int
    prefix: str                     # buffer prefix, "pop<k>"
    size: int
    shared: List[str]               # shared parameter names
    per_neuron: List[str]           # per-neuron parameters, variables and inputs
    stored: List[str]               # names written back after update and reset
    inputs: List[str]
    hoisted: List[Tuple[str, str]]  # (C++ local, expression)
    body: List[str]                 # statements inside the neuron loop before the spike test
    spike: str                      # condition, "" for non-spiking models
    reset: List[str]
    uses_random: bool
    stop_conditions: List[StopCondition] = field(default_factory=list)
    checked: List[str] = field(default_factory=list)  # variables scanned for NaN/inf
    dedupe: bool = False            # identical neurons may share one update (see begin_/end_ in the template)
    active: str = ""                # condition for updating at all this step ("": every step)
    template: str = "neuron_update.hpp.j2"  # the kernel kind that renders it


class _Hoister:
    """Replaces population-level sub-expressions by symbols computed once per step."""

    def __init__(self, population_level, names):
        self.population_level = set(population_level)
        self.names = names     # the printer's name map; hoisted symbols are added to it
        self.hoisted = []      # (symbol, expression)
        self.known = {}

    def _is_population_level(self, expr):
        if expr.is_Atom or expr.has(*RANDOM_FUNCTIONS):
            return False
        names = {s.name for s in expr.free_symbols}
        return bool(names) and names <= self.population_level

    def __call__(self, expr):
        if expr is None or expr.is_Atom:
            return expr
        if self._is_population_level(expr) and not isinstance(expr, sympy.core.relational.Relational):
            if expr not in self.known:
                symbol = sympy.Symbol(f"hoisted_{len(self.hoisted)}", real=True)
                self.known[expr] = symbol
                self.names[symbol.name] = symbol.name
                self.hoisted.append((symbol, expr))
            return self.known[expr]
        args = [self(a) for a in expr.args]
        if all(new is old for new, old in zip(args, expr.args)):
            return expr
        try:
            return expr.func(*args, evaluate=False)
        except TypeError:
            return expr.func(*args)


def _clamp(target, eq, printer, hoist):
    lines = []
    if eq.lower is not None:
        lines.append(f"if ({target} < {printer.doprint(hoist(eq.lower))}) {target} = {printer.doprint(hoist(eq.lower))};")
    if eq.upper is not None:
        lines.append(f"if ({target} > {printer.doprint(hoist(eq.upper))}) {target} = {printer.doprint(hoist(eq.upper))};")
    return lines


def build_neuron_kernel(pop_id, spec, size, stop_conditions=(), independent=False):
    """Render-ready description of one population's fused update/spike/reset loop.

    An ``independent`` spiking population (it receives no projection and no projection reads its values)
    that draws no random numbers evolves each neuron from its own fields alone, so neurons with
    identical fields stay identical: its kernel may update one prototype per group of them (``dedupe``).
    """
    prefix = f"pop{pop_id}"
    shared = [p.name for p in spec.shared_parameters]
    per_neuron = [p.name for p in spec.neuron_parameters] + list(spec.state_names)
    refractory = spec.refractory is not None
    if refractory:
        per_neuron.append(REFRACTORY_STATE)
    names = {n: local_name(n) for n in shared + per_neuron}
    names.update({"t": "t_now", "dt": "dt", "spiked": "spiked_now"})
    printer = KernelPrinter(names)
    hoist = _Hoister(shared + list(POPULATION_LEVEL_BUILTINS), printer.names)

    def held(eq):
        """During the refractory period a variable keeps its value, unless it is a synaptic input or
        flagged unless_refractory."""
        return refractory and not eq.name.startswith("g_") and not eq.unless_refractory

    body, updates = [], []
    if refractory:
        body.append(f"const bool refractory_now = {local_name(REFRACTORY_STATE)} > 0.0f;")
    for eq in spec.equations:
        target = local_name(eq.name)
        if eq.kind == "assignment":
            value = printer.doprint(hoist(eq.rhs))
            body.append(f"{target} = refractory_now ? {target} : {value};" if held(eq) else f"{target} = {value};")
            body.extend(_clamp(target, eq, printer, hoist))
            continue
        var = sympy.Symbol(eq.name, real=True)
        dt = sympy.Symbol("dt", real=True)
        new_value = INTEGRATORS[eq.method].new_value(var, eq.rhs, eq.rhs, dt)
        body.append(f"const float next_{eq.name} = {printer.doprint(hoist(new_value))};")
        updates.append((target, eq))
    for target, eq in updates:  # second phase: every right-hand side was read before this
        body.append(f"{target} = refractory_now ? {target} : next_{eq.name};" if held(eq)
                    else f"{target} = next_{eq.name};")
        body.extend(_clamp(target, eq, printer, hoist))
    if refractory:  # one step of the period has passed
        countdown = local_name(REFRACTORY_STATE)
        body.append(f"{countdown} = refractory_now ? {countdown} - 1.0f : {countdown};")

    reset = []
    for statement in spec.reset:
        target = local_name(statement.target)
        value = printer.doprint(hoist(statement.expr))
        if statement.operator == "=":
            reset.append(f"{target} = {value};")
        else:
            reset.append(f"{target} = {target} {statement.operator[0]} {value};")

    if refractory:  # whole steps, the nearest to the period
        steps = sympy.floor(sympy.Add(sympy.Mul(spec.refractory, sympy.Pow(sympy.Symbol("dt", real=True), -1,
                                                                          evaluate=False), evaluate=False),
                                      sympy.Float(0.5), evaluate=False), evaluate=False)
        reset.append(f"{local_name(REFRACTORY_STATE)} = {printer.doprint(hoist(steps))};")

    spike = printer.doprint(hoist(spec.spike)) if spec.spike is not None else ""
    if refractory:
        spike = f"(!refractory_now && {spike})"
    reset_targets = [s.target for s in spec.reset] + ([REFRACTORY_STATE] if refractory else [])
    stored = [n for n in per_neuron if n in spec.variables or n in reset_targets]

    compiled_stops = []
    for index, text in stop_conditions:
        condition, mode = parse_stop_condition(text, spec)
        compiled_stops.append(StopCondition(index, text, printer.doprint(hoist(condition)), mode))

    active = printer.doprint(spec.active) if spec.active is not None else ""
    hoisted = [(s.name, printer.doprint(e)) for s, e in hoist.hoisted]
    return NeuronKernel(pop_id=pop_id, prefix=prefix, size=size, shared=shared, per_neuron=per_neuron,
                        stored=stored, inputs=list(spec.cleared_inputs), hoisted=hoisted, body=body, spike=spike,
                        reset=reset, uses_random=spec.random_sites > 0,
                        stop_conditions=compiled_stops, active=active,
                        checked=list(spec.variables),
                        dedupe=bool(spike) and spec.random_sites == 0 and independent
                        and not compiled_stops)


def parse_stop_condition(text, spec):
    """'expr' or 'expr : any|all' over the model's names plus ``spiked``."""
    body, _, mode = text.partition(":")
    mode = mode.strip() or "any"
    if mode not in ("any", "all"):
        raise EquationError(f"stop condition mode must be 'any' or 'all', got '{mode}'",
                            model=spec.name, section="stop condition", text=text)
    table = SymbolTable.with_builtins(allow_inputs=False, allow_random=False)
    for name in spec.attribute_names():
        table.add(name)
    table.add("spiked", flag=True)
    try:
        condition = parse_expression(body, table, boolean=True)
    except EquationError as exc:
        raise exc.located(model=spec.name, section="stop condition", text=text) from None
    return condition, mode
