"""backprop-step (the homework's question 2): one SGD step on a small dense network.
Params are a ``backprop-step`` spec; the answer is exactly ``qgen.solve("backprop-step")``.

easy: a 2-2-1 to 2-3-2 sigmoid network with bce, one sample, one-decimal weights and a
learning rate of 0.1 or 0.5. medium: 3-4 inputs, a tanh or sigmoid hidden layer, bce or
mse. hard: one or two relu/tanh hidden layers, softmax_ce (linear logits, one-hot
targets) or mse, and a batch of 2-3 samples (the loss and gradients are batch means).

Multiple choice asks for one updated weight of the first layer: the error has then
passed back through every layer, so every misconception changes it.
"""

from __future__ import annotations

import numpy as np

from qgen.families.base import Check, Family, Misconception, Part, rounded, solve_via
from verify.specs import parse_backprop_step

# Free-response parts are printed with DECIMALS places: the loss and the updated
# weights move by lr * gradient ~ 1e-3 .. 1e-1, so six places show at least three
# significant digits of every change. Part.tolerance = 10**-DECIMALS.
DECIMALS = 6
# The multiple-choice weight is printed with fewer places, so that options outside each
# other's tolerance (10**-CHOICE_DECIMALS) also look different to a reader.
CHOICE_DECIMALS = 4
# One unit of that precision, with a hair of slack for the float64 rounding of the
# difference of two printed values.
CHOICE_TOLERANCE = 10.0 ** -CHOICE_DECIMALS * (1 + 1e-9)
# Intermediate values in the worked solution (z, a, delta, gradients).
WORK_DECIMALS = 6

# A relu pre-activation at least this far from 0 keeps its derivative away from the
# kink's convention (relu'(0) = 0), and keeps a finite-difference step of ~1e-5 on one
# side of it.
RELU_MARGIN = 1e-3
# The asked first-layer weight must move by at least this much (ten units of the
# choice precision), so that the update itself is visible in the options.
MIN_CHOICE_CHANGE = 10 * 10.0 ** -CHOICE_DECIMALS
MAX_DRAWS = 200

# check(): central differences of an independent forward pass. The step h = cbrt(eps)
# * max(1, |theta|) balances truncation (h^2 |L'''| / 6) against rounding (eps |L| / h):
# both ~1e-11 here, so a gradient is good to ~1e-10 and an update (lr <= 1) as well.
# CHECK_TOLERANCE leaves a factor 100 on that and is still 100x below the finest
# display unit (1e-6), so no disagreement it lets through can change a printed digit
# except at a rounding boundary.
CHECK_STEP = float(np.cbrt(np.finfo(np.float64).eps))
CHECK_TOLERANCE = 1e-8


# ---------------------------------------------------------------------------
# sample

def _grid(rng: np.random.Generator, shape, decimals: int, low: float, high: float,
          *, nonzero: bool = False) -> list:
    """Numbers on a grid of ``decimals`` places in [low, high], as nested lists."""
    scale = 10**decimals
    values = rng.integers(round(low * scale), round(high * scale) + 1, size=shape)
    if nonzero:
        while np.any(values == 0):
            values = np.where(values == 0, rng.integers(round(low * scale),
                                                        round(high * scale) + 1, size=shape),
                              values)
    return rounded((values / scale).tolist(), decimals)


def _one_hot(rng: np.random.Generator, n: int) -> list[float]:
    y = [0.0] * n
    y[int(rng.integers(n))] = 1.0
    return y


def _architecture(rng: np.random.Generator, difficulty: str):
    """(sizes, activations, loss)."""
    if difficulty == "easy":
        sizes = [(2, 2, 1), (2, 3, 1), (2, 2, 2), (2, 3, 2)][int(rng.integers(4))]
        return sizes, ("sigmoid", "sigmoid"), "bce"
    if difficulty == "medium":
        sizes = (int(rng.integers(3, 5)), int(rng.integers(2, 4)), int(rng.integers(1, 3)))
        hidden = str(rng.choice(["sigmoid", "tanh"]))
        loss = str(rng.choice(["bce", "mse"]))
        out = "sigmoid" if loss == "bce" else str(rng.choice(["sigmoid", "sigmoid", "linear"]))
        return sizes, (hidden, out), loss
    hidden_layers = int(rng.integers(1, 3))
    loss = str(rng.choice(["softmax_ce", "mse"]))
    n_out = int(rng.integers(2, 4)) if loss == "softmax_ce" else int(rng.integers(1, 3))
    sizes = (int(rng.integers(2, 4)), *(int(rng.integers(2, 4)) for _ in range(hidden_layers)),
             n_out)
    hidden = tuple(str(rng.choice(["relu", "tanh"])) for _ in range(hidden_layers))
    out = "linear" if loss == "softmax_ce" else str(rng.choice(["linear", "sigmoid", "tanh"]))
    return sizes, (*hidden, out), loss


def _targets(rng: np.random.Generator, n: int, loss: str, out: str, difficulty: str) -> list:
    if loss == "softmax_ce" or (loss == "bce" and difficulty == "easy"):
        return _one_hot(rng, n) if n > 1 or loss == "softmax_ce" else [float(rng.integers(2))]
    if loss == "bce":  # independent labels (multi-label)
        return [float(v) for v in rng.integers(0, 2, size=n)]
    if out == "sigmoid":
        return _grid(rng, n, 1, 0.0, 1.0)
    return _grid(rng, n, 1, -1.0, 1.0)


def _draw(rng: np.random.Generator, difficulty: str) -> dict:
    sizes, activations, loss = _architecture(rng, difficulty)
    easy = difficulty == "easy"
    batch = int(rng.integers(2, 4)) if difficulty == "hard" else 1
    if easy:
        xs = [_grid(rng, sizes[0], 1, 0.1, 0.9)]
    else:
        xs = [_grid(rng, sizes[0], 1, -1.0, 1.0) for _ in range(batch)]
    ys = [_targets(rng, sizes[-1], loss, activations[-1], difficulty) for _ in range(batch)]
    layers = []
    for n_in, n_out, activation in zip(sizes[:-1], sizes[1:], activations, strict=True):
        W = _grid(rng, (n_in, n_out), 1 if easy else 2, -0.9 if easy else -1.0,
                  0.9 if easy else 1.0, nonzero=True)
        b = _grid(rng, n_out, 2, -0.5, 0.5)
        layers.append({"W": W, "b": b, "activation": activation})
    lr = float(rng.choice([0.1, 0.5] if easy else [0.05, 0.1, 0.2, 0.5]))
    return {"x": xs if batch > 1 else xs[0], "y": ys if batch > 1 else ys[0], "lr": lr,
            "loss": loss, "layers": layers}


def _acceptable(params: dict) -> bool:
    """Relu pre-activations clear of the kink, every relu layer passing some error back
    for every sample, and a first-layer update large enough to see."""
    from verify.numeric.dense import backprop

    _, traces = backprop(params)
    for layer, trace in zip(params["layers"], traces, strict=True):
        if layer["activation"] == "relu" and (np.min(np.abs(trace.z)) < RELU_MARGIN or not
                                               np.all(np.any(trace.z > 0, axis=1))):
            return False
    return params["lr"] * float(np.max(np.abs(traces[0].grad_W))) >= MIN_CHOICE_CHANGE


def sample(rng: np.random.Generator, difficulty: str) -> dict:
    """Params on the grid the student sees (rounded before anything is solved)."""
    for _ in range(MAX_DRAWS):
        params = _draw(rng, difficulty)
        if _acceptable(params):
            return params
    # Not reached in practice (three draws in four are accepted at the hardest level);
    # the last draw is still solved and checked like any other.
    return params


# ---------------------------------------------------------------------------
# graded parts

def choice_index(answer: dict) -> tuple[int, int]:
    """(i, j) of the first-layer weight that multiple choice asks for: the one with the
    largest gradient, so that every wrong method moves it visibly (first on ties)."""
    grad = np.abs(np.asarray(answer["layers"][0]["grad_W"], dtype=float))
    i, j = np.unravel_index(int(np.argmax(grad)), grad.shape)
    return int(i), int(j)


def parts(params: dict, answer: dict) -> list[Part]:
    found = [Part("loss", "loss before the update", answer["loss"], DECIMALS)]
    for index, layer in enumerate(answer["layers"]):
        found.append(Part(f"layers.{index}.W", f"updated weights W({index + 1})", layer["W"],
                          DECIMALS))
        found.append(Part(f"layers.{index}.b", f"updated biases b({index + 1})", layer["b"],
                          DECIMALS))
    return found


def choice_part(params: dict, answer: dict) -> Part:
    i, j = choice_index(answer)
    return Part(f"layers.0.W.{i}.{j}", f"updated weight W(1)[{i + 1}][{j + 1}]",
                answer["layers"][0]["W"][i][j], CHOICE_DECIMALS)


# ---------------------------------------------------------------------------
# misconceptions: one whole SGD step done with one wrong rule, read at the asked weight

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _apply(name: str, z):
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    return z


def _derivative(name: str, z, a, rule: str):
    """f'(z) by the right rule, or by one of the wrong ones."""
    if rule == "value":  # used f(z) where f'(z) belongs
        return a
    if rule == "of_z":  # wrote sigma' = a(1 - a) (tanh' = 1 - a^2) but put z in for a
        a = z if name in ("sigmoid", "tanh") else a
    if rule == "sigmoid_for_tanh" and name == "tanh":
        return a * (1.0 - a)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).astype(float)
    return np.ones_like(z)


# The forward pass is the same for every misconception (they differ in the backward
# pass): the last one computed is kept, with the params and answer it belongs to (held,
# so an identity match cannot be a recycled id).
_forward_memo: tuple = (None, None, None)


def _forward(params: dict, answer: dict):
    global _forward_memo
    memo_params, memo_answer, result = _forward_memo
    if memo_params is params and memo_answer is answer:
        return result
    X = np.atleast_2d(np.asarray(params["x"], dtype=float))
    Ws = [np.asarray(layer["W"], dtype=float) for layer in params["layers"]]
    acts = [layer.get("activation", "sigmoid") for layer in params["layers"]]
    zs, As = [], [X]
    for W, layer, act in zip(Ws, params["layers"], acts, strict=True):
        zs.append(As[-1] @ W + np.asarray(layer["b"], dtype=float))
        As.append(_apply(act, zs[-1]))
    result = (np.atleast_2d(np.asarray(params["y"], dtype=float)), Ws, acts, zs, As,
              choice_index(answer))
    _forward_memo = (params, answer, result)
    return result


def _wrong_weight(params: dict, answer: dict, *, rule: str = "right",
                  hidden_derivative: bool = True, output: str = "right", sign: float = -1.0,
                  use_lr: bool = True, mean: bool = True, times_input: bool = True,
                  updated_weights: bool = False) -> float:
    """The asked weight after one SGD step computed with the given (wrong) rules."""
    Y, Ws, acts, zs, As, (i, j) = _forward(params, answer)
    X = As[0]
    loss, lr, batch = params.get("loss", "bce"), params["lr"], X.shape[0]
    z, a = zs[-1], As[-1]
    if loss == "bce":
        delta = a - Y
        if output == "double_sigma":  # multiplied the cancelled sigma' back in
            delta = delta * a * (1.0 - a)
    elif loss == "softmax_ce":
        if output == "sigmoid_for_softmax":
            p = _sigmoid(z)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
        delta = p - Y
    else:
        delta = a - Y
        if output != "no_output_derivative":
            delta = delta * _derivative(acts[-1], z, a, rule)
    for index in range(len(Ws) - 1, 0, -1):
        W_next = Ws[index]
        if updated_weights:  # back-propagated through the already-updated weights
            W_next = W_next - lr * As[index].T @ delta / batch
        delta = delta @ W_next.T
        if hidden_derivative:
            delta = delta * _derivative(acts[index - 1], zs[index - 1], As[index], rule)
    inputs = X[:, i] if times_input else np.ones(batch)
    grad = float(inputs @ delta[:, j]) / (batch if mean else 1)
    return float(Ws[0][i, j] + sign * (lr if use_lr else 1.0) * grad)


def _uses_derivative(params: dict, names: tuple[str, ...]) -> bool:
    """Whether some f' of one of ``names`` enters the backward pass (hidden layers, and
    the output layer under mse)."""
    layers = params["layers"]
    used = [layer.get("activation", "sigmoid") for layer in layers[:-1]]
    if params.get("loss", "bce") == "mse":
        used.append(layers[-1].get("activation", "sigmoid"))
    return any(name in names for name in used)


def _when(condition, **rules):
    """The misconception's value where it applies. None also when, printed, it would sit
    within one display unit of the printed answer: an option must look wrong, not only be
    wrong by a hair of the exact value."""
    def wrong(params: dict, answer: dict):
        if not condition(params):
            return None
        value = _wrong_weight(params, answer, **rules)
        i, j = _forward(params, answer)[-1]
        gap = abs(round(value, CHOICE_DECIMALS) - round(answer["layers"][0]["W"][i][j],
                                                        CHOICE_DECIMALS))
        return value if gap > CHOICE_TOLERANCE else None
    return wrong


def _always(params: dict) -> bool:
    return True


MISCONCEPTIONS = (
    Misconception("used_activation_for_derivative",
                  "used the activation f(z) (sigma(z)) instead of its derivative f'(z)",
                  _when(lambda p: _uses_derivative(p, ("sigmoid", "tanh", "relu")),
                        rule="value")),
    Misconception("wrong_update_sign", "added the gradient instead of subtracting it",
                  _when(_always, sign=1.0)),
    Misconception("forgot_learning_rate", "subtracted the gradient without the learning rate",
                  _when(_always, use_lr=False)),
    Misconception("forgot_hidden_derivative",
                  "forgot the hidden activation's derivative when back-propagating the error",
                  _when(lambda p: len(p["layers"]) > 1, hidden_derivative=False)),
    Misconception("double_counted_output_derivative",
                  "multiplied delta = a - y by sigma'(z) again at the sigmoid + "
                  "cross-entropy output", _when(lambda p: p.get("loss", "bce") == "bce",
                                                output="double_sigma")),
    Misconception("dropped_output_derivative",
                  "used delta = a - y at an mse output, without f'(z)",
                  _when(lambda p: p.get("loss", "bce") == "mse"
                        and p["layers"][-1].get("activation", "sigmoid") != "linear",
                        output="no_output_derivative")),
    Misconception("sigmoid_for_softmax", "used sigmoid instead of softmax at the output",
                  _when(lambda p: p.get("loss", "bce") == "softmax_ce",
                        output="sigmoid_for_softmax")),
    Misconception("forgot_batch_mean", "summed the gradients over the batch instead of "
                  "averaging them", _when(lambda p: bool(p["x"]) and isinstance(
                      p["x"][0], list) and len(p["x"]) > 1, mean=False)),
    Misconception("derivative_of_z", "wrote sigma' = a(1 - a) (tanh' = 1 - a^2) but put "
                  "z in place of a", _when(lambda p: _uses_derivative(p, ("sigmoid", "tanh")),
                                           rule="of_z")),
    Misconception("sigmoid_derivative_for_tanh", "used the sigmoid's a(1 - a) as the "
                  "derivative of tanh", _when(lambda p: _uses_derivative(p, ("tanh",)),
                                              rule="sigmoid_for_tanh")),
    Misconception("forgot_input", "took the weight's gradient as delta alone, without "
                  "multiplying by the input it carries", _when(_always, times_input=False)),
    Misconception("used_updated_weights", "back-propagated the error through weights "
                  "already updated in this step", _when(lambda p: len(p["layers"]) > 1,
                                                        updated_weights=True)),
)


# ---------------------------------------------------------------------------
# independent check: a forward pass written from the loss definitions, differentiated
# by central differences, recomputes every graded figure

def _losses(params: dict, thetas: np.ndarray) -> np.ndarray:
    """The batch-mean loss for each row of ``thetas`` (every W row-major, then b, layer
    after layer), straight from the definitions in DESIGN.md."""
    X = np.atleast_2d(np.asarray(params["x"], dtype=float))
    Y = np.atleast_2d(np.asarray(params["y"], dtype=float))
    a = np.broadcast_to(X, (thetas.shape[0], *X.shape))
    start = 0
    for layer in params["layers"]:
        n_in, n_out = np.shape(layer["W"])
        W = thetas[:, start:start + n_in * n_out].reshape(-1, n_in, n_out)
        b = thetas[:, start + n_in * n_out:start + n_in * n_out + n_out]
        start += n_in * n_out + n_out
        z = np.einsum("kbi,kij->kbj", a, W) + b[:, None, :]
        a = _apply(layer.get("activation", "sigmoid"), z)
    loss = params.get("loss", "bce")
    if loss == "bce":
        per_sample = -np.sum(Y * np.log(a) + (1 - Y) * np.log(1 - a), axis=-1)
    elif loss == "mse":
        per_sample = 0.5 * np.sum((a - Y) ** 2, axis=-1)
    else:
        shift = a.max(axis=-1, keepdims=True)
        log_p = a - shift - np.log(np.sum(np.exp(a - shift), axis=-1, keepdims=True))
        per_sample = -np.sum(Y * log_p, axis=-1)
    return per_sample.mean(axis=-1)


def check(params: dict, answer: dict) -> Check:
    """The loss from a direct forward pass, and every updated W and b from a central
    difference of that loss in the one parameter (no backprop, no shared code)."""
    theta = np.concatenate([np.concatenate([np.ravel(layer["W"]), layer["b"]])
                            for layer in params["layers"]]).astype(float)
    h = CHECK_STEP * np.maximum(1.0, np.abs(theta))
    steps = np.diag(h)
    with np.errstate(all="ignore"):
        losses = _losses(params, np.vstack([theta, theta + steps, theta - steps]))
    n = theta.size
    grad = (losses[1:n + 1] - losses[n + 1:]) / (2 * h)
    updated = theta - params["lr"] * grad
    claimed = np.concatenate([np.concatenate([np.ravel(layer["W"]), layer["b"]])
                              for layer in answer["layers"]])
    gaps = np.concatenate([[abs(losses[0] - answer["loss"])], np.abs(updated - claimed)])
    worst = float(np.max(gaps)) if np.all(np.isfinite(gaps)) else float("inf")
    passed = worst <= CHECK_TOLERANCE
    return Check("forward_central_difference", passed, worst,
                 "" if passed else f"loss and updates differ from central differences "
                 f"of a direct forward pass by {worst:.3g}")


# ---------------------------------------------------------------------------
# worked steps

def _derivative_formula(name: str, l: int) -> str:
    return {"sigmoid": f"a^{{({l})}} \\odot (1 - a^{{({l})}})",
            "tanh": f"1 - a^{{({l})}} \\odot a^{{({l})}}",
            "relu": f"\\mathbf{{1}}[z^{{({l})}} > 0]",
            "linear": "1"}[name]


def work(params: dict, answer: dict) -> dict:
    """Per layer the feedforward values, error terms, gradients and updates (through
    verify.numeric.dense), and the asked weight of multiple choice."""
    from verify.numeric.dense import activation_derivative, backprop, loss_per_sample

    step = parse_backprop_step(params)
    loss, traces = backprop(step)
    batch = step.x.shape[0]
    layers = []
    for index, (layer, trace) in enumerate(zip(step.layers, traces, strict=True)):
        a_prev = step.x if index == 0 else traces[index - 1].a
        row = {
            "n": index + 1, "activation": layer.activation, "W": layer.W.tolist(),
            "b": layer.b.tolist(), "z": trace.z.tolist(), "a": trace.a.tolist(),
            "delta": trace.delta.tolist(), "grad_W": trace.grad_W.tolist(),
            "grad_b": trace.grad_b.tolist(), "a_prev_T": a_prev.T.tolist(),
            "new_W": answer["layers"][index]["W"], "new_b": answer["layers"][index]["b"],
            "derivative": activation_derivative(layer.activation, trace.z, trace.a).tolist(),
            "derivative_formula": _derivative_formula(layer.activation, index + 1),
        }
        if index + 1 < len(traces):
            row["back"] = (traces[index + 1].delta @ step.layers[index + 1].W.T).tolist()
        layers.append(row)
    last = traces[-1]
    out = {"layers": layers, "batch": batch, "loss": loss, "L": len(layers),
           "x": step.x.tolist(), "y": step.y.tolist(),
           "per_sample": loss_per_sample(step.loss, last.z, last.a, step.y).tolist()}
    if step.loss == "softmax_ce":
        e = np.exp(last.z - last.z.max(axis=1, keepdims=True))
        out["p"] = (e / e.sum(axis=1, keepdims=True)).tolist()
    i, j = choice_index(answer)
    out["choice"] = {"i": i, "j": j, "W": float(step.layers[0].W[i, j]),
                     "grad": float(traces[0].grad_W[i, j]),
                     "value": answer["layers"][0]["W"][i][j]}
    out["decimals"], out["choice_decimals"], out["work_decimals"] = (
        DECIMALS, CHOICE_DECIMALS, WORK_DECIMALS)
    return out


FAMILY = Family(
    id="backprop-step",
    title="One backpropagation step",
    topic="neural network training",
    tags=("backpropagation", "gradients", "sgd", "dense"),
    sample=sample,
    validate=parse_backprop_step,
    solve=solve_via("backprop-step"),
    check=check,
    parts=parts,
    choice_part=choice_part,
    misconceptions=MISCONCEPTIONS,
    work=work,
    problem="backprop-step",
)
