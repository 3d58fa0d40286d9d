"""sympy → C++ for float32 kernels.

Prints the tree in the order it was written (every binary node in
parentheses), float32 literals, and ``std::`` maths. Symbol names are mapped
to C++ expressions in one place, :attr:`names`, so indexing decisions live in
the kernel builder, not here.
"""
import numpy as np
import sympy
from sympy.printing.cxx import CXX17CodePrinter

from .symbols import Clip, Modulo, RandomNormal, RandomUniform


def float_literal(value):
    """An exact float32 literal: 9 significant digits identify a float32."""
    text = format(float(np.float32(value)), ".9g")
    if not any(c in text for c in ".einf"):
        text += ".0"
    if text in ("inf", "-inf", "nan"):
        raise ValueError(f"non-finite constant {value}")
    return text + "f"


class KernelPrinter(CXX17CodePrinter):
    """C++ printer for one kernel; ``names`` maps user symbol names to C++ expressions."""

    def __init__(self, names, random_key="rng_key"):
        super().__init__({"order": "none"})
        self.names = dict(names)
        self.random_key = random_key

    # -- atoms ---------------------------------------------------------------
    def _print_Symbol(self, expr):
        try:
            return self.names[expr.name]
        except KeyError:
            raise KeyError(f"no C++ name for symbol '{expr.name}'") from None

    def _print_Number(self, expr):
        return float_literal(float(expr))

    _print_Integer = _print_Rational = _print_Float = _print_Number
    _print_Zero = _print_One = _print_NegativeOne = _print_Half = _print_Number

    def _print_BooleanTrue(self, expr):
        return "true"

    def _print_BooleanFalse(self, expr):
        return "false"

    # -- arithmetic, in written order ----------------------------------------
    @staticmethod
    def _negated(expr):
        """x for expr == -1*x, else None."""
        if isinstance(expr, sympy.Mul) and len(expr.args) == 2 and expr.args[0] == -1:
            return expr.args[1]
        return None

    @staticmethod
    def _reciprocal(expr):
        if isinstance(expr, sympy.Pow) and expr.args[1] == -1:
            return expr.args[0]
        return None

    def _print_Add(self, expr):
        args = expr.args
        text = self._print(args[0])
        for term in args[1:]:
            negated = self._negated(term)
            if negated is not None:
                text = f"({text} - {self._print(negated)})"
            else:
                text = f"({text} + {self._print(term)})"
        return text

    def _print_Mul(self, expr):
        args = list(expr.args)
        negated = self._negated(expr)
        if negated is not None:
            return f"(-{self._print(negated)})"
        first = self._reciprocal(args[0])
        text = f"(1.0f / {self._print(first)})" if first is not None else self._print(args[0])
        for factor in args[1:]:
            denominator = self._reciprocal(factor)
            if denominator is not None:
                text = f"({text} / {self._print(denominator)})"
            else:
                text = f"({text} * {self._print(factor)})"
        return text

    def _print_Pow(self, expr):
        base, exponent = expr.args
        if exponent.is_Integer and 2 <= int(exponent) <= 4:
            b = self._print(base)
            return "(" + " * ".join([b] * int(exponent)) + ")"
        if exponent == 1:
            return self._print(base)
        if exponent == -1:
            return f"(1.0f / {self._print(base)})"
        if exponent == sympy.Rational(1, 2):
            return f"std::sqrt({self._print(base)})"
        return f"std::pow({self._print(base)}, {self._print(exponent)})"

    # -- functions ------------------------------------------------------------
    def _call(self, name, expr):
        return f"{name}(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_exp(self, expr):
        return self._call("std::exp", expr)

    def _print_log(self, expr):
        return self._call("std::log", expr)

    def _print_sin(self, expr):
        return self._call("std::sin", expr)

    def _print_cos(self, expr):
        return self._call("std::cos", expr)

    def _print_tanh(self, expr):
        return self._call("std::tanh", expr)

    def _print_floor(self, expr):
        return self._call("std::floor", expr)

    def _print_ceiling(self, expr):
        return self._call("std::ceil", expr)

    def _print_Abs(self, expr):
        return self._call("std::fabs", expr)

    def _print_Min(self, expr):
        args = [self._print(a) for a in expr.args]
        text = args[0]
        for a in args[1:]:
            text = f"annsnn_min({text}, {a})"
        return text

    def _print_Max(self, expr):
        args = [self._print(a) for a in expr.args]
        text = args[0]
        for a in args[1:]:
            text = f"annsnn_max({text}, {a})"
        return text

    def _print_Function(self, expr):
        if isinstance(expr, Modulo):
            return self._call("annsnn_mod", expr)
        if isinstance(expr, Clip):
            x, lo, hi = (self._print(a) for a in expr.args)
            return f"annsnn_min(annsnn_max({x}, {lo}), {hi})"
        if isinstance(expr, (RandomUniform, RandomNormal)):
            a, b, site = expr.args
            kind = "annsnn_uniform" if isinstance(expr, RandomUniform) else "annsnn_normal"
            return f"{kind}({self.random_key}, {int(site)}u, {self._print(a)}, {self._print(b)})"
        raise NotImplementedError(f"no C++ translation for function {type(expr).__name__}")

    # -- conditions -------------------------------------------------------------
    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " && ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " || ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(!{self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):
        (value, cond), (default, _) = expr.args
        return f"({self._print(cond)} ? {self._print(value)} : {self._print(default)})"


def print_cxx(expr, names, random_key="rng_key"):
    return KernelPrinter(names, random_key).doprint(expr)
