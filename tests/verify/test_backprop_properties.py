"""numpy backprop == SymPy-derived gradient == finite differences, over random networks."""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from verify.finite_diff import KINK_MARGIN, gradcheck
from verify.numeric.dense import backprop, forward
from verify.specs import parse_backprop_step
from verify.strategies import backprop_steps

EPS = np.finfo(np.float64).eps
# numpy backprop and the SymPy-generated code compute the same expressions in a different
# order of float64 operations: a few roundings per operation along a chain of <= 3 layers
# of <= 5-term sums, relative to the largest magnitude involved; 256 ulps is ample.
SYMBOLIC_ULPS = 256
SYMBOLIC_RTOL = 1e-9


def _flat(traces):
    return np.concatenate([np.concatenate([t.grad_W.ravel(), t.grad_b]) for t in traces])


def _off_kinks(step) -> bool:
    cache, _ = forward(step)
    return all(layer.activation != "relu" or np.min(np.abs(z)) > KINK_MARGIN
               for layer, (z, _) in zip(step.layers, cache, strict=True))


@given(backprop_steps())
def test_numpy_backprop_equals_finite_differences_for_every_parameter(params):
    step = parse_backprop_step(params)
    assume(_off_kinks(step))
    report = gradcheck(step)
    assert report.checked == step.n_params
    assert report.passed, report


@given(backprop_steps())
def test_numpy_backprop_equals_symbolic_gradient_and_finite_differences(params):
    from verify.symbolic import gradient_function

    step = parse_backprop_step(params)
    assume(_off_kinks(step))
    loss, traces = backprop(step)
    f = gradient_function(step.sizes, step.activations, step.loss)
    s_loss, s_gW, s_gb = f(step.x, step.y, [lay.W for lay in step.layers],
                           [lay.b for lay in step.layers])
    ours = np.concatenate([[loss], _flat(traces)])
    theirs = np.concatenate([[s_loss], *[np.concatenate([np.ravel(w), np.ravel(b)])
                                         for w, b in zip(s_gW, s_gb, strict=True)]])
    scale = max(1.0, float(np.max(np.abs(ours))))
    np.testing.assert_allclose(theirs, ours, rtol=SYMBOLIC_RTOL, atol=SYMBOLIC_ULPS * EPS * scale)
    assert gradcheck(step).passed


@given(backprop_steps(activations=("sigmoid", "tanh", "linear")), st.data())
def test_a_small_enough_sgd_step_lowers_the_loss_by_lr_times_gradient_norm_squared(params, data):
    # To first order, L(theta - eta g) = L(theta) - eta |g|^2. Halving eta must reach a
    # step whose decrease matches eta |g|^2 within 10%: a gradient with a wrong sign or
    # scale never does.
    step = parse_backprop_step(params)
    loss, traces = backprop(step)
    g2 = float(np.sum(_flat(traces) ** 2))
    assume(g2 > 1e-6 * max(1.0, loss))  # the decrease must stand above float64 rounding
    eta = 1.0
    for _ in range(40):
        weights = [lay.W - eta * t.grad_W for lay, t in zip(step.layers, traces, strict=True)]
        biases = [lay.b - eta * t.grad_b for lay, t in zip(step.layers, traces, strict=True)]
        _, new_loss = forward(step, weights, biases)
        ratio = (loss - float(new_loss)) / (eta * g2)
        if 0.9 <= ratio <= 1.1:
            break
        eta /= 2
    else:
        raise AssertionError(f"no step size gives a first-order decrease; last ratio {ratio}")
    assert new_loss < loss
