"""Readable worked summaries of ``qgen solve`` results on the terminal (rich)."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["console", "print_solution"]

# Shown to 8 significant digits, the precision of the homework's printed arrays; the
# JSON output (--json) keeps full float64.
DIGITS = 8


def _fmt(value) -> str:
    return np.format_float_positional(float(value), precision=DIGITS, unique=True,
                                      fractional=False, trim="-")


def _vector(values) -> str:
    return "[" + ", ".join(_fmt(v) for v in np.ravel(values)) + "]"


def _matrix_table(title: str, matrix) -> Table:
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    table = Table(title=title, show_header=False, title_justify="left", pad_edge=False)
    for _ in range(matrix.shape[1]):
        table.add_column(justify="right")
    for row in matrix:
        table.add_row(*(_fmt(v) for v in row))
    return table


def _verification_line(record: dict) -> str:
    mark = "[green]verified[/green]" if record["passed"] else "[red]NOT verified[/red]"
    text = (f"{mark}: {', '.join(record['methods'])} agree "
            f"(max discrepancy {record['max_discrepancy']:.3g})")
    if not record["passed"]:
        text = f"{mark}: " + "; ".join(record.get("failures", []))
    for note in record.get("notes", []):
        text += f"\n  note: {note}"
    return text


def _backprop_step(console: Console, result: dict) -> None:
    from verify.numeric.dense import backprop
    from verify.specs import parse_backprop_step

    step = parse_backprop_step(result["params"])
    _, traces = backprop(step)
    answer = result["answer"]
    console.print(f"[bold]backprop-step[/bold]: one SGD step, lr = {_fmt(step.lr)}, "
                  f"loss {step.loss}, batch of {step.x.shape[0]}, "
                  f"network {'-'.join(map(str, step.sizes))}")
    console.print("\n[bold]Feedforward[/bold]  z = a_prev @ W + b,  a = f(z)")
    for i, (layer, trace) in enumerate(zip(step.layers, traces, strict=True)):
        console.print(f"  layer {i}: z = {_rows(trace.z)}")
        console.print(f"           a = {layer.activation}(z) = {_rows(trace.a)}")
    console.print(f"\n[bold]Loss[/bold] L = {answer['loss']!r}")
    console.print("\n[bold]Error terms[/bold] delta = dL/dz (last: a - y for sigmoid+bce, "
                  "softmax - y for softmax_ce; then (delta W^T) * f'(z))")
    for i, trace in enumerate(traces):
        console.print(f"  layer {i}: delta = {_rows(trace.delta)}")
    console.print("\n[bold]Gradients and updates[/bold]  grad_W = a_prev^T delta, "
                  "W_new = W - lr * grad_W")
    for i, layer in enumerate(answer["layers"]):
        console.print(_matrix_table(f"layer {i}: grad_W", layer["grad_W"]))
        console.print(f"layer {i}: grad_b = {_vector(layer['grad_b'])}")
        console.print(_matrix_table(f"layer {i}: updated W", layer["W"]))
        console.print(f"layer {i}: updated b = {_vector(layer['b'])}\n")


def _rows(array) -> str:
    array = np.atleast_2d(array)
    if array.shape[0] == 1:
        return _vector(array[0])
    return "; ".join(_vector(row) for row in array)


def _pair(value) -> str:
    return "-" if value is None else "x".join(map(str, value))


def _runs(names: list[str]) -> str:
    """'3x3, 3x3, 3x3' -> '3x3 x3'; a repeating pair '1x3, 3x1, 1x3, 3x1' -> '(1x3, 3x1) x2'."""
    for period in (1, 2):
        unit = names[:period]
        if len(names) > period and len(names) % period == 0 and names == unit * (
                len(names) // period):
            inner = unit[0] if period == 1 else f"({', '.join(unit)})"
            return f"{inner} x{len(names) // period}"
    return ", ".join(names)


def _net_summary(console: Console, result: dict) -> None:
    answer = result["answer"]
    params = result["params"]
    table = Table(title=f"net-summary: input {_pair(params['input'])}", title_justify="left")
    for name in ("#", "layer", "output", "weights", "biases", "params", "bytes", "MACs",
                 "RF", "jump"):
        table.add_column(name, justify="left" if name in ("layer", "output") else "right")
    for i, row in enumerate(answer["layers"]):
        table.add_row(str(i), row["type"], _pair(row["output"]), f"{row['weights']:,}",
                      f"{row['biases']:,}", f"{row['params']:,}", f"{row['bytes']:,}",
                      f"{row['macs']:,}", _pair(row["receptive_field"]), _pair(row["jump"]))
    total = answer["total"]
    table.add_row("", "total", _pair(answer["output"]), f"{total['weights']:,}",
                  f"{total['biases']:,}", f"{total['params']:,}", f"{total['bytes']:,}",
                  f"{total['macs']:,}", "", "", style="bold")
    console.print(table)


def _receptive_field(console: Console, result: dict) -> None:
    params = result["params"]
    table = Table(title=f"receptive-field: {params['target']}x{params['target']} on input "
                  f"{_pair(params['input'])} with {params['in_channels']} input and "
                  f"{params['out_channels']} output channels", title_justify="left")
    for name in ("approach", "layers", "kernels", "channels", "RF", "weights", "biases",
                 "bytes", "MACs", "output"):
        table.add_column(name, justify="left" if name in ("approach", "kernels", "channels")
                         else "right")
    for a in result["answer"]["approaches"]:
        kernels = _runs([_pair(k) + (f" d{d}" if d > 1 else "")
                         for k, d in zip(a["kernels"], a["dilations"], strict=True)])
        table.add_row(a["name"], str(a["layers"]), kernels, "-".join(map(str, a["channels"])),
                      _pair(a["receptive_field"]), f"{a['weights']:,}", f"{a['biases']:,}",
                      f"{a['bytes']:,}", f"{a['macs']:,}", _pair(a["output"]))
    console.print(table)
    console.print("model size = params x bytes per parameter; feature maps are activation "
                  "memory, never part of model size")


_PRINTERS = {
    "backprop-step": _backprop_step,
    "net-summary": _net_summary,
    "receptive-field": _receptive_field,
}


def _generic(console: Console, result: dict) -> None:
    """A question family without its own table: the answer as indented JSON."""
    import json

    console.print(f"[bold]{result['family']}[/bold]")
    console.print(json.dumps(result["answer"], indent=2), markup=False)


def console() -> Console:
    """Rich on stdout; piped output (files, CI logs) gets 120 columns for the tables."""
    import sys

    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def print_solution(result: dict, console: Console | None = None) -> None:
    console = console or globals()["console"]()
    printer = _PRINTERS.get(result["family"])
    if printer is None and result["family"] in ("conv-pool-shape", "conv-cost",
                                                "transposed-dilated"):
        printer = _net_summary  # their params are net-summary specs
    (printer or _generic)(console, result)
    console.print(_verification_line(result["verification"]))
