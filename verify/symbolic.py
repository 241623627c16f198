"""SymPy derivations of what verify.numeric and verify.formulas compute, found independently.

1. Network gradients. :func:`gradient_function` differentiates the actual functions with
   ``sympy.diff`` (each activation w.r.t. its argument, the loss composed with the output
   activation w.r.t. the output pre-activations, the affine map w.r.t. its weights, biases
   and inputs) and composes the local derivatives by a generic reverse-mode chain rule over
   the scalar computation graph, one symbol per neuron. No derivative is written by hand:
   the ``a(1 - a)`` and ``a - y`` that verify.numeric.dense hard-codes are found by SymPy.
   The result is printed once per architecture as numpy code, vectorised over the batch,
   and cached in memory and on disk; loading it from disk does not import SymPy.
2. Proofs: the identities behind the textbook formulas (sigma' = sigma(1 - sigma),
   delta_L = a - y, the matrix form of backprop, the receptive-field recurrence), each
   returned as a :class:`Proof`.
3. Shape, receptive-field and cost formulas as SymPy expressions in integer symbols
   (:func:`formula`, :func:`receptive_field_formula`), compiled to exact integer code, and
   :func:`summarize_symbolic`, the ``net-summary`` answer evaluated from them alone.

SymPy is imported inside functions only: importing this module, and running a gradient
whose derivation is already cached on disk, stays off SymPy's 0.3 s import (DESIGN.md:
heavy imports stay out of the CLI's start-up path).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from verify.specs import (
    ACTIVATIONS,
    LOSSES,
    Conv,
    Dense,
    Flatten,
    NetSummary,
    Pointwise,
    Pool,
    SpecError,
)

if TYPE_CHECKING:
    import sympy

__all__ = [
    "FORMULA_NAMES",
    "Formula",
    "GradientFunction",
    "Proof",
    "derivation_cache_clear",
    "formula",
    "gradient_function",
    "naive_gradient_function",
    "proofs",
    "prove_activation_derivative",
    "prove_matrix_backprop",
    "prove_output_delta",
    "prove_receptive_field_recurrence",
    "prove_sigmoid_derivative",
    "receptive_field_formula",
    "summarize_symbolic",
]


# ---------------------------------------------------------------------------
# The functions themselves, as DESIGN.md defines them. Everything below differentiates
# these expressions; nothing else states a derivative.

@functools.cache
def _activation(name: str) -> tuple[sympy.Symbol, sympy.Expr]:
    """(t, f(t)): the activation on a generic real symbol t."""
    import sympy as sp

    t = sp.Symbol("t", real=True)
    if name == "sigmoid":
        return t, 1 / (1 + sp.exp(-t))
    if name == "tanh":
        return t, sp.tanh(t)
    if name == "relu":
        # A Piecewise with the strict branch z > 0: differentiated branch by branch it
        # gives 0 at z = 0, which is PyTorch's convention (Max(0, z) would give
        # Heaviside(0) = 1/2).
        return t, sp.Piecewise((t, t > 0), (0, True))
    if name == "linear":
        return t, t
    raise SpecError("activation", name, f"must be one of {', '.join(ACTIVATIONS)}")


def _loss_expr(loss: str, outputs: list, targets: list) -> sympy.Expr:
    """The loss of one sample, summed over outputs; for softmax_ce the outputs are logits."""
    import sympy as sp

    pairs = list(zip(outputs, targets, strict=True))
    if loss == "bce":
        return -sp.Add(*(y * sp.log(a) + (1 - y) * sp.log(1 - a) for a, y in pairs))
    if loss == "mse":
        return sp.Rational(1, 2) * sp.Add(*((a - y) ** 2 for a, y in pairs))
    if loss == "softmax_ce":
        total = sp.Add(*(sp.exp(a) for a in outputs))
        return -sp.Add(*(y * sp.log(sp.exp(a) / total) for a, y in pairs))
    raise SpecError("loss", loss, f"must be one of {', '.join(LOSSES)}")


def _check_architecture(sizes: Any, activations: Any, loss: Any) -> tuple[tuple, tuple, str]:
    """Arguments of gradient_function and the proofs, as hashable tuples, or SpecError."""
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise SpecError("sizes", list(sizes), "must list at least 2 widths (inputs, outputs)")
    for i, n in enumerate(sizes):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise SpecError(f"sizes[{i}]", n, "must be a positive integer")
    sizes = tuple(int(n) for n in sizes)
    activations = tuple(activations)
    if len(activations) != len(sizes) - 1:
        raise SpecError("activations", list(activations),
                        f"must name one activation per layer ({len(sizes) - 1} for sizes "
                        f"{list(sizes)})")
    for i, name in enumerate(activations):
        if name not in ACTIVATIONS:
            raise SpecError(f"activations[{i}]", name, f"must be one of {', '.join(ACTIVATIONS)}")
    if loss not in LOSSES:
        raise SpecError("loss", loss, f"must be one of {', '.join(LOSSES)}")
    if loss == "bce" and activations[-1] != "sigmoid":
        raise SpecError("activations[-1]", activations[-1], "must be 'sigmoid' for loss 'bce'")
    if loss == "softmax_ce" and activations[-1] != "linear":
        raise SpecError("activations[-1]", activations[-1],
                        "must be 'linear' for loss 'softmax_ce' (its outputs are the logits)")
    return sizes, activations, loss


# ---------------------------------------------------------------------------
# Local derivatives, each from sympy.diff, derived once per function and then
# instantiated per neuron by renaming symbols.

def _inverse(f: sympy.Expr, t: sympy.Symbol, u: sympy.Symbol) -> sympy.Expr | None:
    """g(u) with f(g(u)) = u, or None when SymPy finds no single inverse (relu)."""
    import sympy as sp

    if f.has(sp.Piecewise):
        return None
    g = _unwind(f, t, u)
    if g is None:
        # check=False: the candidate is checked below; solve's own check imports
        # sympy.physics (0.1 s) on first use.
        solutions = sp.solve(sp.Eq(u, f), t, check=False, simplify=False)
        if len(solutions) != 1:
            return None
        g = solutions[0]
    residual = f.xreplace({t: g}) - u
    return g if residual == 0 or sp.cancel(residual) == 0 else None


def _unwind(f: sympy.Expr, t: sympy.Symbol, u: sympy.Symbol) -> sympy.Expr | None:
    """Solve u = f(t) by undoing f's operations from the outermost in, when t occurs in
    one argument of each: an addend or factor free of t, the reciprocal, and a function
    of one argument by its ``inverse()`` (exp -> log, tanh -> atanh). None if some step
    is none of these. sigmoid: t = -log(1/u - 1), 1 ms where sympy.solve takes 17 ms on
    first use (and gives two log(sqrt) branches for tanh). The caller checks the result."""
    import sympy as sp

    while f != t:
        if f.is_Add or f.is_Mul:
            inner = [arg for arg in f.args if arg.has(t)]
            if len(inner) != 1:
                return None
            rest = f.func(*(arg for arg in f.args if arg is not inner[0]))
            f, u = inner[0], (u - rest if f.is_Add else u / rest)
        elif f.is_Pow and f.exp == -1:
            f, u = f.base, 1 / u
        elif isinstance(f, sp.Function) and len(f.args) == 1:  # exp -> log, tanh -> atanh
            try:
                f, u = f.args[0], f.inverse()(u)
            except (AttributeError, NotImplementedError, TypeError):
                return None
        else:
            return None
    return u


@functools.cache
def _activation_rule(name: str):
    """(t, u, f(t), f'(t), g(u)): f' from sympy.diff, written in u = f(t) through the
    inverse g = f^-1 where SymPy finds one (g is None otherwise).

    In terms of the unit's output the derivative stays finite on a saturated unit: SymPy's
    exp(-t)/(1 + exp(-t))**2 is inf/inf at t = -800, the same function written u(1 - u)
    is 0."""
    import sympy as sp

    t, f = _activation(name)
    u = sp.Symbol("u", real=True)
    derivative = sp.diff(f, t)
    g = _inverse(f, t, u)
    if g is not None:
        derivative = _tidy(derivative.xreplace({t: g}))
    return t, u, f, derivative, g


def _tidy(expr: sympy.Expr) -> sympy.Expr:
    """Simplify a local derivative: fold Piecewise factors into one Piecewise, then reduce
    each piece as a rational function. With exponentials, cancel (rational in them too);
    free of them (or once cancel has removed them), factor, which cancels as well and is
    3x faster than cancel followed by factor. Either finds a - y; full simplify does too
    but is 10-50x slower. The factored form matters: a(1 - a) keeps its relative
    accuracy near a = 1, where the expanded a - a**2 cancels catastrophically."""
    import sympy as sp

    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*((_tidy(e), c) for e, c in expr.args))
    if expr.has(sp.exp):
        expr = sp.cancel(expr)
        if expr.has(sp.exp):
            return expr
    return sp.factor(expr)


def _stable_logs(expr: sympy.Expr) -> sympy.Expr:
    """Rewrite the logarithms of a loss so that numpy can evaluate it without log(0):
    combine each argument into one fraction, then split products and quotients
    (force=True is sound here: every log argument is a ratio of positive exponential
    sums). What remains are logs of sums of exponentials, which the printer evaluates
    with numpy.logaddexp: log(sigmoid(z)) becomes z - logaddexp(z, 0)."""
    import sympy as sp

    expr = expr.replace(lambda e: isinstance(e, sp.log), lambda e: sp.log(sp.together(e.args[0])))
    return sp.expand_log(expr, force=True)


def _shift_invariant(fractions: list, variables: list) -> bool:
    """Whether every fraction N/D is unchanged when all variables grow by the same c (the
    softmax error terms are): then they may be evaluated at variables - max, where no
    exponential overflows. Tested as the polynomial identity N(v + c) D(v) = N(v) D(v + c)
    with e^(v + c) = e^v e^c, which expand settles 2-3x faster than cancel."""
    import sympy as sp

    c = sp.Dummy("c", real=True)
    shift = {v: v + c for v in variables}
    for expr in fractions:
        numerator, denominator = sp.fraction(expr)
        shifted_numerator, shifted_denominator = (
            sp.expand(part.xreplace(shift), power_exp=True) for part in (numerator, denominator))
        if sp.expand(shifted_numerator * denominator - numerator * shifted_denominator) != 0:
            return False
    return True


def _separable(loss: str, n: int) -> bool:
    """Whether the loss of n outputs is, as SymPy builds it, the sum of the loss of each
    output alone (bce and mse are; softmax_ce is not)."""
    import sympy as sp

    a = sp.symbols(f"p0:{n}", real=True)
    y = sp.symbols(f"q0:{n}", real=True)
    return _loss_expr(loss, list(a), list(y)) == sp.Add(
        *(_loss_expr(loss, [aj], [yj]) for aj, yj in zip(a, y, strict=True)))


@dataclass(frozen=True)
class _OutputRule:
    z: tuple  # pre-activations of the last layer
    a: tuple  # its activations (the logits for softmax_ce)
    y: tuple  # targets
    value: Any  # the loss of one sample, in a numerically stable form
    deltas: tuple  # dL/dz_j, in terms of a where the activation is invertible
    shift: bool  # the deltas may be evaluated at outputs - max(outputs)


@functools.cache
def _output_rule(loss: str, activation: str, n: int) -> _OutputRule:
    """The loss composed with the output activation, and its derivative w.r.t. each output
    pre-activation z_j, simplified and written in the outputs a_j. For bce/sigmoid SymPy
    reduces it to a_j - y_j, finite for every z; dL/da * da/dz evaluated apart would be
    inf * 0 on a saturated output."""
    import sympy as sp

    t, u, f, _, g = _activation_rule(activation)
    z = sp.symbols(f"z0:{n}", real=True)
    a = sp.symbols(f"a0:{n}", real=True)
    y = sp.symbols(f"y0:{n}", real=True)
    to_outputs = ({zj: g.xreplace({u: aj}) for zj, aj in zip(z, a, strict=True)}
                  if g is not None else {})
    if n > 1 and _separable(loss, n):
        # L = sum_j l(a_j, y_j): dL/dz_j is the derivative of the j-th term alone, that of
        # the one-output rule, instantiated per output by renaming symbols.
        one = _output_rule(loss, activation, 1)
        renames = [{one.z[0]: zj, one.a[0]: aj, one.y[0]: yj}
                   for zj, aj, yj in zip(z, a, y, strict=True)]
        value = sp.Add(*(one.value.xreplace(rename) for rename in renames))
        deltas = tuple(one.deltas[0].xreplace(rename) for rename in renames)
    else:
        # The derivative is taken of the very expression whose value the code reports.
        value = _stable_logs(_loss_expr(loss, [f.xreplace({t: zj}) for zj in z], list(y)))
        deltas = tuple(_tidy(sp.diff(value, zj).xreplace(to_outputs)) for zj in z)
    variables = list(a if to_outputs else z)
    shift = any(d.has(sp.exp) for d in deltas) and _shift_invariant(deltas, variables)
    return _OutputRule(z, a, y, value, deltas, shift)


# ---------------------------------------------------------------------------
# The computation graph and the reverse-mode chain rule.

@dataclass(frozen=True)
class _Node:
    """One scalar of the forward pass: ``symbol = expr``, a function of ``parents``.
    ``partial(p)`` is d expr / d p for each parent p."""

    symbol: Any
    expr: Any
    parents: tuple
    partial: Callable


def _reverse_mode(nodes: list[_Node], output: Any, leaves: list) -> tuple[list, dict]:
    """Generic reverse accumulation: the adjoint of a node is the sum over its children c
    of adjoint(c) * d c / d node. Returns the assignments ``(g_symbol, expression)`` in
    evaluation order (each adjoint is a named symbol, so expressions stay small), and the
    adjoint expression of each leaf (the gradient)."""
    import sympy as sp

    wanted = {node.symbol for node in nodes} | set(leaves)
    terms: dict[Any, list] = defaultdict(list)
    assignments = []
    for node in reversed(nodes):  # children before parents
        if node.symbol == output:
            adjoint = sp.Integer(1)
        elif node.symbol in terms:
            adjoint = sp.Symbol(f"g{node.symbol.name}", real=True)
            assignments.append((adjoint, sp.Add(*terms.pop(node.symbol))))
        else:
            continue  # nothing downstream reads it (the last activations: the loss reads z)
        for parent in node.parents:
            if parent in wanted:
                terms[parent].append(adjoint * node.partial(parent))
    return assignments, {leaf: sp.Add(*terms.get(leaf, ())) for leaf in leaves}


@functools.cache
def _affine_rule(n: int):
    """z = sum_i a_i w_i + b for fan-in n, on generic symbols (a_0.., w_0.., b), and its
    sympy.diff w.r.t. each of them. Derived once per fan-in: differentiating each
    neuron's own sum costs O(n) per parameter, O(n^2) per neuron."""
    import sympy as sp

    a = sp.symbols(f"p0:{n}", real=True)
    w = sp.symbols(f"q0:{n}", real=True)
    b = sp.Symbol("c", real=True)
    expr = sp.Add(*(ai * wi for ai, wi in zip(a, w, strict=True))) + b
    symbols = (*a, *w, b)
    return symbols, expr, {s: sp.diff(expr, s) for s in symbols}


def _affine_node(z, parents: tuple) -> _Node:
    """The node z = sum_i a_i W_ij + b_j, parents (a_0.., W_0j.., b_j)."""
    template, expr, partials = _affine_rule((len(parents) - 1) // 2)
    rename = dict(zip(template, parents, strict=True))
    generic = dict(zip(parents, template, strict=True))
    return _Node(z, expr.xreplace(rename), parents,
                 lambda p: partials[generic[p]].xreplace(rename))


@functools.cache
def _numpy_printer():
    from sympy import Add, Integer, S, exp
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):
        """numpy code for scalar expressions broadcast over the batch axis."""

        def doprint(self, expr, assign_to=None):
            # One expression, no assignment: what CodePrinter.doprint adds for those
            # (a rewrite of UnevaluatedExpr that walks each expression again, and the
            # import of sympy.codegen) is not needed. Unsupported functions still raise
            # (strict mode, the default).
            if assign_to is not None:
                return super().doprint(expr, assign_to)
            self._not_supported, self._number_symbols = set(), set()
            return self._print(expr)

        def _print_log(self, expr):
            # log(e^u1 + ... + e^un) (1 being e^0): logaddexp never overflows.
            terms = Add.make_args(expr.args[0])
            if len(terms) > 1 and all(isinstance(e, exp) or e == 1 for e in terms):
                args = [self._print(e.args[0] if isinstance(e, exp) else Integer(0))
                        for e in terms]
                code = args[0]
                for arg in args[1:]:
                    code = f"numpy.logaddexp({code}, {arg})"
                return code
            return super()._print_log(expr)

        def _print_Piecewise(self, expr):
            # Nested numpy.where: elementwise over the batch, and no select() default.
            *pieces, (value, condition) = expr.args
            if condition is S.true:
                code = self._print(value)
            else:
                pieces.append((value, condition))
                code = "numpy.nan"
            for value, condition in reversed(pieces):
                code = f"numpy.where({self._print(condition)}, {self._print(value)}, {code})"
            return code

        def _print_Pow(self, expr, rational=False):
            if expr.exp == -1:
                return f"1/({self._print(expr.base)})"
            return super()._print_Pow(expr, rational=rational)

    return Printer({"fully_qualified_modules": True})


_SOURCE_HEADER = "# verify.symbolic gradient: "


def _derive_source(sizes: tuple, activations: tuple, loss: str, header: str) -> str:
    """The numpy source of ``gradient(x, y, weights, biases)`` for one architecture."""
    import sympy as sp

    printer = _numpy_printer()

    def code(expr) -> str:
        return printer.doprint(expr)

    depth = len(sizes) - 1
    x = sp.symbols(f"x0:{sizes[0]}", real=True)
    W = [[[sp.Symbol(f"W{l}_{i}_{j}", real=True) for j in range(sizes[l + 1])]
          for i in range(sizes[l])] for l in range(depth)]
    b = [[sp.Symbol(f"b{l}_{j}", real=True) for j in range(sizes[l + 1])] for l in range(depth)]
    leaves = [w for layer in W for row in layer for w in row] + [v for layer in b for v in layer]

    nodes: list[_Node] = []
    prev = list(x)
    for l in range(depth):
        t, u, f, derivative, _ = _activation_rule(activations[l])
        current = []
        for j in range(sizes[l + 1]):
            z = sp.Symbol(f"z{l}_{j}", real=True)
            a = sp.Symbol(f"a{l}_{j}", real=True)
            parents = (*prev, *(W[l][i][j] for i in range(sizes[l])), b[l][j])
            nodes.append(_affine_node(z, parents))
            local = derivative.xreplace({t: z, u: a})
            nodes.append(_Node(a, f.xreplace({t: z}), (z,), lambda _p, local=local: local))
            current.append(a)
        prev = current

    # The loss node reads the last pre-activations; its partials are the output rule's
    # error terms, renamed to this network's symbols (and shifted where invariant).
    rule = _output_rule(loss, activations[-1], sizes[-1])
    z_last = [sp.Symbol(f"z{depth - 1}_{j}", real=True) for j in range(sizes[-1])]
    a_last = [sp.Symbol(f"a{depth - 1}_{j}", real=True) for j in range(sizes[-1])]
    y = sp.symbols(f"y0:{sizes[-1]}", real=True)
    rename = {**dict(zip(rule.z, z_last, strict=True)), **dict(zip(rule.a, a_last, strict=True)),
              **dict(zip(rule.y, y, strict=True))}
    deltas = [d.xreplace(rename) for d in rule.deltas]
    shift_lines = []
    if rule.shift:
        variables = sorted(set().union(*(d.free_symbols for d in deltas)) - set(y), key=str)
        shifted = {v: sp.Symbol(f"{v.name}s", real=True) for v in variables}
        shift_lines.append(f"m = numpy.maximum.reduce([{', '.join(map(code, variables))}])")
        shift_lines += [f"{shifted[v].name} = {v.name} - m" for v in variables]
        deltas = [d.xreplace(shifted) for d in deltas]
    # Common subexpressions of the error terms (softmax: the exponential sum, once).
    temporaries, deltas = sp.cse(deltas, symbols=sp.numbered_symbols("c", real=True))
    loss_partials = dict(zip(z_last, deltas, strict=True))
    loss_symbol = sp.Symbol("loss", real=True)
    nodes.append(_Node(loss_symbol, rule.value.xreplace(rename), tuple(z_last),
                       loss_partials.__getitem__))

    assignments, gradients = _reverse_mode(nodes, loss_symbol, leaves)

    lines = [
        header,
        "# Generated by verify.symbolic from SymPy derivations; do not edit. Every scalar",
        "# below is an array over the batch; the gradient is the batch mean of per-sample ones.",
        "import numpy",
        "",
        "",
        "def _batch_mean(entries, shape, batch):",
        "    return numpy.array([numpy.broadcast_to(e, (batch,)) for e in entries])"
        ".mean(axis=1).reshape(shape)",
        "",
        "",
        "def gradient(x, y, weights, biases):",
        f"    [{', '.join(map(code, x))}] = x.T",
        f"    [{', '.join(map(code, y))}] = y.T",
    ]
    for l in range(depth):
        flat = [w for row in W[l] for w in row]
        lines.append(f"    [{', '.join(map(code, flat))}] = weights[{l}].ravel().tolist()")
        lines.append(f"    [{', '.join(map(code, b[l]))}] = biases[{l}].tolist()")
    lines.append("    # forward")
    lines += [f"    {node.symbol.name} = {code(node.expr)}" for node in nodes[:-1]]
    lines += [f"    {line}" for line in shift_lines]
    lines += [f"    {symbol.name} = {code(expr)}" for symbol, expr in temporaries]
    lines.append(f"    loss = {code(nodes[-1].expr)}")
    lines.append("    # backward")
    lines += [f"    {symbol.name} = {code(expr)}" for symbol, expr in assignments]
    lines.append("    batch = x.shape[0]")
    grads_W = [f"_batch_mean([{', '.join(code(gradients[w]) for row in W[l] for w in row)}], "
               f"({sizes[l]}, {sizes[l + 1]}), batch)" for l in range(depth)]
    grads_b = [f"_batch_mean([{', '.join(code(gradients[v]) for v in b[l])}], "
               f"({sizes[l + 1]},), batch)" for l in range(depth)]
    lines.append(f"    grads_W = [{', '.join(grads_W)}]")
    lines.append(f"    grads_b = [{', '.join(grads_b)}]")
    lines.append("    return numpy.mean(numpy.broadcast_to(loss, (batch,))), grads_W, grads_b")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The callable, and its caches.

@dataclass(frozen=True, eq=False)
class GradientFunction:
    """``f(x, y, weights, biases) -> (loss, grads_W, grads_b)``, batch means in float64.

    x is (B, sizes[0]) (one sample may be 1-D), y is (B, sizes[-1]), weights[l] is
    (sizes[l], sizes[l + 1]) and biases[l] is (sizes[l + 1],). ``source`` is the
    generated numpy code (None for the naive route); ``origin`` says where it came from:
    "derived", "disk" or "naive"."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    source: str | None
    origin: str
    evaluate: Callable = field(repr=False)

    def __call__(self, x, y, weights, biases) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        sizes = self.sizes
        x = _samples(x, "x", sizes[0])
        y = _samples(y, "y", sizes[-1])
        if y.shape[0] != x.shape[0]:
            raise SpecError("y.shape", list(y.shape),
                            f"must have one row per sample of x ({x.shape[0]})")
        weights = _arrays(weights, "weights", [(sizes[l], sizes[l + 1])
                                               for l in range(len(sizes) - 1)])
        biases = _arrays(biases, "biases", [(n,) for n in sizes[1:]])
        # Overflow is harmless here: 1/(1 + exp(800)) is 1/inf = 0, the right limit.
        with np.errstate(over="ignore"):
            loss, grads_W, grads_b = self.evaluate(x, y, weights, biases)
        return float(loss), grads_W, grads_b


def _samples(value, name: str, width: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise SpecError(f"{name}.shape", list(array.shape),
                        f"must be (batch, {width}) with batch >= 1")
    return array


def _arrays(values, name: str, shapes: list[tuple]) -> list[np.ndarray]:
    values = list(values)
    if len(values) != len(shapes):
        raise SpecError(f"len({name})", len(values), f"must be {len(shapes)}, one per layer")
    arrays = []
    for l, (value, shape) in enumerate(zip(values, shapes, strict=True)):
        array = np.asarray(value, dtype=np.float64)
        if array.shape != shape:
            raise SpecError(f"{name}[{l}].shape", list(array.shape), f"must be {list(shape)}")
        arrays.append(array)
    return arrays


def gradient_function(sizes, activations, loss: str, *, disk_cache: bool = True
                      ) -> GradientFunction:
    """The SymPy-derived gradient of a dense network (DESIGN.md conventions), as numpy code.

    Derived once per architecture: kept in memory, and (unless ``disk_cache=False``)
    as Python source in ``$QGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/qgen``, else
    ``~/.cache/qgen``, keyed by the architecture, the SymPy version and this file's
    source. An unwritable cache directory is ignored.

    Example: ``gradient_function((2, 3, 2), ("sigmoid", "sigmoid"), "bce")(x, y, W, b)``.
    """
    return _gradient_function(*_check_architecture(sizes, activations, loss), disk_cache)


@functools.lru_cache(maxsize=128)
def _gradient_function(sizes: tuple, activations: tuple, loss: str,
                       disk_cache: bool) -> GradientFunction:
    key = _cache_key(sizes, activations, loss)
    header = _SOURCE_HEADER + key
    path = _cache_path(key) if disk_cache else None
    source = _read_cached(path, header) if path else None
    origin = "disk"
    if source is not None:
        try:
            evaluate = _compile_gradient(source, str(path))
        except Exception:  # a damaged cache file: derive again and overwrite it
            source = None
    if source is None:
        with _sympy_at_work():
            source = _derive_source(sizes, activations, loss, header)
        evaluate = _compile_gradient(source, f"<verify.symbolic {key}>")
        origin = "derived"
        if path:
            _write_cached(path, source)
    return GradientFunction(sizes, activations, loss, source, origin, evaluate)


@contextlib.contextmanager
def _sympy_at_work():
    """Run a derivation with the cyclic garbage collector paused (its previous state is
    restored after), importing SymPy first if nothing has yet.

    SymPy allocates objects by the hundred thousand, nearly all of them long-lived
    (modules, classes, its caches) or freed by reference counting, so the collections
    they trigger find little to free: paused, the import alone takes 0.03-0.04 s less.
    (The qgen command also freezes what is alive when it finishes, so that the
    interpreter's last collection at exit does not traverse all of SymPy.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if "sympy" not in sys.modules:
            import sympy  # noqa: F401
        yield
    finally:
        if enabled:
            gc.enable()


def _compile_gradient(source: str, filename: str) -> Callable:
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["gradient"]


def _cache_dir() -> Path:
    if directory := os.environ.get("QGEN_CACHE_DIR"):
        return Path(directory)
    if directory := os.environ.get("XDG_CACHE_HOME"):
        return Path(directory) / "qgen"
    return Path.home() / ".cache" / "qgen"


@functools.cache
def _code_version() -> str:
    """The SymPy version and a hash of this file: a cached derivation is reused only by
    the code and SymPy that produced it. The version is read from sympy/release.py (what
    sympy.__version__ reads) so that a warm start imports neither SymPy nor the 20 ms
    importlib.metadata."""
    import hashlib

    version = None
    if "sympy" in sys.modules:
        version = sys.modules["sympy"].__version__
    else:
        import importlib.util

        spec = importlib.util.find_spec("sympy")
        if spec and spec.origin:
            try:
                text = Path(spec.origin).with_name("release.py").read_text()
                match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", text)
                version = match.group(1) if match else None
            except OSError:
                pass
        if version is None:
            import importlib.metadata

            version = importlib.metadata.version("sympy")
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return f"sympy={version} symbolic.py={digest}"


def _cache_key(sizes: tuple, activations: tuple, loss: str) -> str:
    return (f"sizes={list(sizes)} activations={list(activations)} loss={loss} "
            f"{_code_version()}")


def _cache_path(key: str) -> Path:
    import hashlib

    return _cache_dir() / f"symbolic-gradient-{hashlib.sha256(key.encode()).hexdigest()[:24]}.py"


def _read_cached(path: Path, header: str) -> str | None:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # The header holds the whole key: a file from another architecture or version (a
    # truncated hash colliding) is never used.
    return source if source.startswith(header + "\n") else None


def _write_cached(path: Path, source: str) -> None:
    """Write atomically (a reader sees the old file or the whole new one); give up silently
    if the directory cannot be written."""
    import tempfile

    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent,
                                         prefix=path.stem + ".", suffix=".tmp",
                                         delete=False) as handle:
            temporary = handle.name
            handle.write(source)
        os.replace(temporary, path)
    except OSError:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def derivation_cache_clear(*, disk: bool = False) -> None:
    """Forget every derivation held in memory (and SymPy's own cache, if SymPy is loaded),
    so the next call times the cold path; with ``disk=True`` also delete the cached files
    in the cache directory."""
    for cached in (_gradient_function, _activation, _activation_rule, _output_rule, _affine_rule,
                   _numpy_printer, _code_version, _integer_printer, _compiled,
                   _shape_expressions, formula, receptive_field_formula, _layer_function):
        cached.cache_clear()
    if "sympy" in sys.modules:
        from sympy.core.cache import clear_cache

        clear_cache()
    if disk:
        for path in _cache_dir().glob("symbolic-gradient-*.py"):
            with contextlib.suppress(OSError):
                path.unlink()


def naive_gradient_function(sizes, activations, loss: str) -> GradientFunction:
    """The baseline route the benchmark compares against: the fully expanded loss of one
    sample, ``sympy.diff`` of it w.r.t. every weight and bias, then ``lambdify``. Not
    cached, and seconds for a 4-8-3 network; the loss value is evaluated as written, so
    it overflows on saturated units."""
    import sympy as sp

    sizes, activations, loss = _check_architecture(sizes, activations, loss)
    depth = len(sizes) - 1
    x = sp.symbols(f"x0:{sizes[0]}", real=True)
    y = sp.symbols(f"y0:{sizes[-1]}", real=True)
    W = [sp.Matrix(sizes[l], sizes[l + 1], lambda i, j, l=l: sp.Symbol(f"W{l}_{i}_{j}", real=True))
         for l in range(depth)]
    b = [sp.Matrix(1, sizes[l + 1], lambda _, j, l=l: sp.Symbol(f"b{l}_{j}", real=True))
         for l in range(depth)]
    a = sp.Matrix(1, sizes[0], list(x))
    for l in range(depth):
        t, f = _activation(activations[l])
        a = (a * W[l] + b[l]).applyfunc(lambda e, t=t, f=f: f.xreplace({t: e}))
    total = _loss_expr(loss, list(a), list(y))
    params = [w for matrix in W for w in matrix] + [v for row in b for v in row]
    function = sp.lambdify([*x, *y, *params], [total, *(sp.diff(total, p) for p in params)],
                           modules="numpy")
    counts = [sizes[l] * sizes[l + 1] for l in range(depth)]

    def evaluate(xs, ys, weights, biases):
        batch = xs.shape[0]
        flat = [*(w for m in weights for w in m.ravel()), *(v for r in biases for v in r)]
        values = [np.broadcast_to(v, (batch,)).mean() for v in function(*xs.T, *ys.T, *flat)]
        loss_value, rest = values[0], np.array(values[1:])
        grads_W, start = [], 0
        for l, count in enumerate(counts):
            grads_W.append(rest[start:start + count].reshape(sizes[l], sizes[l + 1]))
            start += count
        grads_b = []
        for n in sizes[1:]:
            grads_b.append(rest[start:start + n])
            start += n
        return loss_value, grads_W, grads_b

    return GradientFunction(sizes, activations, loss, None, "naive", evaluate)


# ---------------------------------------------------------------------------
# Proofs

@dataclass(frozen=True)
class Proof:
    """An identity checked by SymPy: ``passed`` is whether it held."""

    name: str
    statement: str
    passed: bool


def _textbook_derivative(name: str, z, a):
    """f'(z) as the textbook writes it through a = f(z), and as verify.numeric.dense
    hard-codes it. Only the proofs use these: they check them against sympy.diff."""
    import sympy as sp

    return {"sigmoid": a * (1 - a), "tanh": 1 - a ** 2,
            "relu": sp.Piecewise((1, z > 0), (0, True)), "linear": sp.Integer(1)}[name]


def _vanishes(expr) -> bool:
    """Whether SymPy reduces expr to 0: cancel (rational in the exponentials; fast), and
    simplify where cancel cannot decide."""
    import sympy as sp

    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return all(_vanishes(piece) for piece, _ in expr.args)
    return sp.cancel(expr) == 0 or sp.simplify(expr) == 0


_DERIVATIVE_STATEMENTS = {
    "sigmoid": "d/dz sigmoid(z) = sigmoid(z) (1 - sigmoid(z)), where sigmoid(z) = 1/(1 + e^-z)",
    "tanh": "d/dz tanh(z) = 1 - tanh(z)^2",
    "relu": "d/dz relu(z) = [z > 0], where relu(z) = z if z > 0 else 0 (so relu'(0) = 0, "
            "PyTorch's convention)",
    "linear": "d/dz z = 1",
}


def prove_activation_derivative(activation: str) -> Proof:
    """The textbook derivative of an activation, written through a = f(z), equals
    sympy.diff of the activation."""
    import sympy as sp

    t, f = _activation(activation)
    z = sp.Symbol("z", real=True)
    f_z = f.xreplace({t: z})
    passed = _vanishes(sp.diff(f_z, z) - _textbook_derivative(activation, z, f_z))
    return Proof(f"{activation}_derivative", _DERIVATIVE_STATEMENTS[activation], passed)


def prove_sigmoid_derivative() -> Proof:
    """sigma'(z) == sigma(z)(1 - sigma(z)) for every real z."""
    return prove_activation_derivative("sigmoid")


_OUTPUT_ACTIVATION = {"bce": "sigmoid", "softmax_ce": "linear", "mse": "sigmoid"}


def prove_output_delta(loss: str, n_outputs: int = 3, *, activation: str | None = None) -> Proof:
    """The textbook error term of the output layer equals sympy.diff of the loss w.r.t. each
    output pre-activation z_j: a_j - y_j (bce, sigmoid output); softmax_j - y_j (softmax_ce,
    linear output, targets summing to 1); (a_j - y_j) f'(z_j) (mse, any activation f)."""
    import sympy as sp

    if loss not in _OUTPUT_ACTIVATION:
        raise SpecError("loss", loss, f"must be one of {', '.join(LOSSES)}")
    if not isinstance(n_outputs, int) or n_outputs < 1:
        raise SpecError("n_outputs", n_outputs, "must be a positive integer")
    activation = activation or _OUTPUT_ACTIVATION[loss]
    _check_architecture((1, n_outputs), (activation,), loss)
    t, f = _activation(activation)
    z = sp.symbols(f"z0:{n_outputs}", real=True)
    y = list(sp.symbols(f"y0:{n_outputs}", real=True))
    a = [f.xreplace({t: zj}) for zj in z]
    if loss == "softmax_ce":
        y[-1] = 1 - sp.Add(*y[:-1])  # a distribution: the last target is what the others leave
        total = sp.Add(*(sp.exp(zj) for zj in z))
        textbook = [sp.exp(zj) / total - yj for zj, yj in zip(z, y, strict=True)]
        statement = (f"for softmax_ce on {n_outputs} logits with sum_j y_j = 1: "
                     "dL/dz_j = softmax(z)_j - y_j")
    elif loss == "bce":
        textbook = [aj - yj for aj, yj in zip(a, y, strict=True)]
        statement = f"for bce on {n_outputs} sigmoid outputs a_j: dL/dz_j = a_j - y_j"
    else:
        textbook = [(aj - yj) * _textbook_derivative(activation, zj, aj)
                    for zj, aj, yj in zip(z, a, y, strict=True)]
        statement = (f"for mse on {n_outputs} {activation} outputs a_j: "
                     f"dL/dz_j = (a_j - y_j) f'(z_j), f' as in the {activation}_derivative proof")
    L = _loss_expr(loss, a, y)
    passed = all(_vanishes(sp.diff(L, zj) - expected) for zj, expected in zip(z, textbook,
                                                                                strict=True))
    return Proof(f"output_delta_{loss}_{activation}", statement, passed)


def _matrix_backprop(X, Y, weights: list, biases: list, activations: tuple, loss: str):
    """The fully expanded loss of one sample, and [(grad_W_l, grad_b_l)] from the matrix
    equations of backprop with the textbook derivatives."""
    import sympy as sp

    A, Z = [X], []
    for W, b, name in zip(weights, biases, activations, strict=True):
        t, f = _activation(name)
        Z.append(A[-1] * W + b)
        A.append(Z[-1].applyfunc(lambda e, t=t, f=f: f.xreplace({t: e})))
    L = _loss_expr(loss, list(A[-1]), list(Y))

    def f_prime(l):
        return sp.Matrix(1, Z[l].cols, [_textbook_derivative(activations[l], zj, aj)
                                        for zj, aj in zip(Z[l], A[l + 1], strict=True)])

    if loss == "bce":
        delta = A[-1] - Y
    elif loss == "softmax_ce":
        total = sp.Add(*(sp.exp(zj) for zj in Z[-1]))
        delta = Z[-1].applyfunc(lambda zj: sp.exp(zj) / total) - Y
    else:
        delta = (A[-1] - Y).multiply_elementwise(f_prime(len(weights) - 1))
    deltas = [delta]
    for l in range(len(weights) - 1, 0, -1):
        deltas.insert(0, (deltas[0] * weights[l].T).multiply_elementwise(f_prime(l - 1)))
    return L, [(A[l].T * deltas[l], deltas[l]) for l in range(len(weights))]


def _gradient_differences(L, grads: list, weights: list, biases: list) -> list:
    """sympy.diff(L, p) minus the matrix formula, for every weight and bias p."""
    import sympy as sp

    differences = []
    for (grad_W, grad_b), W, b in zip(grads, weights, biases, strict=True):
        differences += [sp.diff(L, W[i, j]) - grad_W[i, j]
                        for i in range(W.rows) for j in range(W.cols)]
        differences += [sp.diff(L, b[j]) - grad_b[j] for j in range(b.cols)]
    return differences


# At 60 significant digits the two sides of a true identity, evaluated at the same point
# through different expressions, differ by ~1e-55 for the magnitudes the small networks
# reach (< 1e4); a false one differs by far more than 1e-40.
_PROOF_DIGITS = 60
_PROOF_TOLERANCE = 1e-40


def prove_matrix_backprop(sizes=(2, 3, 2), activations=("sigmoid", "sigmoid"),
                          loss: str = "bce", *, points: int = 3, seed: int = 0) -> Proof:
    """The matrix equations of backprop, delta_L (the output rule);
    delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l) (elementwise, f' the textbook form);
    grad_W_l = a_{l-1}^T delta_l; grad_b_l = delta_l, written as SymPy matrices for one
    sample, equal sympy.diff of the fully expanded loss w.r.t. every weight and bias.

    Two checks. Exact: for the last layer, with its inputs a_{L-1} as free symbols (they
    do not depend on W_L, b_L), each difference cancels to 0, so the last-layer equations
    hold for every input. Sampled: every entry of every layer of the fully expanded
    network, where nested exponentials make an exact cancel take minutes, vanishes to
    60 digits at ``points`` random rational points."""
    import mpmath
    import sympy as sp

    sizes, activations, loss = _check_architecture(sizes, activations, loss)
    depth = len(sizes) - 1
    y = list(sp.symbols(f"y0:{sizes[-1]}", real=True))
    if loss == "softmax_ce":
        y[-1] = 1 - sp.Add(*y[:-1])  # a distribution
    Y = sp.Matrix(1, sizes[-1], y)
    W = [sp.Matrix(sizes[l], sizes[l + 1], lambda i, j, l=l: sp.Symbol(f"W{l}_{i}_{j}", real=True))
         for l in range(depth)]
    b = [sp.Matrix(1, sizes[l + 1], lambda _, j, l=l: sp.Symbol(f"b{l}_{j}", real=True))
         for l in range(depth)]

    H = sp.Matrix(1, sizes[-2], sp.symbols(f"h0:{sizes[-2]}", real=True))
    L, grads = _matrix_backprop(H, Y, W[-1:], b[-1:], activations[-1:], loss)
    passed = all(_vanishes(d) for d in _gradient_differences(L, grads, W[-1:], b[-1:]))

    X = sp.Matrix(1, sizes[0], sp.symbols(f"x0:{sizes[0]}", real=True))
    L, grads = _matrix_backprop(X, Y, W, b, activations, loss)
    differences = _gradient_differences(L, grads, W, b)
    variables = sorted(set().union(*(d.free_symbols for d in differences)), key=str)
    function = sp.lambdify(variables, differences, modules="mpmath", cse=True)
    rng = np.random.default_rng(seed)
    with mpmath.workdps(_PROOF_DIGITS):
        for _ in range(points if passed else 0):
            # Rationals p/q with p != 0: no weight vanishes, so no term drops out.
            numerators = rng.choice([*range(-9, 0), *range(1, 10)], len(variables))
            denominators = rng.integers(1, 10, len(variables))
            values = [mpmath.mpf(int(p)) / int(q)
                      for p, q in zip(numerators, denominators, strict=True)]
            if max(abs(v) for v in function(*values)) > _PROOF_TOLERANCE:
                passed = False
    shape = "-".join(map(str, sizes))
    statement = (
        f"for a {shape} network ({', '.join(activations)}; {loss}), one sample: "
        "grad_W_l = a_{l-1}^T delta_l, grad_b_l = delta_l, "
        "delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l) equal sympy.diff of the loss w.r.t. "
        "W_l and b_l; exact (cancelled to 0) for the last layer with symbolic inputs; for "
        f"every layer of the expanded loss, |difference| < {_PROOF_TOLERANCE:g} at {points} "
        f"random rational points in {_PROOF_DIGITS}-digit arithmetic")
    return Proof(f"matrix_backprop_{shape}_{'_'.join(activations)}_{loss}", statement, passed)


def prove_receptive_field_recurrence(max_layers: int = 6) -> Proof:
    """The closed form r = 1 + sum_l (k_l^eff - 1) prod_{i<l} s_i, jump = prod s_l equals
    the layer-by-layer recurrence r_l = r_{l-1} + (k_l^eff - 1) j_{l-1}, j_l = j_{l-1} s_l
    (r_0 = j_0 = 1), as polynomials in the kernels, strides and dilations, for every stack
    of 1..max_layers layers."""
    import sympy as sp

    passed = True
    for n in range(1, max_layers + 1):
        closed_r, closed_j = receptive_field_formula(n)
        k, s, d = _rf_symbols(n)
        r, j = sp.Integer(1), sp.Integer(1)
        for l in range(n):
            r = r + (d[l] * (k[l] - 1) + 1 - 1) * j
            j = j * s[l]
        passed &= sp.expand(closed_r.expr - r) == 0 and sp.expand(closed_j.expr - j) == 0
    statement = (f"for 1..{max_layers} layers: 1 + sum_l (d_l(k_l - 1)) prod_{{i<l}} s_i and "
                 "prod_l s_l equal the recurrence r_l = r_{l-1} + (k_l^eff - 1) j_{l-1}, "
                 "j_l = j_{l-1} s_l, r_0 = j_0 = 1 (expanded difference is 0)")
    return Proof("receptive_field_recurrence", statement, passed)


def proofs() -> list[Proof]:
    """Every proof, for each activation/loss pair where it means something."""
    results = [prove_activation_derivative(name) for name in ACTIVATIONS]
    results += [prove_output_delta("bce"), prove_output_delta("softmax_ce")]
    results += [prove_output_delta("mse", activation=name) for name in ACTIVATIONS]
    results += [
        prove_matrix_backprop((2, 3, 2), ("sigmoid", "sigmoid"), "bce"),
        prove_matrix_backprop((2, 3, 2), ("tanh", "tanh"), "mse"),
        prove_matrix_backprop((2, 3, 3), ("relu", "linear"), "softmax_ce"),
        prove_matrix_backprop((2, 2, 2, 1), ("tanh", "relu", "sigmoid"), "bce"),
    ]
    results.append(prove_receptive_field_recurrence())
    return results


# ---------------------------------------------------------------------------
# Shape, receptive-field and cost formulas (sources: see verify.formulas)

@dataclass(frozen=True)
class Formula:
    """A closed form as a SymPy expression in integer symbols; calling it evaluates the
    expression exactly (integer arithmetic), with arguments in ``symbols`` order or by
    symbol name."""

    name: str
    expr: Any
    symbols: tuple
    function: Callable = field(repr=False, compare=False)

    def __call__(self, *args: int, **kwargs: int) -> int:
        return self.function(*args, **kwargs)


def _integer_symbols(names: str, **assumptions):
    import sympy as sp

    return sp.symbols(names, integer=True, **assumptions)


@functools.cache
def _shape_expressions() -> dict[str, tuple]:
    """name -> (expression, symbols in call order)."""
    import sympy as sp

    n, k, s, d = _integer_symbols("n k s d", positive=True)
    p, output_padding = _integer_symbols("p output_padding", nonnegative=True)
    k_h, k_w, c_in, c_out, h_in, w_in, h_out, w_out, n_in, n_out = _integer_symbols(
        "k_h k_w c_in c_out h_in w_in h_out w_out n_in n_out", positive=True)
    bias = _integer_symbols("bias", nonnegative=True)  # 1 with a bias, 0 without
    dilated = d * (k - 1) + 1
    span = n + 2 * p - dilated  # what the window can still slide over
    ceil_out = sp.ceiling(span / s) + 1
    return {
        "dilated_kernel": (dilated, (k, d)),
        "conv_output": (sp.floor(span / s) + 1, (n, k, s, p, d)),
        "pool_output": (sp.floor(span / s) + 1, (n, k, s, p, d)),
        # PyTorch: with ceil_mode, a last window that would start in the right padding
        # (at or beyond n + p) is dropped.
        "pool_output_ceil": (sp.Piecewise((ceil_out - 1, (ceil_out - 1) * s >= n + p),
                                          (ceil_out, True)), (n, k, s, p, d)),
        "convtranspose_output": ((n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1,
                                 (n, k, s, p, d, output_padding)),
        "conv_weights": (k_h * k_w * c_in * c_out, (k_h, k_w, c_in, c_out)),
        "conv_biases": (c_out * bias, (c_out, bias)),
        "conv_macs": (h_out * w_out * c_out * k_h * k_w * c_in,
                      (h_out, w_out, c_out, k_h, k_w, c_in)),
        "convtranspose_macs": (h_in * w_in * c_in * k_h * k_w * c_out,
                               (h_in, w_in, c_in, k_h, k_w, c_out)),
        "dense_weights": (n_in * n_out, (n_in, n_out)),
        "dense_biases": (n_out * bias, (n_out, bias)),
        "dense_macs": (n_in * n_out, (n_in, n_out)),
        "flatten_output": (h_in * w_in * c_in, (h_in, w_in, c_in)),
    }


FORMULA_NAMES = (
    "dilated_kernel", "conv_output", "pool_output", "pool_output_ceil", "convtranspose_output",
    "conv_weights", "conv_biases", "conv_macs", "convtranspose_macs", "dense_weights",
    "dense_biases", "dense_macs", "flatten_output",
)


@functools.cache
def formula(name: str) -> Formula:
    """One shape or cost formula by name (see FORMULA_NAMES), e.g.
    ``formula("conv_output")(n=32, k=5, s=1, p=0, d=1) == 28``."""
    if name not in FORMULA_NAMES:
        raise SpecError("name", name, f"must be one of {', '.join(FORMULA_NAMES)}")
    expr, symbols = _shape_expressions()[name]
    return Formula(name, expr, symbols, _compiled(expr, symbols))


def _rf_symbols(n_layers: int):
    k = _integer_symbols(f"k1:{n_layers + 1}", positive=True)
    s = _integer_symbols(f"s1:{n_layers + 1}", positive=True)
    d = _integer_symbols(f"d1:{n_layers + 1}", positive=True)
    return k, s, d


@functools.cache
def receptive_field_formula(n_layers: int) -> tuple[Formula, Formula]:
    """(r, jump) of a stack of n_layers conv/pool layers along one axis, in k1.., s1.., d1..
    (Araujo et al. 2019): r = 1 + sum_l (d_l(k_l - 1) + 1 - 1) prod_{i<l} s_i; jump = prod s_l.
    """
    import sympy as sp

    if not isinstance(n_layers, int) or n_layers < 1:
        raise SpecError("n_layers", n_layers, "must be a positive integer")
    k, s, d = _rf_symbols(n_layers)
    dilated = formula("dilated_kernel")
    kernel, dilation = dilated.symbols
    effective = [dilated.expr.xreplace({kernel: k[l], dilation: d[l]}) for l in range(n_layers)]
    r = 1 + sp.Add(*((effective[l] - 1) * sp.Mul(*s[:l]) for l in range(n_layers)))
    jump = sp.Mul(*s)
    symbols = (*k, *s, *d)
    return (Formula(f"receptive_field_{n_layers}", r, symbols, _compiled(r, symbols)),
            Formula(f"jump_{n_layers}", jump, symbols, _compiled(jump, symbols)))


@functools.cache
def _integer_printer():
    import sympy as sp
    from sympy.printing.pycode import PythonCodePrinter

    class Printer(PythonCodePrinter):
        """Exact integer Python: floor and ceiling of a quotient use //, never a float."""

        def _quotient(self, expr):
            numerator, denominator = sp.fraction(sp.together(expr.args[0]))
            return self._print(numerator), self._print(denominator)

        def _print_floor(self, expr):
            numerator, denominator = self._quotient(expr)
            return f"(({numerator}) // ({denominator}))"

        def _print_ceiling(self, expr):
            numerator, denominator = self._quotient(expr)
            return f"(-(-({numerator}) // ({denominator})))"

        def _print_Rational(self, expr):
            if expr.q != 1:
                raise TypeError(f"{expr} would print as a float in integer code")
            return str(expr.p)

    return Printer()


@functools.cache
def _compiled(expr, symbols: tuple) -> Callable:
    """A Python function of the symbols (by name) evaluating expr (or a Tuple) exactly."""
    printer = _integer_printer()
    arguments = ", ".join(symbol.name for symbol in symbols)
    namespace: dict[str, Any] = {}
    exec(f"def f({arguments}):\n    return {printer.doprint(expr)}\n", namespace)
    return namespace["f"]


@functools.cache
def _layer_function(kind: str) -> Callable:
    """The figures of one layer kind (conv, convtranspose, pool, pool_ceil, dense),
    composed from the formulas and compiled once: a function returning
    (output shape..., weights, biases, params, bytes, macs)."""
    import sympy as sp

    def sub(name: str, **values):
        f = formula(name)
        return f.expr.xreplace({symbol: values[symbol.name] for symbol in f.symbols})

    h, w, c, k_h, k_w, s_h, s_w, p_h, p_w, d_h, d_w, op_h, op_w, filters, n_in, units = (
        _integer_symbols("h w c k_h k_w s_h s_w p_h p_w d_h d_w op_h op_w filters n_in units",
                         nonnegative=True))
    bias, dtype_bytes = _integer_symbols("bias dtype_bytes", nonnegative=True)
    zero = sp.Integer(0)
    geometry = (h, w, c, k_h, k_w, s_h, s_w, p_h, p_w, d_h, d_w)
    if kind in ("conv", "convtranspose"):
        if kind == "conv":
            out = [sub("conv_output", n=n, k=k, s=s, p=p, d=d)
                   for n, k, s, p, d in ((h, k_h, s_h, p_h, d_h), (w, k_w, s_w, p_w, d_w))]
            macs = sub("conv_macs", h_out=out[0], w_out=out[1], c_out=filters, k_h=k_h, k_w=k_w,
                       c_in=c)
        else:
            out = [sub("convtranspose_output", n=n, k=k, s=s, p=p, d=d, output_padding=op)
                   for n, k, s, p, d, op in ((h, k_h, s_h, p_h, d_h, op_h),
                                             (w, k_w, s_w, p_w, d_w, op_w))]
            macs = sub("convtranspose_macs", h_in=h, w_in=w, c_in=c, k_h=k_h, k_w=k_w,
                       c_out=filters)
        weights = sub("conv_weights", k_h=k_h, k_w=k_w, c_in=c, c_out=filters)
        biases = sub("conv_biases", c_out=filters, bias=bias)
        shape = (*out, filters)
        symbols = (*geometry, op_h, op_w, filters, bias, dtype_bytes)
    elif kind in ("pool", "pool_ceil"):
        name = "pool_output_ceil" if kind == "pool_ceil" else "pool_output"
        shape = (*(sub(name, n=n, k=k, s=s, p=p, d=d)
                   for n, k, s, p, d in ((h, k_h, s_h, p_h, d_h), (w, k_w, s_w, p_w, d_w))), c)
        weights = biases = macs = zero
        symbols = (*geometry, dtype_bytes)
    elif kind == "dense":
        weights = sub("dense_weights", n_in=n_in, n_out=units)
        biases = sub("dense_biases", n_out=units, bias=bias)
        macs = sub("dense_macs", n_in=n_in, n_out=units)
        shape = (units,)
        symbols = (n_in, units, bias, dtype_bytes)
    else:
        raise ValueError(kind)
    params = weights + biases
    figures = sp.Tuple(*shape, weights, biases, params, params * dtype_bytes, macs)
    return _compiled(figures, symbols)


def summarize_symbolic(spec: NetSummary) -> dict:
    """The ``net-summary`` answer (DESIGN.md), with the structure of
    verify.formulas.summarize, evaluated from the SymPy formulas above.

    Assumes a stack whose geometry verify.formulas.summarize accepts; it raises SpecError
    only for what it cannot evaluate (a map layer on a flat input, a dense layer on a map,
    an output size below 1)."""
    shape = tuple(spec.input)
    alive = len(shape) == 3  # receptive field and jump exist until flatten/dense/transposed
    stack: list[tuple] = []  # (k, s, d) per conv/pool layer, per axis
    rf = jump = None
    if alive:
        rf, jump = [1, 1], [1, 1]
    rows = []
    for i, layer in enumerate(spec.layers):
        where = f"layers[{i}]"
        weights = biases = params = size_bytes = macs = 0
        if isinstance(layer, (Conv, Pool)):
            if len(shape) != 3:
                raise SpecError(f"{where}.type", layer.type,
                                "needs an [H, W, C] input, but the stack is flat here")
            geometry = (*shape, *layer.kernel, *layer.stride, *layer.padding, *layer.dilation)
            if isinstance(layer, Conv):
                kind = "convtranspose" if layer.transposed else "conv"
                figures = _layer_function(kind)(*geometry, *layer.output_padding, layer.filters,
                                                int(layer.bias), spec.dtype_bytes)
            else:
                kind = "pool_ceil" if layer.ceil_mode else "pool"
                figures = _layer_function(kind)(*geometry, spec.dtype_bytes)
            new_shape, (weights, biases, params, size_bytes, macs) = figures[:3], figures[3:]
            if min(new_shape[:2]) < 1:
                raise SpecError(where, layer.type,
                                f"leaves an output of {list(new_shape)}; sizes must be >= 1")
            shape = tuple(new_shape)
            if isinstance(layer, Conv) and layer.transposed:
                alive = False  # the field of a transposed-conv output depends on its position
            elif alive:
                stack.append(tuple(zip(layer.kernel, layer.stride, layer.dilation, strict=True)))
                r_formula, j_formula = receptive_field_formula(len(stack))
                rf, jump = [], []
                for axis in range(2):
                    k, s, d = zip(*(entry[axis] for entry in stack), strict=True)
                    rf.append(r_formula(*k, *s, *d))
                    jump.append(j_formula(*k, *s, *d))
        elif isinstance(layer, Flatten):
            shape = (formula("flatten_output")(*shape),) if len(shape) == 3 else shape
            alive = False
        elif isinstance(layer, Dense):
            if len(shape) != 1:
                raise SpecError(f"{where}.type", "dense",
                                f"needs a flat input, but receives {list(shape)}: "
                                "put a flatten layer before it")
            figures = _layer_function("dense")(shape[0], layer.units, int(layer.bias),
                                               spec.dtype_bytes)
            shape, (weights, biases, params, size_bytes, macs) = figures[:1], figures[1:]
            alive = False
        elif not isinstance(layer, Pointwise):
            raise SpecError(f"{where}.type", getattr(layer, "type", layer), "is not a known layer")
        if not alive:
            rf = jump = None
        rows.append({
            "type": layer.type,
            "output": [int(v) for v in shape],
            "weights": int(weights),
            "biases": int(biases),
            "params": int(params),
            "bytes": int(size_bytes),
            "macs": int(macs),
            "receptive_field": list(rf) if rf is not None else None,
            "jump": list(jump) if jump is not None else None,
        })
    total = {key: sum(row[key] for row in rows)
             for key in ("weights", "biases", "params", "bytes", "macs")}
    return {"layers": rows, "output": [int(v) for v in shape], "total": total}
