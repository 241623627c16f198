"""The qgen command: help with examples, one-line errors with exit status 2, light start-up."""

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from qgen.cli import cli

ROOT = Path(__file__).resolve().parents[2]
Q2 = json.loads((ROOT / "examples" / "homework1-q2.json").read_text())


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "qgen", *args], capture_output=True,
                          text=True, input=stdin, cwd=ROOT)


def _commands(group):
    for name, command in group.commands.items():
        yield name, command
        if isinstance(command, click.Group):
            yield from _commands(command)


@pytest.mark.parametrize("name", [None, *sorted(cli.commands)])
def test_every_command_has_help_with_an_example(name):
    result = run(*([name] if name else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout


def test_help_does_not_import_sympy_or_numpy():
    code = ("import sys; from qgen.cli import cli\n"
            "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('sympy', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_solve_prints_the_worked_answer_and_json():
    result = run("solve", "backprop-step", "--params", str(ROOT / "examples/homework1-q2.json"))
    assert result.returncode == 0, result.stderr
    # The homework prints 2.599206094006428; ours may differ in the 16th digit (the loss
    # is computed through softplus, stable where a sigmoid saturates).
    assert "2.59920609400642" in result.stdout and "verified" in result.stdout
    result = run("solve", "backprop-step", "--json", "--params", "-", stdin=json.dumps(Q2))
    data = json.loads(result.stdout)
    assert data["verification"]["passed"] and data["family"] == "backprop-step"


def _layer(**kw):
    return {"input": [8, 8, 3], "layers": [{"type": "conv", "filters": 4, "kernel": 3, **kw}]}


def _q2(**changes):
    params = json.loads(json.dumps(Q2))
    for path, value in changes.items():
        target = params
        keys = path.split("/")
        for key in keys[:-1]:
            target = target[int(key) if key.isdigit() else key]
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return params


BAD = [
    ("backprop-step", _q2(**{"layers/1/W": [[0.3, 0.1], [0.5, 0.6]]}), "layers[1].W"),
    ("backprop-step", _q2(**{"layers/0/b": [0.1, 0.2]}), "layers[0].b"),
    ("backprop-step", _q2(**{"x/0": float("nan")}), "x[0]"),
    ("backprop-step", _q2(**{"layers/0/W/0/0": float("inf")}), "layers[0].W[0][0]"),
    ("backprop-step", _q2(**{"layers/0/activation": "softplus"}), "layers[0].activation"),
    ("backprop-step", _q2(loss="hinge"), "loss"),
    ("backprop-step", _q2(y=[0, 1.5]), "y"),
    ("backprop-step", _q2(y=[0, 1, 1]), "y"),
    ("backprop-step", _q2(lr=-0.1), "lr"),
    ("net-summary", {"input": [8, 8, 3], "layers": [{"type": "upsample"}]}, "layers[0].type"),
    ("net-summary", _layer(kernel=11), "layers[0].kernel"),
    ("net-summary", _layer(kernel=5, dilation=3), "layers[0].kernel"),
    ("net-summary", _layer(stride=0), "layers[0].stride"),
    ("net-summary", _layer(filters=0), "layers[0].filters"),
    ("net-summary", _layer(padding=-1), "layers[0].padding"),
    ("net-summary", {"input": [0, 8, 3], "layers": [{"type": "relu"}]}, "input[0]"),
    ("net-summary", {"input": [-8, 8, 3], "layers": [{"type": "relu"}]}, "input[0]"),
    ("net-summary", {"input": [8, 8, 3], "layers": [
        {"type": "maxpool", "kernel": 2, "padding": 2}]}, "layers[0].padding"),
    ("net-summary", {"input": [8, 8, 3], "layers": [
        {"type": "dense", "units": 4}]}, "layers[0].type"),
    ("net-summary", {"input": [8, 8, 3], "layers": [
        {"type": "conv", "filters": 2, "kernel": 3, "strid": 2}]}, "layers[0].strid"),
    ("receptive-field", {"target": 9, "input": [24, 24], "in_channels": 0,
                         "out_channels": 3}, "in_channels"),
]


@pytest.mark.parametrize("family, params, field", BAD)
def test_bad_params_exit_2_with_one_line_naming_the_field(family, params, field):
    result = run("solve", family, "--params", json.dumps(params))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{field}=" in lines[0] or f"{field}:" in lines[0], lines[0]


@pytest.mark.parametrize("args, fragment", [
    (["solve", "backprop-stepp", "--params", "{}"], "FAMILY='backprop-stepp'"),
    (["solve", "backprop-step", "--params", "no/such/file.json"], "no such file"),
    (["solve", "backprop-step", "--params", "{not json"], "is not JSON"),
    (["solve", "backprop-step"], "--params"),
    (["frobnicate"], "frobnicate"),
])
def test_usage_errors_exit_2_with_one_line(args, fragment):
    result = run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["generate", "nope", "-s", "1"], "family='nope'"),
    (["generate", "conv-cost", "-s", "1", "-d", "extreme"], "--difficulty='extreme'"),
    (["generate", "conv-cost", "-s", "1", "-n", "0"], "--count"),
    (["generate", "conv-cost", "-s", "one"], "'one' is not a valid integer"),
    (["generate", "conv-cost", "-s", "1", "-f", "docx"], "--format='docx'"),
    (["generate", "conv-cost", "-s", "1", "-o", "/proc/no/such/dir/bank.json"],
     "does not exist"),
])
def test_generate_bad_input_exits_2_with_one_line_and_no_output(args, fragment):
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_generate_does_not_overwrite_without_force_and_writes_atomically(tmp_path):
    out = tmp_path / "bank.json"
    out.write_text("precious")
    result = run("generate", "conv-cost", "-s", "1", "-o", str(out))
    assert result.returncode == 2 and "--force" in result.stderr
    assert out.read_text() == "precious"
    result = run("generate", "conv-cost", "-s", "1", "-o", str(out), "--force")
    assert result.returncode == 0
    assert json.loads(out.read_text())["schema"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.json"]  # no temp files


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    import os

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: permissions are not enforced")
        result = run("generate", "conv-cost", "-s", "1", "-o", str(folder / "b.json"))
        assert result.returncode == 2 and "not writable" in result.stderr
    finally:
        folder.chmod(0o700)


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    import qgen.fileio as fileio

    target = tmp_path / "bank.json"
    target.write_text("old")

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(target, "new", force=True)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]


def test_a_piped_run_prints_no_progress_bar():
    result = run("generate", "conv-cost", "-n", "3", "-s", "2")
    assert result.returncode == 0
    assert result.stderr == ""  # the bar is drawn only when stderr is a terminal
    assert json.loads(result.stdout)["schema"] == 1


def test_generate_list_json_gives_id_title_topic_difficulties():
    result = run("list", "--json")
    families = json.loads(result.stdout)
    assert {f["id"] for f in families} >= {"backprop-step", "conv-pool-shape",
                                           "receptive-field"}
    assert all(set(f) == {"id", "title", "topic", "difficulties"} for f in families)
