"""Expression answers (activation-loss-derivative): read a student's text safely into a
SymPy expression, and decide whether two answers are the same function.

Reading never evaluates the text. ``sympy.parsing.sympy_parser.parse_expr`` ends in
Python's ``eval`` (whatever the namespace it is given, ``__builtins__`` comes back), so
the text is parsed by ``ast`` instead and each node is translated by hand: numbers,
+ - * / ** (and ^), calls of a short list of functions, the names of the question's
variables. Anything else (attributes, strings, subscripts, unknown names) is refused
with a message naming it. Sizes are bounded before SymPy sees them, so ``9**9**9**9``
or a megabyte of text is refused at once rather than computed, and the expression is
built unevaluated: SymPy's automatic simplification has no time bound (a fuzzer found
it computing 3**(10**15) inside a sign test), numpy's evaluation at points does.

Equivalence is decided on the functions, not on the spelling: ``a - y``, ``-(y - a)``
and ``sigma(z) - y`` are one answer once ``a`` stands for ``sigma(z)``.

SymPy is imported inside functions: the CLI starts without it (DESIGN.md).
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from qgen.errors import QgenError

if TYPE_CHECKING:
    import sympy

__all__ = [
    "ACTIVATIONS",
    "FUNCTION_NAMES",
    "VARIABLES",
    "AnswerParseError",
    "equivalent",
    "numpy_function",
    "parse_answer",
]

VARIABLES = ("a", "y", "z")
# What ``a`` stands for, by activation; softmax (a = softmax(z)_j) has no scalar form, so
# there ``a`` stays a free symbol.
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "softmax")

# Bounds on what is read. An answer to these questions is a few dozen characters.
MAX_LENGTH = 256  # characters of text
MAX_NODES = 100  # syntax-tree nodes
MAX_DEPTH = 40  # nesting of operations
MAX_LITERAL_DIGITS = 15  # digits of one number literal
MAX_EXPONENT = 64  # |value| of an exponent without variables
MAX_POWER_BITS = 1024  # size of a power of a number: |log2 base| * exponent

# Equivalence, numerically: both sides evaluated in float64 at fixed random points.
# The same real function written two ways differs there by a few roundings on values of
# order 1 (a, y in (0, 1), |z| <= 3), far below 1e-9; a different function differs
# by far more at some of 16 points (two functions agreeing on an open set are equal,
# for the analytic pieces these answers are made of).
EQUIVALENCE_TOLERANCE = 1e-9
EQUIVALENCE_POINTS = 16
# Below this many points where both sides are finite, the numeric test cannot decide and
# SymPy's simplify does, on a difference small enough to simplify quickly.
MIN_FINITE_POINTS = 8
MAX_SIMPLIFY_OPS = 20
MAX_SIMPLIFY_NUMBER = 10**6


class AnswerParseError(QgenError):
    """An answer that cannot be read as an expression; the message says why."""

    def __init__(self, text: str, problem: str):
        self.text, self.problem = text, problem
        shown = text if len(text) <= 40 else text[:37] + "..."
        super().__init__(f"answer {shown!r} cannot be read as an expression: {problem}")


# ---------------------------------------------------------------------------
# The vocabulary an answer may use

def _sigmoid(x):
    import sympy as sp

    return 1 / (1 + sp.exp(-x))


# step, relu, comparisons, max and min are written with Heaviside(x, 0) and Abs, never
# Piecewise or Max: SymPy simplifies a Piecewise's conditions (solving inequalities) and
# orders Max's arguments by asking about their signs, both without a bound on the time.

def _step(x):
    """1 for x > 0, else 0: relu's derivative, with PyTorch's relu'(0) = 0."""
    import sympy as sp

    return sp.Heaviside(x, 0)


def _relu(x):
    return x * _step(x)


def _max(x, y):
    import sympy as sp

    return (x + y + sp.Abs(x - y)) / 2


def _min(x, y):
    import sympy as sp

    return (x + y - sp.Abs(x - y)) / 2


def _functions() -> dict[str, tuple[int, Callable]]:
    """name -> (number of arguments, SymPy builder)."""
    import sympy as sp

    return {
        "sigma": (1, _sigmoid), "sigmoid": (1, _sigmoid), "σ": (1, _sigmoid),
        "tanh": (1, sp.tanh), "exp": (1, sp.exp), "log": (1, sp.log), "ln": (1, sp.log),
        "sqrt": (1, sp.sqrt), "abs": (1, sp.Abs),
        "relu": (1, _relu), "step": (1, _step), "heaviside": (1, _step),
        "max": (2, _max), "min": (2, _min),
    }


FUNCTION_NAMES = ("sigma", "sigmoid", "tanh", "exp", "log", "ln", "sqrt", "abs", "relu",
                  "step", "heaviside", "max", "min")
_CONSTANTS = ("e", "pi")
_SUBSCRIPTED = re.compile(r"^([A-Za-z]+)_([ijk])$")  # a_j, y_j: the subscript may be kept


def _symbol(name: str):
    import sympy as sp

    return sp.Symbol(name, real=True)


def _activation_of(activation: str | None, z):
    if activation is None or activation == "softmax":
        return None
    if activation not in ACTIVATIONS:
        raise QgenError(f"activation={activation!r} must be one of {', '.join(ACTIVATIONS)}")
    if activation == "linear":
        return z
    return _functions()[activation][1](z)  # sigmoid, tanh, relu


# ---------------------------------------------------------------------------
# Reading

# A number directly before a letter or "(" multiplies it (2a, 2(a - y)); not the e of 1e-3.
_NUMBER_THEN_NAME = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?|\.\d+)(?![eE][+-]?\d)\s*(?=[^\W\d]|\()")
# A closing parenthesis directly before a name, a number or "(" multiplies: (a - y)a.
_CLOSE_THEN_OPERAND = re.compile(r"\)\s*(?=[\w(])")
_SPELLINGS = {"−": "-", "–": "-", "·": "*", "⋅": "*", "×": "*", "∗": "*", "²": "**2",
              "³": "**3", "^": "**"}


def _normalize(text: str) -> str:
    for spelling, meaning in _SPELLINGS.items():
        text = text.replace(spelling, meaning)
    text = _NUMBER_THEN_NAME.sub(r"\1*", text)
    return _CLOSE_THEN_OPERAND.sub(")*", text)


class _Reader:
    """Translate an ``ast`` expression node by node; nothing is evaluated."""

    def __init__(self, text: str, variables: tuple[str, ...]):
        self.text, self.variables = text, variables
        self.functions = _functions()
        self.nodes = 0

    def fail(self, problem: str) -> AnswerParseError:
        return AnswerParseError(self.text, problem)

    def read(self, node: ast.AST, depth: int = 0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"it has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise self.fail(f"it nests deeper than {MAX_DEPTH} levels")
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(f"it uses {_describe(node)}, which an answer cannot contain")
        return method(node, depth + 1)

    def _Expression(self, node, depth):
        return self.read(node.body, depth)

    def _Constant(self, node, depth):
        import sympy as sp

        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"it contains {_describe(node)}; only numbers and names are "
                            "allowed")
        if isinstance(value, int):
            if len(str(value)) > MAX_LITERAL_DIGITS:
                raise self.fail(f"a number has more than {MAX_LITERAL_DIGITS} digits")
            return sp.Integer(value)
        if not np.isfinite(value):
            raise self.fail("a number is too large")
        # The decimal as written, exactly: 0.5 is 1/2, so 0.5*(a - y) equals (a - y)/2.
        return sp.Rational(repr(value))

    def _Name(self, node, depth):
        import sympy as sp

        name = node.id
        match = _SUBSCRIPTED.match(name)
        if match and match.group(1) in self.variables:
            name = match.group(1)
        if name in self.variables:
            return _symbol(name)
        if name == "e":
            return sp.E
        if name == "pi":
            return sp.pi
        if name in self.functions:
            raise self.fail(f"{name} is a function: write {name}(...)")
        raise self.fail(f"unknown name {name!r} (use the variables "
                        f"{', '.join(self.variables)} and the functions "
                        f"{', '.join(FUNCTION_NAMES)})")

    def _UnaryOp(self, node, depth):
        operand = self.read(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(f"it uses the operator {_describe(node.op)}")

    def _BinOp(self, node, depth):
        left, right = self.read(node.left, depth), self.read(node.right, depth)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, (ast.Pow, ast.BitXor)):
            return self._power(left, right)
        raise self.fail(f"it uses the operator {_describe(op)}")

    def _power(self, base, exponent):
        """base**exponent, refused when it would be huge: numpy's evaluation computes a
        power of Python integers exactly, and simplify (the last resort of equivalent)
        splits 0.5**(10**15 - x) into an exact 0.5**(10**15). So exponents without
        variables, and powers of numbers, are bounded, and only e takes a variable
        exponent."""
        import sympy as sp

        if exponent.free_symbols:
            if not base.free_symbols and base != sp.E:
                raise self.fail(f"a number ({_short(base)}) is raised to a power with "
                                "variables; only e may be (write exp(...))")
            return sp.Pow(base, exponent)
        e = _constant_value(exponent)
        if e is None or abs(e) > MAX_EXPONENT:
            shown = _short(exponent) if e is None else f"{abs(e):.3g}"
            raise self.fail(f"an exponent ({shown}) is larger than {MAX_EXPONENT} in "
                            "absolute value")
        if base.is_Pow and not base.exp.free_symbols:
            # (x**n)**m becomes x**(n*m): bound the power SymPy will hold.
            inner = _constant_value(base.exp)
            if inner is None or abs(inner * e) > MAX_EXPONENT:
                raise self.fail(f"a power of a power ({_short(base)})**{_short(exponent)} "
                                f"has an exponent larger than {MAX_EXPONENT}")
        if not base.free_symbols:
            b = _constant_value(base)
            bits = 0.0 if b in (None, 0) else abs(math.log2(abs(b)))
            if b is None or bits * abs(e) > MAX_POWER_BITS:
                raise self.fail(f"a power ({_short(base)}**{_short(exponent)}) is too large")
        return sp.Pow(base, exponent)

    def _Compare(self, node, depth):
        """``(z > 0)`` is an indicator: 1 where it holds, else 0 (at equality too for a
        strict comparison, 1 for a non-strict one)."""
        import sympy as sp

        if len(node.ops) != 1:
            raise self.fail("a comparison chains more than two sides")
        left, right = self.read(node.left, depth), self.read(node.comparators[0], depth)
        op = type(node.ops[0])
        if op not in (ast.Gt, ast.Lt, ast.GtE, ast.LtE):
            raise self.fail(f"it uses the comparison {_describe(node.ops[0])}")
        if op in (ast.Lt, ast.LtE):
            left, right = right, left
        difference = left if right == 0 else -right if left == 0 else left - right
        self.needs_variable(difference, "a comparison")
        return sp.Heaviside(difference, 0 if op in (ast.Gt, ast.Lt) else 1)

    def needs_variable(self, expr, what: str) -> None:
        """Functions and comparisons apply to the variables: of a number alone SymPy
        would compute the value, at whatever precision deciding it takes."""
        if not expr.free_symbols:
            raise self.fail(f"{what} of a number alone ({_short(expr)}); apply it to the "
                            f"variables, and write a number's value (e for exp(1))")

    def _Call(self, node, depth):
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail("a function is given keyword or starred arguments")
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in self.functions:
            arity, build = self.functions[name]
            if len(node.args) != arity:
                raise self.fail(f"{name} takes {arity} argument{'s' if arity > 1 else ''}, "
                                f"not {len(node.args)}")
            args = [self.read(arg, depth) for arg in node.args]
            if not any(arg.free_symbols for arg in args):
                self.needs_variable(args[0], f"{name}(...)")
            return build(*args)
        # Not a function: a variable or bracket before "(" multiplies, a(1 - a).
        if len(node.args) != 1:
            raise self.fail(f"{name or 'a bracket'} is not a function, and cannot take "
                            f"{len(node.args)} arguments")
        return self.read(node.func, depth) * self.read(node.args[0], depth)


def _numpy_function(symbols: tuple, expr) -> Callable:
    """expr as a numpy function of symbols. Heaviside goes to numpy.heaviside by name:
    SymPy's printer would rewrite it as a Piecewise and simplify the condition."""
    import sympy as sp

    step = sp.Function("heaviside_numpy")
    with sp.evaluate(False):
        plain = expr.replace(sp.Heaviside, step)
    return sp.lambdify(symbols, plain, modules=[{"heaviside_numpy": np.heaviside}, "numpy"])


def numpy_function(text: str, variables: Iterable[str] = VARIABLES, *,
                   activation: str | None = None) -> Callable:
    """The answer as a numpy function of ``variables``, in that order (with
    ``activation``, of the variables other than a). Raises AnswerParseError."""
    variables = tuple(variables)
    expr = parse_answer(text, variables, activation=activation)
    names = [v for v in variables if not (activation and activation != "softmax"
                                          and v == "a")]
    return _numpy_function(tuple(_symbol(v) for v in names), expr)


def _constant_value(expr) -> complex | None:
    """A constant's value in float64 (None if it is not finite there), computed by numpy:
    SymPy's own evalf would work at whatever precision the number needs, and
    exp(exp(exp(100))) needs more digits than fit in memory."""

    with np.errstate(all="ignore"):
        try:
            value = complex(_numpy_function((), expr)())
        except Exception:  # noqa: BLE001 - an integer too large for a float, and the like
            return None
    return value if np.isfinite(value) else None


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return f"the {type(node.value).__name__} {node.value!r}"[:60]
    if isinstance(node, ast.Attribute):
        return f"an attribute (.{node.attr})"
    names = {ast.Subscript: "a subscript [...]", ast.Lambda: "a lambda",
             ast.IfExp: "an if-expression", ast.BoolOp: "and/or", ast.List: "a list",
             ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
             ast.JoinedStr: "an f-string", ast.NamedExpr: "an assignment (:=)",
             ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.BitAnd: "&",
             ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~",
             ast.Not: "not", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.In: "in"}
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    return f"a {type(node).__name__}"


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


@functools.lru_cache(maxsize=2048)
def _parse(text: str, variables: tuple[str, ...]):
    if len(text) > MAX_LENGTH:
        raise AnswerParseError(text, f"it is longer than {MAX_LENGTH} characters")
    normalized = _normalize(text.strip())
    if not normalized:
        raise AnswerParseError(text, "it is empty")
    try:
        tree = ast.parse(normalized, mode="eval")
    except SyntaxError as error:
        where = f" at character {error.offset}" if error.offset else ""
        detail = f" ({error.msg})" if error.msg and error.msg != "invalid syntax" else ""
        raise AnswerParseError(text, f"invalid syntax{where}{detail}") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise AnswerParseError(text, f"invalid syntax ({error.__class__.__name__})") from None
    import sympy as sp

    try:
        # Unevaluated, as written: SymPy's automatic evaluation has no time bound (it
        # splits (-3)**(x + 10**15) into an exact power, decides the sign of a Heaviside
        # by expanding, runs polynomial gcds inside tanh); values come from numpy instead.
        with sp.evaluate(False):
            return _Reader(text, variables).read(tree)
    except RecursionError:
        raise AnswerParseError(text, f"it nests deeper than {MAX_DEPTH} levels") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
        if isinstance(error, QgenError):
            raise
        raise AnswerParseError(text, f"it cannot be evaluated ({error})") from None


def parse_answer(text: str, variables: Iterable[str] = VARIABLES, *,
                 activation: str | None = None) -> sympy.Expr:
    """``text`` as a SymPy expression in real symbols ``variables`` (by default a, y, z).

    Allowed: numbers, + - * / ** ^, brackets (a number or a bracket before a bracket or
    a name multiplies: ``2a``, ``a(1 - a)``, ``(a - y)(1 - a)``), comparisons as
    indicators (``(z > 0)``), the functions ``sigma``/``sigmoid``/``σ``, ``tanh``,
    ``exp``, ``log``/``ln``, ``sqrt``, ``abs``, ``relu``, ``step``/``heaviside``
    (1 for positive arguments, else 0), ``max``, ``min``, the constants ``e`` and ``pi``;
    a variable may carry a subscript j, i or k (``a_j`` is ``a``).

    With ``activation``, ``a`` is replaced by that activation of ``z`` (softmax leaves it,
    as ``a_j = softmax(z)_j`` has no scalar form). Raises :class:`AnswerParseError`.
    """
    if not isinstance(text, str):
        raise AnswerParseError(repr(text), f"it is a {type(text).__name__}, not text")
    variables = tuple(variables)
    for name in variables:
        if not isinstance(name, str) or not name.isidentifier() or name in FUNCTION_NAMES:
            raise QgenError(f"variables: {name!r} must be a plain name, not a function")
    expr = _parse(text, variables)
    value = _activation_of(activation, _symbol("z"))
    if value is None:
        return expr
    return _substituted(text, expr, value)


@functools.lru_cache(maxsize=2048)
def _substituted(text: str, expr, value):
    """expr with a = value, unevaluated as reading leaves it."""
    import sympy as sp

    try:
        with sp.evaluate(False):
            return expr.xreplace({_symbol("a"): value})
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, RecursionError) as error:
        raise AnswerParseError(text, f"it cannot be evaluated with a = {value} "
                               f"({error.__class__.__name__})") from None


# ---------------------------------------------------------------------------
# Equivalence

@functools.cache
def _points() -> dict[str, np.ndarray]:
    """Where both sides are compared: fixed, so equivalent() is a function of its inputs.
    z avoids 0, where step and relu switch; a and y lie in (0, 1), inside every log."""
    rng = np.random.default_rng(20240607)
    n = EQUIVALENCE_POINTS
    z = rng.uniform(0.25, 3.0, n) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return {"a": rng.uniform(0.05, 0.95, n), "y": rng.uniform(0.05, 0.95, n), "z": z}


def _extra_points(name: str) -> np.ndarray:
    rng = np.random.default_rng(int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "big"))
    return rng.uniform(0.05, 0.95, EQUIVALENCE_POINTS)


@functools.lru_cache(maxsize=2048)
def _values(expr, complex_points: bool = False) -> np.ndarray:
    """expr at the comparison points, nan where it is undefined. With complex_points the
    points are complex numbers on the real line, so that log and sqrt of a negative
    have their principal values instead of none."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    points = _points()
    args = [points[s.name] if s.name in points else _extra_points(s.name) for s in symbols]
    if complex_points:
        args = [arg.astype(complex) for arg in args]
    with np.errstate(all="ignore"):
        try:
            function = _numpy_function(tuple(symbols), expr)
            out = np.asarray(function(*args), dtype=complex)
        except Exception:  # noqa: BLE001 - whatever SymPy's printer or numpy refuses
            # (an exact integer too large for a float, a function numpy lacks) is no
            # value to compare
            return np.full(EQUIVALENCE_POINTS, np.nan, dtype=complex)
    return np.broadcast_to(out, (EQUIVALENCE_POINTS,)).copy()


def _compare_values(left, right, complex_points: bool) -> bool | None:
    """True or False when the points decide, None when too few are defined."""
    u, v = _values(left, complex_points), _values(right, complex_points)
    defined_u, defined_v = np.isfinite(u), np.isfinite(v)
    if np.any(defined_u != defined_v):
        return False
    both = defined_u & defined_v
    if both.sum() < MIN_FINITE_POINTS:
        return None
    scale = 1.0 + np.abs(u[both]) + np.abs(v[both])
    return bool(np.all(np.abs(u[both] - v[both]) <= EQUIVALENCE_TOLERANCE * scale))


def equivalent(first: str, second: str, *, activation: str | None = None,
               variables: Iterable[str] = VARIABLES) -> bool:
    """Whether two answers are the same function of the variables.

    With ``activation``, ``a`` means that activation of ``z`` on both sides (so
    ``sigma(z) - y`` equals ``a - y`` for a sigmoid); without it ``a`` is a free symbol.
    Identical expressions are equal at once. Otherwise both are evaluated in float64
    at EQUIVALENCE_POINTS fixed random points (then, if too few are defined there, at
    the same points as complex numbers), and they are equal when they agree within
    EQUIVALENCE_TOLERANCE wherever they are defined; a point where only one side is
    defined is a difference. Only where the points cannot decide does SymPy's
    ``simplify(first - second) == 0``, on a difference small enough to finish
    (``_safe_to_simplify``): simplify has no time bound, and the points always finish.
    Raises :class:`AnswerParseError` for text that cannot be read.
    """
    import sympy as sp

    variables = tuple(variables)
    left = parse_answer(first, variables, activation=activation)
    right = parse_answer(second, variables, activation=activation)
    if left == right:
        return True
    for complex_points in (False, True):
        decided = _compare_values(left, right, complex_points)
        if decided is not None:
            return decided
    difference = left - right
    if not _safe_to_simplify(difference):
        return False
    return sp.simplify(difference) == 0


def _safe_to_simplify(expr) -> bool:
    """Small enough for simplify to finish: few operations, small numbers, and small
    numbers in every exponent (simplify expands powers, and splits x**(n + y))."""
    import sympy as sp

    if sp.count_ops(expr) > MAX_SIMPLIFY_OPS:
        return False
    if any(max(abs(r.p), r.q) > MAX_SIMPLIFY_NUMBER for r in expr.atoms(sp.Rational)):
        return False
    return all(abs(r) <= MAX_EXPONENT for power in expr.atoms(sp.Pow)
               for r in power.exp.atoms(sp.Rational))
