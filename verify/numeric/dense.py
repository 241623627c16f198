"""numpy reference for dense networks: forward, backward, one SGD step (float64).

Conventions (DESIGN.md): ``z = a_prev @ W + b`` with W of shape (n_in, n_out);
``bce`` and ``softmax_ce`` sum over outputs; a batch takes the mean over samples.

Every function here also accepts complex arrays and arrays with extra leading axes
(a stack of perturbed copies of one network), so that verify.finite_diff can run the
complex-step and batched central-difference checks through this same forward pass.
The backward pass uses the hand-derived error terms of the textbook (delta_L = a - y,
sigma' = a(1 - a)); verify.symbolic derives them again with SymPy, and finite
differences check both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from verify.specs import BackpropStep, parse_backprop_step

__all__ = [
    "LayerTrace",
    "activate",
    "activation_derivative",
    "backprop",
    "forward",
    "loss_per_sample",
    "sgd_step",
]


def _real(z: np.ndarray) -> np.ndarray:
    return z.real if np.iscomplexobj(z) else z


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), evaluated without overflow on either side (and for complex z,
    branching on the real part)."""
    positive = _real(z) >= 0
    t = np.exp(-np.where(positive, z, -z))  # e^-|z|: never overflows
    return np.where(positive, 1.0 / (1.0 + t), t / (1.0 + t))


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) without overflow: log sigma(z) = -softplus(-z)."""
    positive = _real(z) > 0
    return np.where(positive, z, 0) + np.log1p(np.exp(-np.where(positive, z, -z)))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(_real(z) > 0, z, 0.0)
    if name == "linear":
        return z
    raise ValueError(f"activation={name!r} is not one of sigmoid, tanh, relu, linear")


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z), written through the activation a = f(z) as the textbook does.
    relu'(0) is taken as 0, PyTorch's convention."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (_real(z) > 0).astype(np.float64)
    if name == "linear":
        return np.ones_like(z)
    raise ValueError(f"activation={name!r} is not one of sigmoid, tanh, relu, linear")


def loss_per_sample(loss: str, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss of each sample (summed over outputs, the last axis)."""
    if loss == "bce":
        # -[y log a + (1 - y) log(1 - a)] with a = sigma(z) is y softplus(-z) +
        # (1 - y) softplus(z) = softplus(z) - y z: a saturated output gives a large finite
        # loss instead of log(0), for one softplus per output.
        return np.sum(softplus(z) - y * z, axis=-1)
    if loss == "mse":
        return 0.5 * np.sum((a - y) ** 2, axis=-1)
    if loss == "softmax_ce":
        m = np.max(_real(z), axis=-1, keepdims=True)
        log_sum_exp = m[..., 0] + np.log(np.sum(np.exp(z - m), axis=-1))
        return log_sum_exp * np.sum(y, axis=-1) - np.sum(y * z, axis=-1)
    raise ValueError(f"loss={loss!r} is not one of bce, mse, softmax_ce")


@dataclass(frozen=True, eq=False)
class LayerTrace:
    """What one layer computed: pre-activation z, activation a, error term delta = dL/dz
    (per sample, before the batch mean), and the batch-mean gradients."""

    z: np.ndarray
    a: np.ndarray
    delta: np.ndarray
    grad_W: np.ndarray
    grad_b: np.ndarray


def forward(step: BackpropStep, weights=None, biases=None):
    """Forward pass: returns ([(z_l, a_l) for each layer], loss averaged over the batch)."""
    weights = weights if weights is not None else [layer.W for layer in step.layers]
    biases = biases if biases is not None else [layer.b for layer in step.layers]
    a = step.x
    cache = []
    for layer, W, b in zip(step.layers, weights, biases, strict=True):
        z = a @ W + b
        a = activate(layer.activation, z)
        cache.append((z, a))
    z_last, a_last = cache[-1]
    loss = np.mean(loss_per_sample(step.loss, z_last, a_last, step.y), axis=-1)
    return cache, loss


def _output_delta(step: BackpropStep, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dL/dz of the last layer, per sample."""
    y = step.y
    if step.loss == "bce":  # sigmoid output: the sigma' cancels, delta = a - y
        return a - y
    if step.loss == "softmax_ce":  # linear output (logits): softmax(z) * sum(y) - y
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * y.sum(axis=-1, keepdims=True) - y
    last = step.layers[-1].activation
    return (a - y) * activation_derivative(last, z, a)  # mse


def backprop(params) -> tuple[float, list[LayerTrace]]:
    """Loss and per-layer trace (z, a, delta, batch-mean gradients) of one sample or batch."""
    step = parse_backprop_step(params)
    cache, loss = forward(step)
    batch = step.x.shape[0]
    traces: list[LayerTrace] = []
    delta = _output_delta(step, *cache[-1])
    for index in range(len(step.layers) - 1, -1, -1):
        z, a = cache[index]
        a_prev = step.x if index == 0 else cache[index - 1][1]
        grad_W = a_prev.T @ delta / batch
        grad_b = delta.mean(axis=0)
        traces.append(LayerTrace(z, a, delta, grad_W, grad_b))
        if index:
            z_prev, a_prev_act = cache[index - 1]
            prev = step.layers[index - 1].activation
            delta = (delta @ step.layers[index].W.T) * activation_derivative(
                prev, z_prev, a_prev_act)
    traces.reverse()
    return float(loss), traces


def sgd_step(params) -> dict:
    """The ``backprop-step`` answer (DESIGN.md): loss before the step, and per layer the
    updated W and b and the gradients, as plain lists."""
    step = parse_backprop_step(params)
    loss, traces = backprop(step)
    layers = []
    for layer, trace in zip(step.layers, traces, strict=True):
        layers.append({
            "W": (layer.W - step.lr * trace.grad_W).tolist(),
            "b": (layer.b - step.lr * trace.grad_b).tolist(),
            "grad_W": trace.grad_W.tolist(),
            "grad_b": trace.grad_b.tolist(),
        })
    return {"loss": loss, "layers": layers}
