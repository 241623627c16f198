"""Audit an answer key written by a person: each claimed answer checked against the
verified one (``qgen.solve``), with the likely misconception behind a wrong one.

A key is TOML: one ``[[items]]`` table per question, with the ``qgen solve`` family
(backprop-step, net-summary, receptive-field, or any question family of ``qgen list``),
its params (an inline table, or ``params_file``: a JSON file relative to the key), and
the claims, a table from an answer path to the claimed value::

    [[items]]
    id = "q2"                         # unique in the key; findings are "q2:<path>"
    family = "backprop-step"
    params_file = "homework1-q2.json"

    [items.claims]
    "loss" = 2.599206094006428
    "layers.0.W" = [[0.09994304, 0.2999309, 0.40000494], [0.19960128, 0.1995163, 0.10003456]]
    "layers.1.b" = { value = [1.609, 0.1757], tolerance = 5e-4 }

    [[items]]
    id = "q5"
    family = "net-summary"
    params = { input = [32, 32, 3], layers = [{ type = "conv", filters = 16, kernel = 5 },
                                              { type = "maxpool", kernel = 2 }] }
    [items.claims]
    "layers.1.output" = [14, 14, 16]
    "role of the filters" = "they set the depth of the output map"   # prose: unchecked

A path walks the answer of ``qgen solve FAMILY --json``: keys, list indices
(``layers.0.W.1.2`` is one weight) and, in a list of named entries, a name
(``approaches.2 x (5x5).bytes``). A claim is a number, a (nested) list of numbers, or
text; a table ``{value = ..., tolerance = ...}`` sets its tolerance explicitly.

Each claim is ``correct`` when every entry lies within tolerance of the verified value,
``wrong`` otherwise (with the first known misconception whose value matches it), and
``unchecked`` when the answer has no such path or the claim is prose, with the reason.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from qgen.errors import QgenError
from qgen.families import FAMILY_IDS, get_family
from qgen.problems import EPS, PROBLEMS, ROUNDING_ULPS, solve

__all__ = ["Audit", "Claim", "Finding", "Item", "audit", "audit_key", "load_key",
           "print_audit"]

ITEM_KEYS = {"id", "family", "params", "params_file", "claims"}
TOP_KEYS = {"title", "source", "items"}
CLAIM_KEYS = {"value", "tolerance"}
# The table: a claim's path and the notes wrap beyond CLAIM_WIDTH and NOTE_WIDTH (the
# longest misconception name fits), leaving the rest to the values; piped output (a file,
# a README) is PIPED_WIDTH wide, enough for the homework's 2x3 matrices side by side.
CLAIM_WIDTH = 20
NOTE_WIDTH = 26
PIPED_WIDTH = 140

# A verified float is a chain of float64 operations: two correct evaluations of the same
# expression in a different order (the homework's numpy, our stable softplus) differ by
# a few roundings per operation. The solver bounds that gap by ROUNDING_ULPS * eps *
# scale; a claim is allowed the same on top of its written precision, so that the
# homework's 16-digit loss, 2 ulps from ours, is not called wrong.
VERIFIED_RTOL = ROUNDING_ULPS * EPS

# Misconceptions about units (bits, bytes per parameter) say nothing about a parameter
# count: they are left out when a receptive-field ``params`` claim is explained.
_UNIT_MISCONCEPTIONS = frozenset({"bits_not_bytes", "parameters_not_bytes", "assumed_float32"})

# A misconception is written for its family's sampled params; a person's params may lie
# outside them (a layer type it never meets). Such a misconception then explains nothing.
_NOT_APPLICABLE = (ArithmeticError, LookupError, TypeError, ValueError)


# ---------------------------------------------------------------------------
# the key


@dataclass(frozen=True)
class Claim:
    path: str  # as written: "layers.0.W", "approaches.2 x (5x5).bytes"
    value: Any  # plain JSON: a number, nested lists of numbers, text or a boolean
    tolerance: Any  # a number or nested lists like value (None for text and booleans)
    written: Any  # the numbers as the person wrote them (strings), for display

    @property
    def numeric(self) -> bool:
        return self.tolerance is not None


@dataclass(frozen=True)
class Item:
    id: str
    family: str
    params: Any
    claims: tuple[Claim, ...]
    line: int | None = None  # of its [[items]] header, when the key uses them


def _fail(where: str, key: str, value: Any, rule: str) -> QgenError:
    # TOML has no null: None is a field that is not there.
    shown = "missing" if value is None else repr(value) if isinstance(value, str) else _plain(
        value)
    return QgenError(f"{where}: {key}={shown} {rule}")


def _plain(value: Any) -> Any:
    """TOML as read (floats kept as Decimal, to know their written precision) as JSON."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _half_unit(number: Decimal | int) -> float:
    """Half a unit of the last written decimal place: 0.09994304 -> 5e-9, 20192 -> 0.5."""
    if isinstance(number, int):
        return 0.5
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int):  # inf or nan: nothing is within it
        return 0.0
    return float(Decimal(5).scaleb(exponent - 1))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _numbers(value: Any) -> bool:
    """A number or a rectangular nested list of numbers."""
    if _is_number(value):
        return True
    if not isinstance(value, list) or not value:
        return False
    if not all(_numbers(v) for v in value):
        return False
    shapes = {np.shape(_plain(v)) for v in value}
    return len(shapes) == 1


def _map(function, value: Any) -> Any:
    return [_map(function, v) for v in value] if isinstance(value, list) else function(value)


def _claim(where: str, path: str, raw: Any) -> Claim:
    tolerance = None
    if isinstance(raw, dict):
        for key in raw:
            if key not in CLAIM_KEYS:
                raise _fail(where, f"claims.{path!r}.{key}", raw[key], "is not a claim field "
                            f"(known: {', '.join(sorted(CLAIM_KEYS))})")
        if "value" not in raw:
            raise QgenError(f"{where}: claims.{path!r}.value is missing")
        tolerance = raw.get("tolerance")
        if tolerance is not None and (not _is_number(tolerance) or not
                                      math.isfinite(tolerance) or tolerance < 0):
            raise _fail(where, f"claims.{path!r}.tolerance", tolerance,
                        "must be a finite number >= 0")
        raw = raw["value"]
    if isinstance(raw, (str, bool)):
        if tolerance is not None:
            raise _fail(where, f"claims.{path!r}.tolerance", tolerance,
                        "applies to numbers only")
        return Claim(path, raw, None, raw)
    if not _numbers(raw):
        raise _fail(where, f"claims.{path!r}", raw, "must be a number, a rectangular "
                    "(nested) list of numbers, or text")
    tolerances = (_map(_half_unit, raw) if tolerance is None
                  else _map(lambda _: float(tolerance), raw))
    return Claim(path, _plain(raw), tolerances, _map(str, raw))


def _item_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), start=1)
            if re.match(r"\s*\[\[\s*items\s*\]\]", line)]


def _params(where: str, raw: dict, base: Path) -> Any:
    if "params" not in raw and "params_file" not in raw:
        raise QgenError(f"{where}: params is missing (give params, a table, or params_file, "
                        "a JSON file)")
    if "params" in raw and "params_file" in raw:
        raise QgenError(f"{where}: give params or params_file, not both")
    if "params" in raw:
        return _plain(raw["params"])
    name = raw["params_file"]
    if not isinstance(name, str) or not name:
        raise _fail(where, "params_file", name, "must be a file name")
    file = base / name
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(where, "params_file", name, f"not found ({file})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(where, "params_file", name,
                    f"cannot be read ({error.__class__.__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(where, "params_file", name, f"is not JSON ({error.msg} at line "
                    f"{error.lineno} column {error.colno})") from None


def load_key(path: str | Path) -> tuple[Item, ...]:
    """The items of the key at ``path``; QgenError naming the file, and the line or the
    item and field, for anything that is not a key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QgenError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise QgenError(f"{path}: cannot be read ({error.__class__.__name__})") from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise QgenError(f"{path}: not valid TOML: {error}") from None
    for key in data:
        if key not in TOP_KEYS:
            raise _fail(str(path), key, data[key], "is not a key field (known: "
                        f"{', '.join(sorted(TOP_KEYS))})")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise QgenError(f"{path}: no items: write one [[items]] table per question")
    lines = _item_lines(text)
    lines = lines if len(lines) == len(raw_items) else [None] * len(raw_items)
    known = sorted(set(PROBLEMS) | set(FAMILY_IDS))
    items, ids = [], set()
    for i, (raw, line) in enumerate(zip(raw_items, lines, strict=True)):
        where = f"{path}: items[{i}]" + (f" (line {line})" if line else "")
        if not isinstance(raw, dict):
            raise QgenError(f"{where} must be a table")
        for key in raw:
            if key not in ITEM_KEYS:
                raise _fail(where, key, raw[key], "is not an item field (known: "
                            f"{', '.join(sorted(ITEM_KEYS))})")
        item_id = raw.get("id")
        if not isinstance(item_id, str) or not item_id.strip():
            raise _fail(where, "id", item_id, "must be a non-empty string")
        if item_id in ids:
            raise _fail(where, "id", item_id, "is used by another item")
        ids.add(item_id)
        where = f"{path}: item {item_id!r}" + (f" (line {line})" if line else "")
        family = raw.get("family")
        if family not in known:
            raise _fail(where, "family", family, f"must be one of {', '.join(known)}")
        params = _params(where, raw, path.parent)
        claims = raw.get("claims")
        if not isinstance(claims, dict) or not claims:
            raise QgenError(f"{where}: no claims: add a table [items.claims] of "
                            "\"answer.path\" = claimed value")
        items.append(Item(item_id, family, params,
                          tuple(_claim(where, p, v) for p, v in claims.items()), line))
    return tuple(items)


# ---------------------------------------------------------------------------
# findings


@dataclass(frozen=True)
class Finding:
    item: str
    claim: Claim
    status: str  # "correct", "wrong" or "unchecked"
    verified: Any = None  # the value at the claim's path (None when unchecked)
    misconception: dict | None = None  # {"family", "name", "description"}
    reason: str | None = None  # why unchecked, or how a wrong claim's shape differs

    @property
    def id(self) -> str:
        return f"{self.item}:{self.claim.path}"

    def to_json(self) -> dict:
        out = {"id": self.id, "status": self.status, "claimed": self.claim.value,
               "verified": self.verified}
        if self.misconception is not None:
            out["misconception"] = self.misconception
        if self.status == "unchecked":
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class Audit:
    key: str
    findings: tuple[Finding, ...]

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)

    def summary(self) -> str:
        items = len(dict.fromkeys(f.item for f in self.findings))
        wrong = self.count("wrong")
        explained = sum(f.misconception is not None for f in self.findings)
        text = (f"{len(self.findings)} claims in {items} item{'s' * (items != 1)}: "
                f"{self.count('correct')} correct, {wrong} wrong")
        if wrong:
            text += f" ({explained} with a likely misconception)"
        return text + f", {self.count('unchecked')} unchecked"

    def to_json(self) -> dict:
        return {"items": [f.to_json() for f in self.findings]}


class _Missing(Exception):
    """The answer has no value at a claim's path; the message says what it has."""


def _resolve(answer: Any, path: str, top: str = "the answer") -> tuple[tuple, Any]:
    """(the path as keys and indices, the value there). In a list of named entries a
    segment may be a name, and a name may itself contain dots."""
    parts = path.split(".")
    node, where, i = answer, [], 0
    while i < len(parts):
        here = ".".join(map(str, where)) or top
        part = parts[i]
        if isinstance(node, dict):
            if part not in node:
                raise _Missing(f"{here} has no {part!r} (it has {', '.join(node)})")
            node, i = node[part], i + 1
            where.append(part)
        elif isinstance(node, list):
            if re.fullmatch(r"\d+", part):
                index = int(part)
                if index >= len(node):
                    raise _Missing(f"{here} has {len(node)} entries, no index {index}")
                node, i = node[index], i + 1
                where.append(index)
                continue
            names = [e.get("name") if isinstance(e, dict) else None for e in node]
            for j in range(len(parts), i, -1):  # the longest name first
                name = ".".join(parts[i:j])
                if name in names:
                    index = names.index(name)
                    node, i = node[index], j
                    where.append(index)
                    break
            else:
                known = [n for n in names if n is not None]
                raise _Missing(f"{here} has no entry {part!r}" + (
                    f" (its names: {', '.join(known)})" if known else
                    f" (indices 0 to {len(node) - 1})"))
        else:
            raise _Missing(f"{here} is a single value, with no {part!r}")
    return tuple(where), node


def _numeric_value(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numeric_value(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _within(claimed: np.ndarray, verified: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    slack = VERIFIED_RTOL * np.maximum(1.0, np.abs(verified))
    with np.errstate(invalid="ignore"):
        return np.abs(claimed - verified) <= tolerance + slack


# ---------------------------------------------------------------------------
# likely misconceptions: a family's misconceptions give the value of its choice part;
# aimed at the claimed entry, each one's value is compared with the claim.


def _misconception_families(family: str) -> list:
    """The question families whose misconceptions apply to ``family``'s params and answer:
    the family itself, and every family that shares its ``qgen solve`` problem."""
    found = [get_family(family)] if family in FAMILY_IDS else []
    problem = found[0].problem if found and found[0].problem else family
    found += [f for f in map(get_family, FAMILY_IDS) if f.problem == problem and f not in found]
    return found


def _split(key: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def _complete(family, params: dict) -> dict:
    """Params with every default written out, as the family's sample gives them."""
    if family.id == "receptive-field":
        from dataclasses import asdict

        from verify.specs import parse_receptive_field

        task = asdict(parse_receptive_field(params))
        return {**task, "input": list(task["input"])}
    return params


def _aim(family, params: dict, answer: dict, target: tuple):
    """(params, answer, scale, skipped misconception names) under which the family's
    choice part is the answer's entry at ``target`` (times scale); None when the family
    cannot be asked about that entry."""
    if _split(family.choice_part(params, answer).key) == target:
        return params, answer, 1.0, frozenset()
    if (family.id == "receptive-field" and len(target) == 3 and target[0] == "approaches"
            and target[2] in ("bytes", "params")):
        # The asked approach is a hash of the params modulo the number of approaches:
        # with one approach in the answer, it is that one.
        one = {**answer, "approaches": [answer["approaches"][target[1]]]}
        if target[2] == "bytes":
            return params, one, 1.0, frozenset()
        return params, one, 1.0 / params["dtype_bytes"], _UNIT_MISCONCEPTIONS
    if family.id == "backprop-step" and len(target) == 5 and target[:3] == ("layers", 0, "W"):
        # The asked weight is the first layer's largest gradient: make it this one.
        grad = np.zeros(np.shape(answer["layers"][0]["grad_W"]))
        grad[target[3], target[4]] = 1.0
        first = {**answer["layers"][0], "grad_W": grad.tolist()}
        return params, {**answer, "layers": [first, *answer["layers"][1:]]}, 1.0, frozenset()
    if (_split(family.choice_part(params, answer).key) == ("output",) and len(target) == 3
            and target[0] == "layers" and target[2] == "output"):
        # The final output of the stack cut after that layer.
        k = target[1]
        return ({**params, "layers": params["layers"][:k + 1]},
                {**answer, "layers": answer["layers"][:k + 1],
                 "output": answer["layers"][k]["output"]}, 1.0, frozenset())
    return None


def _aimed(family, params: dict, answer: dict, target: tuple, verified: np.ndarray):
    """_aim, kept only when the aimed choice part really is the verified value (a guard
    against a family's internals changing under this module)."""
    try:
        aim = _aim(family, params, answer, target)
        if aim is None:
            return None
        part = family.choice_part(aim[0], aim[1])
        value = np.asarray(part.value, dtype=float) * aim[2]
    except _NOT_APPLICABLE:
        return None
    if value.shape != verified.shape or not np.allclose(value, verified, rtol=1e-12, atol=0):
        return None
    return aim


def _likely_misconception(family_id: str, params: Any, answer: dict, target: tuple,
                          claimed: np.ndarray, verified: np.ndarray,
                          tolerance: np.ndarray) -> dict | None:
    """The first misconception whose values match the claim: every entry it predicts is
    within tolerance of the claimed entry, and it predicts at least one entry the claim
    got wrong. (A misconception may leave an entry unpredicted: one that does not change
    it visibly at the family's display precision.)"""
    wrong = ~_within(claimed, verified, tolerance)
    for family in _misconception_families(family_id):
        try:
            fparams = _complete(family, params)
        except _NOT_APPLICABLE:  # params this family cannot read
            continue
        whole = _aimed(family, fparams, answer, target, verified)
        if whole is not None:
            plan = [((), whole)]
        elif claimed.ndim:
            plan = [(idx, aim) for idx in np.ndindex(claimed.shape)
                    if (aim := _aimed(family, fparams, answer, target + idx,
                                      verified[idx])) is not None]
        else:
            plan = []
        if not plan:
            continue
        for misconception in family.misconceptions:
            predicted = np.full(claimed.shape, np.nan)
            for idx, (p, a, scale, skipped) in plan:
                if misconception.name in skipped:
                    continue
                try:
                    with np.errstate(all="ignore"):
                        value = misconception.wrong(p, a)
                    if value is None:
                        continue
                    value = np.asarray(value, dtype=float) * scale
                except _NOT_APPLICABLE:
                    continue
                if value.shape != predicted[idx].shape:
                    continue
                predicted[idx] = value
            known = ~np.isnan(predicted)
            if (known & wrong).any() and _within(claimed, predicted, tolerance)[known].all():
                return {"family": family.id, "name": misconception.name,
                        "description": misconception.description}
    return None


def _check(item: Item, claim: Claim, answer: dict) -> Finding:
    try:
        target, verified = _resolve(answer, claim.path, f"the {item.family} answer")
    except _Missing as missing:
        if isinstance(claim.value, str):
            return Finding(item.id, claim, "unchecked",
                           reason="prose: not checkable")
        return Finding(item.id, claim, "unchecked", reason=str(missing))
    if not claim.numeric:
        if type(claim.value) is type(verified):
            status = "correct" if claim.value == verified else "wrong"
            return Finding(item.id, claim, status, verified)
        return Finding(item.id, claim, "unchecked", reason="prose: only numbers, sizes and "
                       "matrices are checkable")
    if verified is None:
        return Finding(item.id, claim, "unchecked",
                       reason=f"the answer has no value at {claim.path!r} (null)")
    if not _numeric_value(verified):
        inside = ", ".join(verified) if isinstance(verified, dict) else "entries"
        return Finding(item.id, claim, "unchecked", reason=f"{claim.path!r} is a group "
                       f"of values ({inside}): claim one of them")
    claimed = np.asarray(claim.value, dtype=float)
    truth = np.asarray(verified, dtype=float)
    if claimed.shape != truth.shape:
        return Finding(item.id, claim, "wrong", verified, reason=(
            f"shape {'x'.join(map(str, claimed.shape)) or 'scalar'}, the answer's is "
            f"{'x'.join(map(str, truth.shape)) or 'scalar'}"))
    tolerance = np.asarray(claim.tolerance, dtype=float)
    if _within(claimed, truth, tolerance).all():
        return Finding(item.id, claim, "correct", verified)
    misconception = _likely_misconception(item.family, item.params, answer, target, claimed,
                                          truth, tolerance)
    return Finding(item.id, claim, "wrong", verified, misconception)


def audit(items: Sequence[Item], key: str = "key") -> Audit:
    """Every claim of ``items`` checked against ``qgen.solve`` of its family and params."""
    findings = []
    for item in items:
        try:
            result = solve(item.family, item.params, require_verified=False)
        except QgenError as error:
            where = f" (line {item.line})" if item.line else ""
            raise QgenError(f"{key}: item {item.id!r}{where}: params: {error}") from None
        record = result["verification"]
        if not record["passed"]:
            reason = ("the independent methods disagree on this answer: "
                      + "; ".join(record.get("failures", [])))
            findings += [Finding(item.id, c, "unchecked", reason=reason) for c in item.claims]
            continue
        findings += [_check(item, claim, result["answer"]) for claim in item.claims]
    return Audit(key, tuple(findings))


def audit_key(path: str | Path, *, only: Iterable[str] | None = None) -> Audit:
    """Load the key at ``path`` and audit it (only the items with the ids in ``only``,
    when given; QgenError naming an id the key does not have)."""
    items = load_key(path)
    if only is not None:
        wanted = list(only)
        ids = [item.id for item in items]
        for item_id in wanted:
            if item_id not in ids:
                raise QgenError(f"{path}: no item with id {item_id!r} (its items: "
                                f"{', '.join(ids)})")
        items = tuple(item for item in items if item.id in wanted)
    return audit(items, str(path))


# ---------------------------------------------------------------------------
# the table on a terminal


def _decimals(written: str) -> int | None:
    exponent = Decimal(written).as_tuple().exponent if _is_decimal_text(written) else None
    return -exponent if isinstance(exponent, int) and exponent < 0 else None


def _is_decimal_text(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _rows(value: Any) -> list:
    """A value as display rows: a matrix row by row, anything else on one row."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return value
    return [value]


def _cell(value: Any, written: Any, wrong: Any = None):
    """Numbers laid out as the claim is (a matrix row by row): the verified ones rounded
    to the places the person wrote (a correct entry reads the same; --json has every
    digit), wrong entries in red."""
    from rich.text import Text

    text = Text()
    if isinstance(value, str) and value == written:  # one number, as the person wrote it
        return Text(value)
    if not isinstance(value, (list, int, float)) or isinstance(value, bool):
        return Text(repr(value))

    def number(v, w) -> str:
        if isinstance(v, str):  # as the person wrote it
            return v
        if isinstance(v, int) or (isinstance(w, str) and _decimals(w) is None
                                  and float(v).is_integer()):
            return str(int(v))
        places = _decimals(w) if isinstance(w, str) else None
        return np.format_float_positional(float(v), precision=min(places or 8, 17),
                                          unique=True, trim="-")

    rows, written_rows = _rows(value), _rows(written)
    bad_rows = _rows(wrong) if wrong is not None else None
    for r, (row, wrow) in enumerate(zip(rows, written_rows, strict=False)):
        if r:
            text.append("\n")
        cells = row if isinstance(row, list) else [row]
        wcells = wrow if isinstance(wrow, list) else [wrow]
        bad = bad_rows[r] if bad_rows is not None else None
        bad = bad if isinstance(bad, list) else [bad]
        if isinstance(row, list):
            text.append("[")
        for c, (v, w) in enumerate(zip(cells, wcells, strict=False)):
            if c:
                text.append(", ")
            text.append(number(v, w), style="red" if bad is not None and c < len(bad)
                        and bad[c] else "")
        if isinstance(row, list):
            text.append("]")
    return text


def _wrong_entries(finding: Finding) -> Any:
    claim = finding.claim
    if finding.status != "wrong" or not claim.numeric or finding.reason:
        return None
    return (~_within(np.asarray(claim.value, dtype=float),
                     np.asarray(finding.verified, dtype=float),
                     np.asarray(claim.tolerance, dtype=float))).tolist()


def print_audit(result: Audit, console=None) -> None:
    """The findings as a rich table, then the summary and what each named misconception
    means. (Here rather than in qgen.report, beside the only thing it prints.)"""
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    if console is None:
        import sys

        from rich.console import Console

        console = Console(highlight=False,
                          width=None if sys.stdout.isatty() else PIPED_WIDTH)
    styles = {"correct": "green", "wrong": "bold red", "unchecked": "yellow"}
    rows, named = [], {}
    for f in result.findings:
        if f.misconception:
            note = Text(f.misconception["name"])
            named[f.misconception["name"]] = f.misconception
        elif f.status == "unchecked":
            note = Text(f.reason, style="dim")
        elif f.status == "wrong":
            note = Text(f.reason or "none known", style="dim")
        else:
            note = Text("")
        claimed = (_cell(f.claim.written, f.claim.written) if f.claim.numeric
                   else Text(repr(f.claim.value)))
        verified = (Text("-") if f.status == "unchecked" else
                    _cell(f.verified, f.claim.written if f.claim.numeric
                          and f.reason is None else f.verified, _wrong_entries(f)))
        rows.append((Text(f.item), Text(f.claim.path), Text(f.status, style=styles[f.status]),
                     claimed, verified, note))
    table = Table(title=f"audit of {result.key}", title_justify="left", show_lines=True,
                  box=box.SIMPLE_HEAD, pad_edge=False)
    longest_name = max((len(row[5].plain) for row in rows if row[2].plain == "wrong"),
                       default=0)
    for name in ("id", "claim", "status", "claimed", "verified", "misconception"):
        if name == "misconception":
            table.add_column(name, min_width=min(longest_name, NOTE_WIDTH),
                             max_width=NOTE_WIDTH, overflow="fold")
        else:
            table.add_column(name, max_width=CLAIM_WIDTH if name == "claim" else None,
                             overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(result.summary())
    for name, m in named.items():
        console.print(Padding(Text(f"{name} ({m['family']}): {m['description']}"),
                              (0, 0, 0, 2)))
    console.print(Text("(verified values rounded to the places each claim was written to; "
                       "--json has every digit)", style="dim"))
