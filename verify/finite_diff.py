"""Finite differences over every parameter of a dense network, batched.

Two estimators of dL/dtheta_p, both independent of backprop:

* complex step (Squire & Trapp 1998): dL/dtheta ~= Im L(theta + i h e_p) / h. No
  subtraction, so no cancellation: exact to float64 rounding for any tiny h. Valid only
  where the network is analytic (sigmoid, tanh, linear; bce, mse, softmax_ce).
* central differences: (L(theta + h e_p) - L(theta - h e_p)) / 2h, for networks with
  relu, where the complex step does not apply.

Perturbing one parameter of layer l only changes column j of z_l, so all parameters of
a layer are checked at once: a stack of P perturbed copies of z_l, pushed through the
remaining layers as one (P, batch, width) array. No Python loop per parameter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from verify.numeric.dense import activate, backprop, forward, loss_per_sample
from verify.specs import BackpropStep, parse_backprop_step

__all__ = ["GradcheckReport", "gradcheck", "numeric_gradient"]

EPS = np.finfo(np.float64).eps

# Central step h = cbrt(eps) * max(1, |theta|) balances the O(h^2) truncation error
# against the eps*|L|/h rounding error; both are then ~eps^(2/3) ~ 4e-11 relative.
CENTRAL_STEP_SCALE = float(np.cbrt(EPS))
# The complex step has no cancellation; h only needs h^2 * |L'''| far below eps * |L'|.
COMPLEX_STEP = 1e-20

# Agreement is numpy.allclose-style: |numeric - analytic| <= atol + rtol * |analytic|.
# atol is the rounding noise of the estimate itself, ROUNDING_ULPS roundings' worth:
#   central:      the loss is computed to ~ULPS * eps * |L|, and that error is divided
#                 by 2h, so atol = ULPS * eps * max(1, |L|) / h;
#   complex step: no division by a difference, so atol = ULPS * eps * max(1, max|grad|).
# rtol is the method's truncation error: central h^2 |L'''| / 6 ~ eps^(2/3) |L'''| ~ 1e-11
# times curvature, so 1e-5 leaves a factor 1e6 for saturating units; the complex step
# has no truncation above eps, so 1e-9 (observed: ~1e-12 on a 64-128-10 network).
ROUNDING_ULPS = 64
CENTRAL_RTOL = 1e-5
COMPLEX_STEP_RTOL = 1e-9

# A relu pre-activation closer to 0 than this may flip sign under a central step
# (h ~ 6e-6 times inputs of order 1): the difference then straddles the kink.
KINK_MARGIN = 1e-4

# Perturbed copies are pushed in chunks of at most this many float64 elements per
# (P, batch, width) array: large enough to amortise numpy's per-call cost, small enough
# to stay in cache.
CHUNK_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class GradcheckReport:
    method: str  # "complex_step" or "central"
    checked: int  # parameters compared
    max_abs_error: float  # max |numeric - analytic|
    max_rel_error: float  # max |numeric - analytic| / |analytic| over gradients above atol
    rtol: float
    atol: float  # the largest atol used (it scales with the step for central differences)
    passed: bool  # every parameter within atol + rtol * |analytic|
    worst: str  # the parameter furthest outside (or nearest to) its bound
    differentiable: bool = True  # False when a relu unit sits on its kink

    def to_dict(self) -> dict:
        return asdict(self)


def _layer_losses(step: BackpropStep, index: int, cache, h: np.ndarray, dtype) -> np.ndarray:
    """Loss of the network with parameter p of layer ``index`` moved by h[p], for all p
    (W in row-major order, then b), as one array of shape (P,)."""
    layer = step.layers[index]
    n_in, n_out = layer.W.shape
    a_prev = step.x if index == 0 else cache[index - 1][1]
    z, a = cache[index]
    later = step.layers[index + 1:]
    widest = max([lay.W.shape[1] for lay in later] + [n_out if not later else 1])
    chunk = max(1, CHUNK_ELEMENTS // (step.x.shape[0] * widest))
    n_params = n_in * n_out + n_out
    losses = np.empty(n_params, dtype=dtype)
    for start in range(0, n_params, chunk):
        p = np.arange(start, min(start + chunk, n_params))
        is_w = p < n_in * n_out
        rows = np.where(is_w, p // n_out, 0)
        cols = np.where(is_w, p % n_out, p - n_in * n_out)
        # Moving W[i, j] by h moves z_l[:, j] by h * a_prev[:, i] (b[j]: by h), and only
        # that column: each copy carries one perturbed column, shape (P, batch).
        z_col = z[:, cols].T + h[p, None] * np.where(is_w[:, None], a_prev[:, rows].T, 1.0)
        a_col = activate(layer.activation, z_col)
        if not later:
            Z = np.broadcast_to(z, (len(p), *z.shape)).astype(dtype)
            A = np.broadcast_to(a, (len(p), *a.shape)).astype(dtype)
            Z[np.arange(len(p)), :, cols] = z_col
            A[np.arange(len(p)), :, cols] = a_col
        else:
            # The next layer sees the change of one activation column through one row
            # of its weights: z_{l+1} + (a_col' - a_col) W_{l+1}[j, :].
            change = a_col - a[:, cols].T
            Z = cache[index + 1][0] + change[..., None] * later[0].W[cols][:, None, :]
            A = activate(later[0].activation, Z)
            for lay in later[1:]:
                Z = A @ lay.W + lay.b
                A = activate(lay.activation, Z)
        losses[p] = np.mean(loss_per_sample(step.loss, Z, A, step.y), axis=-1)
    return losses


def numeric_gradient(params, *, method: str = "auto") -> list[tuple[np.ndarray, np.ndarray]]:
    """dL/dW and dL/db of every layer by finite differences (batch-mean loss)."""
    step = parse_backprop_step(params)
    method = _choose(step, method)
    cache, _ = forward(step)
    grads = []
    for index, layer in enumerate(step.layers):
        theta = np.concatenate([layer.W.ravel(), layer.b])
        if method == "complex_step":
            losses = _layer_losses(step, index, cache, np.full(theta.size, 1j * COMPLEX_STEP),
                                   np.complex128)
            g = losses.imag / COMPLEX_STEP
        else:
            h = CENTRAL_STEP_SCALE * np.maximum(1.0, np.abs(theta))
            plus = _layer_losses(step, index, cache, h, np.float64)
            minus = _layer_losses(step, index, cache, -h, np.float64)
            g = (plus - minus) / (2 * h)
        n_w = layer.W.size
        grads.append((g[:n_w].reshape(layer.W.shape), g[n_w:]))
    return grads


def _choose(step: BackpropStep, method: str) -> str:
    if method not in ("auto", "complex_step", "central"):
        raise ValueError(f"method={method!r} is not one of auto, complex_step, central")
    has_relu = "relu" in step.activations
    if method == "complex_step" and has_relu:
        raise ValueError("method='complex_step' needs an analytic network; relu is not")
    if method == "auto":
        return "central" if has_relu else "complex_step"
    return method


def _near_kink(step: BackpropStep, cache) -> bool:
    return any(layer.activation == "relu" and np.min(np.abs(z)) < KINK_MARGIN
               for layer, (z, _) in zip(step.layers, cache, strict=True))


def gradcheck(params, *, method: str = "auto") -> GradcheckReport:
    """Compare the numpy backprop gradient of every parameter with finite differences."""
    step = parse_backprop_step(params)
    method = _choose(step, method)
    loss, traces = backprop(step)
    numeric = numeric_gradient(step, method=method)
    analytic = [np.concatenate([t.grad_W.ravel(), t.grad_b]) for t in traces]
    estimate = [np.concatenate([gw.ravel(), gb]) for gw, gb in numeric]
    ana, num = np.concatenate(analytic), np.concatenate(estimate)
    if method == "complex_step":
        rtol = COMPLEX_STEP_RTOL
        atol = np.full(ana.size, ROUNDING_ULPS * EPS * max(1.0, float(np.max(np.abs(ana)))))
    else:
        rtol = CENTRAL_RTOL
        theta = np.concatenate([np.concatenate([lay.W.ravel(), lay.b]) for lay in step.layers])
        atol = ROUNDING_ULPS * EPS * max(1.0, abs(loss)) / (
            CENTRAL_STEP_SCALE * np.maximum(1.0, np.abs(theta)))
    abs_err = np.abs(num - ana)
    ratio = abs_err / (atol + rtol * np.abs(ana))
    meaningful = np.abs(ana) > atol
    rel = abs_err[meaningful] / np.abs(ana[meaningful])
    worst = int(np.argmax(ratio))
    cache, _ = forward(step)
    differentiable = not _near_kink(step, cache)
    return GradcheckReport(
        method=method,
        checked=int(ana.size),
        max_abs_error=float(abs_err.max()),
        max_rel_error=float(rel.max()) if rel.size else 0.0,
        rtol=rtol,
        atol=float(atol.max()),
        passed=bool(differentiable and np.all(ratio <= 1.0)),
        worst=_name(step, worst),
        differentiable=differentiable,
    )


def _name(step: BackpropStep, flat: int) -> str:
    for index, layer in enumerate(step.layers):
        n_w, n_b = layer.W.size, layer.b.size
        if flat < n_w:
            i, j = divmod(flat, layer.W.shape[1])
            return f"layers[{index}].W[{i}][{j}]"
        if flat < n_w + n_b:
            return f"layers[{index}].b[{flat - n_w}]"
        flat -= n_w + n_b
    raise IndexError(flat)
