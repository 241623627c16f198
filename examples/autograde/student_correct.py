"""A student's numpy answers to the homework: one SGD step of a sigmoid network with
binary cross-entropy (question 2), conv and pooling output sizes (question 5) and the
receptive field of a layer stack (question 3).

Conventions of the course: W has shape (n_in, n_out) and z = a_prev @ W + b; the loss
is -sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]; output sizes follow PyTorch.
"""

import math

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_derivative(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def sgd_step(x, y, weights, biases, lr):
    """One SGD step on one sample x with target y; returns (new_weights, new_biases)."""
    activations = [x]
    pre_activations = []
    for W, b in zip(weights, biases, strict=True):
        z = activations[-1] @ W + b
        pre_activations.append(z)
        activations.append(sigmoid(z))

    # Sigmoid output with binary cross-entropy: dL/dz of the last layer is a - y.
    delta = activations[-1] - y
    grads_W, grads_b = [], []
    for layer in reversed(range(len(weights))):
        grads_W.insert(0, np.outer(activations[layer], delta))
        grads_b.insert(0, delta)
        if layer > 0:
            delta = (delta @ weights[layer].T) * sigmoid_derivative(pre_activations[layer - 1])

    new_weights = [W - lr * gW for W, gW in zip(weights, grads_W, strict=True)]
    new_biases = [b - lr * gb for b, gb in zip(biases, grads_b, strict=True)]
    return new_weights, new_biases


def conv_output_size(n, kernel, stride, padding, dilation):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(n, kernel, stride, padding, dilation, ceil_mode):
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    # PyTorch drops a last window that would start in the right padding.
    if (out - 1) * stride >= n + padding:
        out -= 1
    return out


def receptive_field(stack):
    """Receptive field of one unit of the last layer, as [h, w]."""
    field, jump = [1, 1], [1, 1]
    for layer in stack["layers"]:
        if "kernel" not in layer:  # an activation: reads one input per output
            continue
        kernel, stride, dilation = (_pair(layer["kernel"]), _pair(layer.get("stride", 1)),
                                    _pair(layer.get("dilation", 1)))
        for axis in range(2):
            field[axis] += dilation[axis] * (kernel[axis] - 1) * jump[axis]
            jump[axis] *= stride[axis]
    return field


def _pair(value):
    return list(value) if isinstance(value, (list, tuple)) else [value, value]
