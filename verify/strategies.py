"""Public Hypothesis strategies for the specs in DESIGN.md.

Use them in any project's tests::

    from hypothesis import given
    from verify.strategies import backprop_steps

    @given(backprop_steps(max_depth=2))
    def test_my_sgd_step_matches_reference(params): ...

Every strategy draws valid params (plain JSON-like dicts) that
``verify.specs`` accepts.
"""

from __future__ import annotations

from hypothesis import strategies as st

from verify.specs import ACTIVATIONS, LOSSES

__all__ = ["backprop_steps"]


def _check_range(name_lo: str, lo: int, name_hi: str, hi: int, minimum: int = 1) -> None:
    if lo < minimum:
        raise ValueError(f"{name_lo}={lo} must be at least {minimum}")
    if lo > hi:
        raise ValueError(f"{name_lo}={lo} is larger than {name_hi}={hi}")


@st.composite
def _backprop_step(draw, min_depth, max_depth, min_width, max_width, activations, losses,
                   max_batch, weight_bound, batched):
    loss = draw(st.sampled_from(losses))
    depth = draw(st.integers(min_depth, max_depth))
    sizes = [draw(st.integers(min_width, max_width)) for _ in range(depth + 1)]
    if loss == "softmax_ce":
        sizes[-1] = max(sizes[-1], 2)  # a distribution over one class is trivial
    hidden = [draw(st.sampled_from(activations)) for _ in range(depth - 1)]
    last = {"bce": "sigmoid", "softmax_ce": "linear"}.get(loss)
    if last is None:
        last = draw(st.sampled_from(activations))
    acts = [*hidden, last]
    value = st.floats(-weight_bound, weight_bound, allow_nan=False, allow_infinity=False)

    def matrix(rows, cols):
        return draw(st.lists(st.lists(value, min_size=cols, max_size=cols),
                             min_size=rows, max_size=rows))

    layers = [{"W": matrix(n_in, n_out), "b": matrix(1, n_out)[0], "activation": act}
              for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True)]
    is_batch = draw(st.booleans()) if batched is None else batched
    batch = draw(st.integers(1, max_batch)) if is_batch else 1
    xs = matrix(batch, sizes[0])
    if loss == "bce":
        ys = draw(st.lists(st.lists(st.floats(0, 1), min_size=sizes[-1], max_size=sizes[-1]),
                           min_size=batch, max_size=batch))
    elif loss == "softmax_ce":
        ys = [[1.0 if j == k else 0.0 for j in range(sizes[-1])]
              for k in draw(st.lists(st.integers(0, sizes[-1] - 1), min_size=batch,
                                     max_size=batch))]
    else:
        ys = matrix(batch, sizes[-1])
    lr = draw(st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.5]))
    return {"x": xs if is_batch else xs[0], "y": ys if is_batch else ys[0], "lr": lr,
            "loss": loss, "layers": layers}


def backprop_steps(
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    min_width: int = 1,
    max_width: int = 5,
    activations: tuple[str, ...] = ACTIVATIONS,
    losses: tuple[str, ...] = LOSSES,
    max_batch: int = 4,
    weight_bound: float = 3.0,
    batched: bool | None = None,
) -> st.SearchStrategy[dict]:
    """``backprop-step`` params: dense networks of ``min_depth..max_depth`` layers and
    ``min_width..max_width`` neurons per layer, weights, biases and inputs in
    [-weight_bound, weight_bound], one sample or (``batched``) a batch of up to
    ``max_batch``. bce gets a sigmoid output and targets in [0, 1]; softmax_ce a linear
    output and one-hot targets; mse any output activation."""
    _check_range("min_depth", min_depth, "max_depth", max_depth)
    _check_range("min_width", min_width, "max_width", max_width)
    _check_range("max_batch", max_batch, "max_batch", max_batch)
    for name in activations:
        if name not in ACTIVATIONS:
            raise ValueError(f"activations contains {name!r}, not one of {ACTIVATIONS}")
    for name in losses:
        if name not in LOSSES:
            raise ValueError(f"losses contains {name!r}, not one of {LOSSES}")
    if not activations or not losses:
        raise ValueError("activations and losses must not be empty")
    if not weight_bound > 0:
        raise ValueError(f"weight_bound={weight_bound!r} must be > 0")
    return _backprop_step(min_depth, max_depth, min_width, max_width, tuple(activations),
                          tuple(losses), max_batch, float(weight_bound), batched)
