"""Text → sympy through an explicit symbol table.

User text is tokenised and parsed with Python's ``ast`` and every name is
looked up in a :class:`SymbolTable`; nothing is handed to ``sympify``. So
``beta``, ``E``, ``gamma`` or ``lambda`` stay plain user variables.

Expressions are built with ``evaluate=False`` so that the tree keeps the
order of operations the user wrote. The C++ printer prints that tree as it
is, which makes float32 results reproducible by an independent oracle that
evaluates the text in the same order.
"""
import ast
import io
import keyword
import re
import tokenize
from dataclasses import dataclass, field

import sympy

from .errors import EquationError

MAX_EXPRESSION_LENGTH = 4000
MAX_EXPRESSION_DEPTH = 60
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# Python keywords the user may still use as plain names (``lambda``, ``class``...).
_KEYWORD_PREFIX = "_kw_"
_OPERATOR_KEYWORDS = {"and", "or", "not", "True", "False", "if", "else"}

BUILTIN_VARIABLES = ("t", "dt")


class Modulo(sympy.Function):
    """Floor modulo, ``a - b*floor(a/b)`` (sign of the divisor, as in Python)."""
    nargs = 2


class Clip(sympy.Function):
    """``clip(x, lo, hi)``."""
    nargs = 3


class RandomUniform(sympy.Function):
    """``Uniform(a, b)``; the third argument is the draw site, unique per occurrence."""
    nargs = 3


class RandomNormal(sympy.Function):
    """``Normal(mu, sigma)``; the third argument is the draw site."""
    nargs = 3


RANDOM_FUNCTIONS = (RandomUniform, RandomNormal)


class FlagSymbol(sympy.Symbol):
    """A true/false name such as ``spiked``: usable as a condition on its own."""


def is_condition(expr):
    """True for relations, logic and flags (plain sympy Symbols are Booleans too, so test the kinds)."""
    return isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanFunction,
                             sympy.logic.boolalg.BooleanAtom, FlagSymbol))


def _min(a, b):
    return sympy.Min(a, b, evaluate=False)


def _max(a, b):
    return sympy.Max(a, b, evaluate=False)


def _ite(cond, a, b):
    if not is_condition(cond):
        raise EquationError("the first argument of ite() must be a condition such as 'v > 0'")
    return sympy.Piecewise((a, cond), (b, True), evaluate=False)


# name -> (arity, builder). The builder receives sympy arguments.
FUNCTIONS = {
    "exp": (1, lambda x: sympy.exp(x, evaluate=False)),
    "log": (1, lambda x: sympy.log(x, evaluate=False)),
    "sqrt": (1, lambda x: sympy.Pow(x, sympy.Rational(1, 2), evaluate=False)),
    "abs": (1, lambda x: sympy.Abs(x, evaluate=False)),
    "sin": (1, lambda x: sympy.sin(x, evaluate=False)),
    "cos": (1, lambda x: sympy.cos(x, evaluate=False)),
    "tanh": (1, lambda x: sympy.tanh(x, evaluate=False)),
    "floor": (1, lambda x: sympy.floor(x, evaluate=False)),
    "ceil": (1, lambda x: sympy.ceiling(x, evaluate=False)),
    "pow": (2, lambda x, y: sympy.Pow(x, y, evaluate=False)),
    "modulo": (2, lambda x, y: Modulo(x, y, evaluate=False)),
    "min": (2, _min),
    "max": (2, _max),
    "clip": (3, lambda x, lo, hi: Clip(x, lo, hi, evaluate=False)),
    "ite": (3, _ite),
    "Uniform": (2, None),  # built with a site index, see _random
    "Normal": (2, None),
}
RESERVED_NAMES = frozenset(FUNCTIONS) | frozenset(BUILTIN_VARIABLES) | {"spiked"}


@dataclass
class SymbolTable:
    """The names an expression may use, each mapped to a sympy Symbol.

    ``symbols`` holds the user's parameters and variables and the builtins;
    ``allow_inputs`` lets ``g_<target>`` names appear (they are created on
    first use and collected in ``inputs``); ``random_sites`` counts draw sites
    so that each ``Uniform``/``Normal`` occurrence is an independent draw.
    """
    symbols: dict = field(default_factory=dict)
    allow_inputs: bool = True
    allow_random: bool = True
    inputs: list = field(default_factory=list)
    random_sites: int = 0

    @classmethod
    def with_builtins(cls, **kwargs):
        table = cls(**kwargs)
        for name in BUILTIN_VARIABLES:
            table.symbols[name] = sympy.Symbol(name, real=True)
        return table

    def add(self, name, flag=False):
        self.symbols[name] = FlagSymbol(name) if flag else sympy.Symbol(name, real=True)
        return self.symbols[name]

    def lookup(self, name):
        if name in self.symbols:
            return self.symbols[name]
        if self.allow_inputs and name.startswith("g_") and IDENTIFIER.match(name) and len(name) > 2:
            self.inputs.append(name)
            return self.add(name)
        if name in FUNCTIONS:
            raise EquationError(f"'{name}' is a function; call it as {name}(...)", symbol=name)
        raise EquationError(f"unknown symbol '{name}'", symbol=name)


def check_identifier(name):
    """Reject names that cannot be user identifiers (reserved or malformed)."""
    if not IDENTIFIER.match(name):
        raise EquationError(f"'{name}' is not a valid name (letters, digits and '_', starting with a letter)",
                            symbol=name)
    if name in RESERVED_NAMES:
        raise EquationError(f"'{name}' is a built-in name and cannot be declared", symbol=name)
    if name.startswith("g_"):
        raise EquationError(f"'{name}' is a synaptic input name (g_<target>): it cannot be a parameter or an "
                            f"assignment; give it dynamics with an ODE instead (d{name}/dt = ...)", symbol=name)


def _protect_keywords(text):
    """Rename Python keywords used as names so that ``ast`` accepts them."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raise EquationError("syntax error: unbalanced brackets or unterminated text") from None
    out = []
    for tok in tokens:
        if tok.type == tokenize.NAME and keyword.iskeyword(tok.string) and tok.string not in _OPERATOR_KEYWORDS:
            tok = tok._replace(string=_KEYWORD_PREFIX + tok.string)
        out.append((tok.type, tok.string))
    return tokenize.untokenize(out)


def _user_name(name):
    return name[len(_KEYWORD_PREFIX):] if name.startswith(_KEYWORD_PREFIX) else name


def parse_expression(text, table, *, boolean=None):
    """Parse ``text`` into a sympy expression using only the names in ``table``.

    ``boolean=True`` demands a condition, ``False`` a number-valued
    expression, ``None`` accepts both. Raises :class:`EquationError`.
    """
    if not isinstance(text, str):
        raise EquationError(f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise EquationError("empty expression")
    if len(stripped) > MAX_EXPRESSION_LENGTH:
        raise EquationError(f"expression is too long ({len(stripped)} characters, limit {MAX_EXPRESSION_LENGTH})")
    if "\n" in stripped or "\r" in stripped:
        raise EquationError("an expression must fit on one line")
    source = _protect_keywords(stripped.replace("^", "**"))
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise EquationError(f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise EquationError("expression is too deeply nested") from None
    try:
        expr = _Converter(table).visit(tree.body, 0)
    except RecursionError:
        raise EquationError("expression is too deeply nested") from None
    is_bool = is_condition(expr)
    if boolean is True and not is_bool:
        raise EquationError("expected a condition such as 'v > vt'")
    if boolean is False and is_bool:
        raise EquationError("expected a numeric expression, got a condition")
    return expr


class _Converter:
    """Walks a Python AST and builds an unevaluated sympy tree."""

    def __init__(self, table):
        self.table = table

    def visit(self, node, depth):
        if depth > MAX_EXPRESSION_DEPTH:
            raise EquationError(f"expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels")
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise EquationError(f"unsupported syntax: {type(node).__name__}")
        return method(node, depth + 1)

    def _number(self, expr, what):
        if is_condition(expr):
            raise EquationError(f"a condition cannot be used as a number in {what}")
        return expr

    def _condition(self, expr, what):
        if not is_condition(expr):
            raise EquationError(f"{what} needs conditions, got a number")
        return expr

    def visit_Constant(self, node, depth):
        value = node.value
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        if isinstance(value, int):
            if abs(value) > 2 ** 53:
                raise EquationError(f"integer constant {value} is too large")
            return sympy.Integer(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise EquationError("constants must be finite")
            return sympy.Float(value)
        raise EquationError(f"unsupported constant {value!r}")

    def visit_Name(self, node, depth):
        return self.table.lookup(_user_name(node.id))

    def visit_BinOp(self, node, depth):
        left = self._number(self.visit(node.left, depth), "arithmetic")
        right = self._number(self.visit(node.right, depth), "arithmetic")
        op = type(node.op).__name__
        if op == "Add":
            return sympy.Add(left, right, evaluate=False)
        if op == "Sub":
            return sympy.Add(left, sympy.Mul(sympy.Integer(-1), right, evaluate=False), evaluate=False)
        if op == "Mult":
            return sympy.Mul(left, right, evaluate=False)
        if op == "Div":
            return sympy.Mul(left, sympy.Pow(right, sympy.Integer(-1), evaluate=False), evaluate=False)
        if op == "Pow":
            return sympy.Pow(left, right, evaluate=False)
        if op == "Mod":
            return Modulo(left, right, evaluate=False)
        raise EquationError(f"unsupported operator {op}")

    def visit_UnaryOp(self, node, depth):
        operand = self.visit(node.operand, depth)
        op = type(node.op).__name__
        if op == "USub":
            operand = self._number(operand, "negation")
            if isinstance(operand, sympy.Number):
                return -operand
            return sympy.Mul(sympy.Integer(-1), operand, evaluate=False)
        if op == "UAdd":
            return self._number(operand, "unary plus")
        if op == "Not":
            return sympy.Not(self._condition(operand, "'not'"))
        raise EquationError(f"unsupported operator {op}")

    def visit_BoolOp(self, node, depth):
        values = [self._condition(self.visit(v, depth), "'and'/'or'") for v in node.values]
        return sympy.And(*values) if isinstance(node.op, ast.And) else sympy.Or(*values)

    _RELATIONS = {"Lt": sympy.StrictLessThan, "Gt": sympy.StrictGreaterThan, "LtE": sympy.LessThan,
                  "GtE": sympy.GreaterThan, "Eq": sympy.Eq, "NotEq": sympy.Ne}

    def visit_Compare(self, node, depth):
        terms = [self._number(self.visit(node.left, depth), "a comparison")]
        terms += [self._number(self.visit(c, depth), "a comparison") for c in node.comparators]
        relations = []
        for op, left, right in zip(node.ops, terms, terms[1:]):
            cls = self._RELATIONS.get(type(op).__name__)
            if cls is None:
                raise EquationError(f"unsupported comparison {type(op).__name__}")
            relations.append(cls(left, right, evaluate=False))
        return relations[0] if len(relations) == 1 else sympy.And(*relations)

    def visit_IfExp(self, node, depth):
        cond = self._condition(self.visit(node.test, depth), "'a if cond else b'")
        return _ite(cond, self._number(self.visit(node.body, depth), "if/else"),
                    self._number(self.visit(node.orelse, depth), "if/else"))

    def visit_Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise EquationError("only plain function calls such as exp(x) are allowed")
        name = _user_name(node.func.id)
        if name not in FUNCTIONS:
            if name in self.table.symbols:
                raise EquationError(f"'{name}' is not a function", symbol=name)
            raise EquationError(f"unknown function '{name}'; known: {', '.join(sorted(FUNCTIONS))}", symbol=name)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise EquationError(f"{name}() takes positional arguments only", symbol=name)
        arity, builder = FUNCTIONS[name]
        if len(node.args) != arity:
            raise EquationError(f"{name}() takes {arity} argument(s), got {len(node.args)}", symbol=name)
        args = [self.visit(a, depth) for a in node.args]
        if name == "ite":
            return builder(args[0], self._number(args[1], "ite"), self._number(args[2], "ite"))
        args = [self._number(a, f"{name}()") for a in args]
        if builder is None:
            return self._random(name, args)
        return builder(*args)

    def _random(self, name, args):
        if not self.table.allow_random:
            raise EquationError(f"{name}() is not allowed here", symbol=name)
        site = sympy.Integer(self.table.random_sites)
        self.table.random_sites += 1
        cls = RandomUniform if name == "Uniform" else RandomNormal
        return cls(args[0], args[1], site, evaluate=False)
