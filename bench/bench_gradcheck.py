"""verify.gradcheck vs torch.autograd.gradcheck (full mode) on a 64-128-10 sigmoid/BCE
network, batch 4 (9,610 parameters), in the same process.

Goal (issue 2): verify.gradcheck at least 10x faster. torch is optional: without it the
benchmark prints verify's figure alone. `pip install torch==2.13.0` installs a CPU build.
"""

from __future__ import annotations

from _util import best_of, random_network, report

from verify import gradcheck
from verify.specs import parse_backprop_step

GOAL = 10.0


def torch_gradcheck_seconds(params: dict) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    step = parse_backprop_step(params)
    x = torch.tensor(step.x, dtype=torch.float64)
    y = torch.tensor(step.y, dtype=torch.float64)
    tensors = []
    for layer in step.layers:
        tensors += [torch.tensor(layer.W, dtype=torch.float64, requires_grad=True),
                    torch.tensor(layer.b, dtype=torch.float64, requires_grad=True)]

    def loss(*wb):
        a = x
        for i in range(0, len(wb), 2):
            a = torch.sigmoid(a @ wb[i] + wb[i + 1])
        # bce summed over outputs, mean over the batch (DESIGN.md)
        return torch.nn.functional.binary_cross_entropy(a, y, reduction="sum") / x.shape[0]

    def run():
        assert torch.autograd.gradcheck(loss, tuple(tensors), fast_mode=False)

    return best_of(run, repeat=3)


def main() -> None:
    params = random_network((64, 128, 10), ("sigmoid", "sigmoid"), "bce", batch=4)
    step = parse_backprop_step(params)
    assert step.n_params == 9610
    report_ = gradcheck(step)
    assert report_.passed, report_
    ours = best_of(lambda: gradcheck(step), repeat=7)
    central = best_of(lambda: gradcheck(step, method="central"), repeat=7)
    theirs = torch_gradcheck_seconds(params)
    rows = [
        ("network", "64-128-10 sigmoid/bce, batch 4, 9,610 parameters"),
        ("verify.gradcheck (complex step)", f"{ours * 1e3:8.1f} ms  "
         f"max rel error {report_.max_rel_error:.1e}"),
        ("verify.gradcheck (central)", f"{central * 1e3:8.1f} ms"),
    ]
    verdict = "torch not installed: baseline skipped (pip install torch==2.13.0)"
    if theirs is not None:
        ratio = theirs / ours
        rows.append(("torch.autograd.gradcheck (full)", f"{theirs * 1e3:8.1f} ms"))
        rows.append(("ratio torch / verify", f"{ratio:8.1f}x  (goal >= {GOAL:.0f}x)"))
        verdict = "goal met" if ratio >= GOAL else "GOAL NOT MET"
    report("gradcheck: verify vs torch.autograd.gradcheck", rows, verdict)


if __name__ == "__main__":
    main()
