"""Figures drawn from a question's params, never by hand: the same params give the same
bytes, in any process.

- ``network_figure``: backprop-step's dense network (the homework's Figure 1): a column
  of neurons per layer, every edge, and - when few enough to read - each edge's weight
  and each neuron's bias.
- ``receptive_field_figure``: receptive-field's constructions (the homework's question 3,
  "illustrate like Figure 2.2(b)"): per construction, the input grid with the cells one
  unit sees after each layer, in nested tones; a dilated filter shows its sparse taps.
- ``shape_figure``: conv-pool-shape and transposed-dilated: one block per stage, scaled
  by its H, W and C and labelled H x W x C, with the layer (kernel/stride) on the arrow.

``figure(question)`` picks the diagram of the question's family. A figure is a list of
drawing primitives laid out once, in SVG pixels (y down); ``Figure.svg()`` and
``Figure.tikz()`` write the same primitives, so the two outputs show the same picture.
Coordinates are written with two fixed decimals.

What a student must find is never drawn with the question: the shape diagram labels the
later stages "?" unless ``answers=True``, and the receptive-field diagram *is* an answer
(the homework asks the student to draw it), so it exists only with ``answers=True``.

A figure that cannot be drawn legibly (13 neurons in a layer, a 31 x 31 field) is a
``FigureUnavailable`` with the reason; exporters print its note instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_COLUMNS",
    "MAX_FIELD",
    "MAX_FIELD_LAYERS",
    "MAX_LABELLED_EDGES",
    "MAX_NEURONS",
    "MAX_STAGES",
    "Figure",
    "FigureUnavailable",
    "figure",
    "network_figure",
    "placed_figures",
    "receptive_field_figure",
    "shape_figure",
]

# Legibility limits. Past them a figure is not drawn (FigureUnavailable says why).
MAX_NEURONS = 12  # per layer: circles 15 px in radius, 50 px apart
MAX_COLUMNS = 6  # layers of neurons, the input included
MAX_LABELLED_EDGES = 12  # per layer of weights: more, and their labels cannot all be placed
MAX_FIELD = 21  # cells per side of a receptive-field grid (7 px cells at the least)
MAX_FIELD_LAYERS = 16  # nested tones one legend can tell apart
MAX_STAGES = 8  # blocks in a shape diagram

# The layouts aim at this width in SVG pixels; LaTeX scales a wider picture down to fit
# TEXT_WIDTH_PT (an A4 page with 2.5 cm margins has 455 pt).
MAX_WIDTH = 600.0
TEXT_WIDTH_PT = 430.0
PT_PER_PX = 0.75  # CSS: 96 px to the inch, 72 pt to the inch

SVG_NS = "http://www.w3.org/2000/svg"
FONT = "Helvetica, Arial, sans-serif"
# An estimate of a sans-serif glyph's advance, in ems (digits are 0.556 em in
# Helvetica); layouts leave room for the widest text this predicts.
CHAR_EM = 0.6

INK = "#1F2933"
GREY = "#7B8794"
LIGHT_GREY = "#C5CCD3"
WHITE = "#FFFFFF"
DARK_TONE = (0x1F, 0x4E, 0x8C)
LIGHT_TONE = (0xD6, 0xE4, 0xF5)


def _f(value: float) -> str:
    """A coordinate: two fixed decimals, trailing zeros dropped, never -0."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------
# drawing primitives (SVG pixels, y down)


@dataclass(frozen=True)
class _Run:
    """A piece of text: style "" (upright), "i" (italic), "b" (bold), "sub" or "sup"."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str | None = None
    stroke: str | None = None
    width: float = 1.0


@dataclass(frozen=True)
class _Circle:
    x: float
    y: float
    r: float
    fill: str | None = None
    stroke: str | None = None
    width: float = 1.0


@dataclass(frozen=True)
class _Path:
    """An open polyline, or a closed polygon (``closed``)."""

    points: tuple[tuple[float, float], ...]
    fill: str | None = None
    stroke: str | None = None
    width: float = 1.0
    closed: bool = False


@dataclass(frozen=True)
class _Text:
    """Text on a baseline at y; ``anchor`` is where x sits: start, middle or end."""

    x: float
    y: float
    runs: tuple[_Run, ...]
    size: float = 10.0
    anchor: str = "middle"
    fill: str = INK


_Item = _Rect | _Circle | _Path | _Text


def _runs(*parts: str | tuple[str, str]) -> tuple[_Run, ...]:
    """_runs("b = ", ("1", "sub")): plain strings and (text, style) pairs."""
    return tuple(_Run(p) if isinstance(p, str) else _Run(*p) for p in parts)


def _text_width(runs: Iterable[_Run], size: float) -> float:
    return sum(len(r.text) * CHAR_EM * size * (0.72 if r.style in ("sub", "sup") else 1.0)
               for r in runs)


def _text(x: float, y: float, text: str | tuple[_Run, ...], size: float = 10.0,
          anchor: str = "middle", fill: str = INK) -> _Text:
    runs = _runs(text) if isinstance(text, str) else text
    return _Text(x, y, runs, size, anchor, fill)


def _box(item: _Text, pad: float = 1.5) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) a text is expected to fill."""
    w = _text_width(item.runs, item.size)
    x0 = {"start": item.x, "middle": item.x - w / 2, "end": item.x - w}[item.anchor]
    return (x0 - pad, item.y - 0.8 * item.size - pad, x0 + w + pad, item.y + 0.25 * item.size
            + pad)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _arrow(x1: float, y1: float, x2: float, y2: float, colour: str = INK,
           width: float = 1.0, head: float = 6.0) -> list[_Item]:
    """A line with a filled triangular head (no SVG markers, no TikZ arrow library: the
    same polygon in both outputs)."""
    length = math.hypot(x2 - x1, y2 - y1)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    bx, by = x2 - ux * head, y2 - uy * head
    wing = head * 0.45
    return [_Path(((x1, y1), (bx, by)), stroke=colour, width=width),
            _Path(((x2, y2), (bx - uy * wing, by + ux * wing), (bx + uy * wing, by - ux * wing)),
                  fill=colour, closed=True)]


def _tone(fraction: float) -> str:
    """A blue between the dark tone (0) and the light one (1)."""
    rgb = (round(d + (l - d) * fraction) for d, l in zip(DARK_TONE, LIGHT_TONE, strict=True))
    return "#" + "".join(f"{c:02X}" for c in rgb)


# ---------------------------------------------------------------------------
# text for each output

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters the figures use beyond ASCII, as LaTeX writes them (in any font encoding).
_TEX_SYMBOLS = {"\u00d7": r"$\times$", "\u2212": r"$-$", "\u2192": r"$\rightarrow$",
                "\u2026": r"\dots{}"}


def _xml_text(text: str) -> str:
    """Text XML can hold: control characters dropped (lxml escapes the rest)."""
    return _NOT_XML.sub("", text)


def _tex_text(text: str) -> str:
    from qgen.render import latex_escape

    return "".join(_TEX_SYMBOLS.get(ch) or latex_escape(ch) for ch in text)


def _tex_runs(runs: Iterable[_Run]) -> str:
    wrap = {"": "{}", "i": r"\textit{{{}}}", "b": r"\textbf{{{}}}",
            "sub": r"\textsubscript{{{}}}", "sup": r"\textsuperscript{{{}}}"}
    return "".join(wrap[r.style].format(_tex_text(r.text)) if r.style else _tex_text(r.text)
                   for r in runs)


def _minus(text: str) -> str:
    """A typographic minus for a leading sign."""
    return "\u2212" + text[1:] if text.startswith("-") else text


def _value(v: float) -> str:
    """A weight or bias as the figure prints it: as written in the params when short,
    else four significant digits."""
    from qgen.render import number

    text = number(v)
    if len(text.lstrip("-")) > 6:
        text = f"{float(v):.4g}"
    return _minus(text)


# ---------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class Figure:
    """A drawn figure. ``name`` is its kind ("network", "receptive-field", "shapes");
    ``caption`` is plain text; ``width`` and ``height`` are in SVG pixels."""

    name: str
    caption: str
    width: float
    height: float
    items: tuple[_Item, ...]

    available = True

    def svg(self) -> str:
        """A standalone ``<svg>`` element: no XML declaration, no external resources,
        ASCII only (other characters as references), so it can be written to a file
        or inlined in HTML as it is."""
        from lxml import etree

        root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        for key, value in (("width", _f(self.width)), ("height", _f(self.height)),
                           ("viewBox", f"0 0 {_f(self.width)} {_f(self.height)}"),
                           ("role", "img"), ("aria-label", _xml_text(self.caption)),
                           ("font-family", FONT), ("style", "max-width:100%;height:auto")):
            root.set(key, value)
        etree.SubElement(root, f"{{{SVG_NS}}}title").text = _xml_text(self.caption)
        _svg_item(root, _Rect(0, 0, self.width, self.height, fill=WHITE))
        for item in self.items:
            _svg_item(root, item)
        return etree.tostring(root, encoding="us-ascii", xml_declaration=False).decode("ascii")

    def scale(self) -> float:
        """Points per SVG pixel in the TikZ picture: CSS's 0.75, less for a figure that
        would be wider than the text."""
        return min(PT_PER_PX, TEXT_WIDTH_PT / self.width)

    def tikz(self) -> str:
        """A ``tikzpicture`` (TikZ core only, no libraries) of the same primitives: its
        unit vectors make SVG pixels the coordinates (y down), and its fonts scale with
        the picture."""
        s = self.scale()
        colours = sorted({c for item in self.items for c in _colours(item)})
        lines = [rf"\begin{{tikzpicture}}[x={_f(s)}pt,y=-{_f(s)}pt]"]
        lines += [rf"\definecolor{{{_colour_name(c)}}}{{HTML}}{{{c[1:]}}}" for c in colours]
        # The bounding box is the SVG's, so both outputs take the same room.
        lines.append(rf"\path[use as bounding box] (0,0) rectangle ({_f(self.width)},"
                     rf"{_f(self.height)});")
        lines += [_tikz_item(item, s) for item in self.items]
        lines.append(r"\end{tikzpicture}")
        return "\n".join(lines)


@dataclass(frozen=True)
class FigureUnavailable:
    """A figure the question would have, which cannot be drawn legibly. It has no
    ``svg()``: exporters (and the HTML preview) print ``note`` instead."""

    name: str
    reason: str

    available = False

    @property
    def note(self) -> str:
        return f"Figure not drawn: {self.reason}."


class _Unavailable(Exception):
    pass


def _colours(item: _Item) -> list[str]:
    return [c for c in (getattr(item, "fill", None), getattr(item, "stroke", None)) if c]


def _colour_name(colour: str) -> str:
    return "qgen" + colour[1:].upper()


# ---------------------------------------------------------------------------
# SVG output


def _svg_item(root, item: _Item) -> None:
    from lxml import etree

    def paint(el, fill, stroke, width):
        el.set("fill", fill or "none")
        if stroke:
            el.set("stroke", stroke)
            el.set("stroke-width", _f(width))

    tag = f"{{{SVG_NS}}}"
    if isinstance(item, _Rect):
        el = etree.SubElement(root, tag + "rect", x=_f(item.x), y=_f(item.y), width=_f(item.w),
                              height=_f(item.h))
        paint(el, item.fill, item.stroke, item.width)
    elif isinstance(item, _Circle):
        el = etree.SubElement(root, tag + "circle", cx=_f(item.x), cy=_f(item.y),
                              r=_f(item.r))
        paint(el, item.fill, item.stroke, item.width)
    elif isinstance(item, _Path):
        points = " ".join(f"{_f(x)},{_f(y)}" for x, y in item.points)
        el = etree.SubElement(root, tag + ("polygon" if item.closed else "polyline"),
                              points=points)
        paint(el, item.fill, item.stroke, item.width)
        if not item.closed:
            el.set("stroke-linecap", "round")
    else:
        el = etree.SubElement(root, tag + "text", x=_f(item.x), y=_f(item.y))
        el.set("font-size", _f(item.size))
        el.set("text-anchor", item.anchor)
        el.set("fill", item.fill)
        shift = 0.0  # the baseline offset of the previous run
        for run in item.runs:
            span = etree.SubElement(el, tag + "tspan")
            target = {"sub": 0.3, "sup": -0.4}.get(run.style, 0.0) * item.size
            if target != shift:
                span.set("dy", _f(target - shift))
                shift = target
            if run.style in ("sub", "sup"):
                span.set("font-size", _f(0.72 * item.size))
            elif run.style == "i":
                span.set("font-style", "italic")
            elif run.style == "b":
                span.set("font-weight", "bold")
            span.text = _xml_text(run.text)


# ---------------------------------------------------------------------------
# TikZ output


def _tikz_item(item: _Item, s: float) -> str:
    def style(fill, stroke, width):
        opts = []
        if fill:
            opts.append(f"fill={_colour_name(fill)}")
        if stroke:
            opts += [f"draw={_colour_name(stroke)}", f"line width={_f(width * s)}pt"]
        return ",".join(opts)

    if isinstance(item, _Rect):
        return (rf"\path[{style(item.fill, item.stroke, item.width)}] ({_f(item.x)},{_f(item.y)})"
                rf" rectangle ({_f(item.x + item.w)},{_f(item.y + item.h)});")
    if isinstance(item, _Circle):
        return (rf"\path[{style(item.fill, item.stroke, item.width)}] ({_f(item.x)},{_f(item.y)})"
                rf" circle[radius={_f(item.r * s)}pt];")
    if isinstance(item, _Path):
        path = " -- ".join(f"({_f(x)},{_f(y)})" for x, y in item.points)
        cap = "" if item.closed else ",line cap=round"
        return (rf"\path[{style(item.fill, item.stroke, item.width)}{cap}] {path}"
                rf"{' -- cycle' if item.closed else ''};")
    anchor = {"start": "base west", "middle": "base", "end": "base east"}[item.anchor]
    # Computer Modern Sans in OT1, whatever the document's fonts: its Type 1 outlines
    # ship with every TeX installation (amsfonts) and scale to any size, where the T1
    # (EC) sans is a bitmap that METAFONT must make, and for some sizes cannot. Whole
    # points are the sizes its font definitions list, so none is substituted.
    size = max(5, round(item.size * s))
    weight = r"\bfseries" if all(r.style == "b" for r in item.runs) else ""
    return (rf"\node[anchor={anchor},inner sep=0pt,text={_colour_name(item.fill)},"
            rf"font=\fontencoding{{OT1}}\fontfamily{{cmss}}\fontseries{{m}}\fontshape{{n}}"
            rf"\fontsize{{{size}}}{{{_f(size * 1.2)}}}\selectfont{weight}]"
            rf" at ({_f(item.x)},{_f(item.y)}) {{{_tex_runs(item.runs)}}};")


# ---------------------------------------------------------------------------
# backprop-step: the dense network

RADIUS = 15.0
PITCH = 50.0  # vertical distance between neurons
LABEL_SIZE = 9.0
# Where along an edge its weight may sit (fractions of the way from the source),
# tried in this order until the label overlaps nothing already placed.
EDGE_SPOTS = (0.5, 0.38, 0.62, 0.3, 0.7, 0.44, 0.56, 0.24, 0.76, 0.34, 0.66, 0.2, 0.8)


def _neuron_label(column: int, index: int, columns: int) -> tuple[_Run, ...]:
    j = str(index + 1)
    if column == 0:
        return _runs(("x", "i"), (j, "sub"))
    if column == columns - 1:
        return _runs(("o", "i"), (j, "sub"))
    if columns == 3:
        return _runs(("h", "i"), (j, "sub"))
    return _runs(("h", "i"), (f"({column})", "sup"), (j, "sub"))


def _column_title(column: int, columns: int, activation: str | None) -> str:
    if column == 0:
        return "input"
    if column == columns - 1:
        return f"output ({activation})"
    return "hidden" + (f" {column}" if columns > 3 else "") + f" ({activation})"


def network_figure(params: dict) -> Figure:
    """backprop-step: neurons in columns, every edge; each edge labelled with its weight
    W[i][j] where a layer has at most MAX_LABELLED_EDGES edges (and their labels can be
    placed apart), each neuron with its bias."""
    layers = params["layers"]
    sizes = [len(layers[0]["W"])] + [len(layer["b"]) for layer in layers]
    columns = len(sizes)
    if columns > MAX_COLUMNS:
        raise _Unavailable(f"the network has {columns} layers of neurons (the input "
                           f"included); at most {MAX_COLUMNS} can be drawn legibly")
    for column, n in enumerate(sizes):
        if n > MAX_NEURONS:
            name = "the input" if column == 0 else f"layer {column}"
            raise _Unavailable(f"{name} has {n} neurons; at most {MAX_NEURONS} per layer can "
                               "be drawn legibly")
    activations = [None] + [layer.get("activation", "sigmoid") for layer in layers]
    titles = [_column_title(c, columns, activations[c]) for c in range(columns)]
    margin = max(_text_width(_runs(titles[0]), 10) / 2, 40.0) + 8
    right = max(_text_width(_runs(titles[-1]), 10) / 2, 40.0) + 8
    gap = min(200.0, (MAX_WIDTH - margin - right) / (columns - 1))
    top = 44.0  # below the titles, with room for a bias label above the first neuron
    tallest = max(sizes)
    mid = top + RADIUS + (tallest - 1) * PITCH / 2
    centres = [[(margin + c * gap, mid + (k - (n - 1) / 2) * PITCH) for k in range(n)]
               for c, n in enumerate(sizes)]
    width = margin + (columns - 1) * gap + right
    height = top + 2 * RADIUS + (tallest - 1) * PITCH + 12

    items: list[_Item] = []
    taken = []  # boxes labels must keep clear of: neurons, biases, titles
    labels: list[_Item] = []
    for c, title in enumerate(titles):
        head = _text(centres[c][0][0], 16, _runs((title, "b")), 10)
        labels.append(head)
        taken.append(_box(head))
    for c, column in enumerate(centres):
        for x, y in column:
            taken.append((x - RADIUS - 2, y - RADIUS - 2, x + RADIUS + 2, y + RADIUS + 2))
        if c == 0:
            continue
        for (x, y), b in zip(column, layers[c - 1]["b"], strict=True):
            bias = _text(x, y - RADIUS - 4, "b = " + _value(b), LABEL_SIZE)
            taken.append(_box(bias))
            labels += [_Rect(*_frame(_box(bias, 1.0)), fill=WHITE), bias]

    unlabelled = []
    for layer_index, layer in enumerate(layers):
        sources, targets = centres[layer_index], centres[layer_index + 1]
        placed: list[tuple] = []
        edges = [(i, j, *sources[i], *targets[j]) for i in range(len(sources))
                 for j in range(len(targets))]
        for _, _, x1, y1, x2, y2 in edges:  # circle to circle
            length = math.hypot(x2 - x1, y2 - y1)
            ux, uy = (x2 - x1) / length, (y2 - y1) / length
            items.append(_Path(((x1 + ux * RADIUS, y1 + uy * RADIUS),
                                (x2 - ux * RADIUS, y2 - uy * RADIUS)), stroke=GREY, width=0.9))
        if len(edges) <= MAX_LABELLED_EDGES:
            for i, j, x1, y1, x2, y2 in edges:
                others = [e[2:] for e in edges if e[:2] != (i, j)]
                placed.append(_place(x1, y1, x2, y2, _value(layer["W"][i][j]),
                                     taken + [p[0] for p in placed if p], others))
        if placed and all(placed):
            for box, label in placed:
                labels += [_Rect(*_frame(box), fill=WHITE, stroke=LIGHT_GREY, width=0.5),
                           label]
        else:
            unlabelled.append(layer_index + 1)
    for c, column in enumerate(centres):
        for k, (x, y) in enumerate(column):
            items.append(_Circle(x, y, RADIUS, fill="#EEF3FA" if c else WHITE, stroke=INK,
                                 width=1.2))
            items.append(_text(x, y + 4, _neuron_label(c, k, columns), 11))
    caption = ("The network: layer sizes " + ", ".join(map(str, sizes)) + " (input first); "
               "each edge carries its weight W[i][j] and each neuron its bias b")
    if unlabelled:
        which = ", ".join(f"W({n})" for n in unlabelled)
        caption += f" (the weights of {which} are in the matrices: too many edges to label)"
    return Figure("network", caption, width, height, tuple(items + labels))


def _frame(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    return box[0], box[1], box[2] - box[0], box[3] - box[1]


def _place(x1: float, y1: float, x2: float, y2: float, text: str, taken: list,
           others: list):
    """(box, label) of an edge's weight at the first spot along it that overlaps none
    of ``taken`` and no other edge (``others``: segments), else the first spot that
    overlaps none of ``taken``; None when every spot does."""
    spots = []
    for t in EDGE_SPOTS:
        x, y = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        label = _text(x, y + 3, text, LABEL_SIZE)
        box = _box(label, 1.5)
        if not any(_overlaps(box, other) for other in taken):
            spots.append((box, label))
            if not any(_crosses(box, *segment) for segment in others):
                return box, label
    return spots[0] if spots else None


def _crosses(box, x1: float, y1: float, x2: float, y2: float) -> bool:
    """Whether the segment meets the box (Liang-Barsky clipping)."""
    lo, hi = 0.0, 1.0
    dx, dy = x2 - x1, y2 - y1
    for p, q in ((-dx, x1 - box[0]), (dx, box[2] - x1), (-dy, y1 - box[1]), (dy, box[3] - y1)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


# ---------------------------------------------------------------------------
# receptive-field: the field of one unit, layer by layer

def _pair(value) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (
        int(value), int(value))


def _supports(kernels, dilations, strides) -> list[frozenset[tuple[int, int]]]:
    """The input cells a unit of layer l reads, for l = 1..L: the sum (Minkowski) of the
    taps of layers 1..l, each tap spaced by its dilation times the jump (the product of
    the strides below it)."""
    cells = frozenset({(0, 0)})
    jump_h = jump_w = 1
    found = []
    for kernel, d, s in zip(kernels, dilations, strides, strict=True):
        (kh, kw), (dh, dw), (sh, sw) = _pair(kernel), _pair(d), _pair(s)
        taps = [(dh * a * jump_h, dw * b * jump_w) for a in range(kh) for b in range(kw)]
        cells = frozenset((r + p, c + q) for r, c in cells for p, q in taps)
        found.append(cells)
        jump_h, jump_w = jump_h * sh, jump_w * sw
    return found


def _extent(cells: Iterable[tuple[int, int]]) -> tuple[int, int]:
    cells = list(cells)
    return (max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1)


def _rectangles(cells: Iterable[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Cells as few (row, col, rows, cols) rectangles: runs along each row, merged with
    the same run in the rows below."""
    rows: dict[int, list[int]] = {}
    for r, c in sorted(cells):
        rows.setdefault(r, []).append(c)
    runs = []
    for r, cols in rows.items():
        start = prev = cols[0]
        for c in cols[1:] + [None]:
            if c is not None and c == prev + 1:
                prev = c
                continue
            runs.append((r, start, prev - start + 1))
            if c is not None:
                start = prev = c
    merged: list[list[int]] = []
    for r, c, n in runs:
        for rect in merged:
            if rect[1] == c and rect[3] == n and rect[0] + rect[2] == r:
                rect[2] += 1
                break
        else:
            merged.append([r, c, 1, n])
    return [tuple(rect) for rect in merged]


def _times(text: str) -> str:
    """'4 x (3x3)' as '4 × (3×3)'."""
    return re.sub(r"(?<=\d)x(?=\d)", "\u00d7", text.replace(" x ", " \u00d7 "))


def _dims(h: int, w: int) -> str:
    return f"{h}\u00d7{w}"


def receptive_field_figure(params: dict, answer: dict) -> Figure:
    """receptive-field: one panel per approach of the answer: the field's grid of input
    cells, the cells a unit of layer 1 reads darkest, each later layer's wider field in
    a lighter tone around it (a dilated filter: its sparse taps), and a legend of each
    layer's kernel and the field it reaches."""
    approaches = answer["approaches"]
    panels = []
    for index, approach in enumerate(approaches):
        kernels = approach["kernels"]
        n = len(kernels)
        letter = "abcdefghijklmnopqrstuvwxyz"[index % 26]
        if n > MAX_FIELD_LAYERS:
            raise _Unavailable(f"approach ({letter}) has {n} layers; at most "
                               f"{MAX_FIELD_LAYERS} tones can be told apart")
        supports = _supports(kernels, approach.get("dilations", [1] * n),
                             approach.get("strides", [1] * n))
        field_h, field_w = _extent(supports[-1])
        if max(field_h, field_w) > MAX_FIELD:
            raise _Unavailable(f"approach ({letter}) has a {field_h} x {field_w} field; at "
                               f"most {MAX_FIELD} x {MAX_FIELD} cells can be drawn legibly")
        panels.append(_field_panel(f"({letter}) {_times(str(approach['name']))}", kernels,
                                   approach.get("dilations", [1] * n),
                                   approach.get("strides", [1] * n), supports))
    items, width, height = _arrange(panels)
    target = _dims(*_extent(_supports(approaches[0]["kernels"],
                                      approaches[0].get("dilations", [1]),
                                      approaches[0].get("strides", [1]))[-1]))
    caption = (f"Each approach's {target} receptive field on its input grid: the cells a "
               "unit of layer 1 reads are darkest, and each later layer widens the field "
               "to the lighter cells around them")
    return Figure("receptive-field", caption, width, height, tuple(items))


def _field_panel(title: str, kernels, dilations, strides, supports):
    """(items, width, height) of one approach, drawn at the origin."""
    field_h, field_w = _extent(supports[-1])
    cell = float(min(14, max(7, round(126 / max(field_h, field_w)))))
    grid_top, n = 20.0, len(supports)
    items: list[_Item] = [_text(0, 12, _runs((title, "b")), 10, "start")]
    items.append(_Rect(0, grid_top, field_w * cell, field_h * cell, fill=WHITE))
    for layer in range(n - 1, -1, -1):  # widest (lightest) first, layer 1 on top
        h, w = _extent(supports[layer])
        top, left = (field_h - h) // 2, (field_w - w) // 2  # the unit's field, centred
        colour = _tone(layer / (n - 1) if n > 1 else 0.0)
        for r, c, rows, cols in _rectangles(supports[layer]):
            items.append(_Rect((left + c) * cell, grid_top + (top + r) * cell, cols * cell,
                               rows * cell, fill=colour))
    for r in range(field_h + 1):
        items.append(_Path(((0, grid_top + r * cell), (field_w * cell, grid_top + r * cell)),
                           stroke=LIGHT_GREY, width=0.6))
    for c in range(field_w + 1):
        items.append(_Path(((c * cell, grid_top), (c * cell, grid_top + field_h * cell)),
                           stroke=LIGHT_GREY, width=0.6))
    items.append(_Rect(0, grid_top, field_w * cell, field_h * cell, stroke=INK, width=1.2))
    # legend: one line per layer, its tone, kernel and the field it reaches
    x0, size, line = field_w * cell + 10, 9.0, 12.0
    head = _text(x0, grid_top + 8, "layer: kernel \u2192 field", size, "start", GREY)
    items.append(head)
    legend_w = _text_width(head.runs, size)
    for layer in range(n):
        y = grid_top + 8 + (layer + 1) * line
        kh, kw = _pair(kernels[layer])
        text = f"{layer + 1}: {_dims(kh, kw)}"
        (dh, dw), (sh, sw) = _pair(dilations[layer]), _pair(strides[layer])
        if (dh, dw) != (1, 1):
            text += f" d{dh}" if dh == dw else f" d{dh},{dw}"
        if (sh, sw) != (1, 1):
            text += f" s{sh}" if sh == sw else f" s{sh},{sw}"
        text += " \u2192 " + _dims(*_extent(supports[layer]))
        colour = _tone(layer / (n - 1) if n > 1 else 0.0)
        items.append(_Rect(x0, y - 7, 8, 8, fill=colour, stroke=GREY, width=0.5))
        label = _text(x0 + 12, y, text, size, "start")
        items.append(label)
        legend_w = max(legend_w, 12 + _text_width(label.runs, size))
    width = x0 + legend_w
    height = grid_top + max(field_h * cell, 8 + n * line + 4)
    return items, width, height


def _shifted(item: _Item, dx: float, dy: float) -> _Item:
    if isinstance(item, _Path):
        return _Path(tuple((x + dx, y + dy) for x, y in item.points), item.fill, item.stroke,
                     item.width, item.closed)
    if isinstance(item, _Rect):
        return _Rect(item.x + dx, item.y + dy, item.w, item.h, item.fill, item.stroke,
                     item.width)
    if isinstance(item, _Circle):
        return _Circle(item.x + dx, item.y + dy, item.r, item.fill, item.stroke, item.width)
    return _Text(item.x + dx, item.y + dy, item.runs, item.size, item.anchor, item.fill)


def _arrange(panels, gap: float = 28.0, margin: float = 10.0):
    """Panels in rows of equal columns, as many to a row as MAX_WIDTH takes."""
    column = max(w for _, w, _ in panels)
    per_row = max(1, int((MAX_WIDTH - 2 * margin + gap) // (column + gap)))
    items: list[_Item] = []
    y = margin
    for start in range(0, len(panels), per_row):
        row = panels[start:start + per_row]
        for k, (panel, _, _) in enumerate(row):
            items += [_shifted(item, margin + k * (column + gap), y) for item in panel]
        y += max(h for _, _, h in row) + gap
    columns = min(per_row, len(panels))
    return items, 2 * margin + columns * column + (columns - 1) * gap, y - gap + margin


# ---------------------------------------------------------------------------
# conv-pool-shape, transposed-dilated: the shapes of a layer stack

SIZED = ("conv", "convtranspose", "maxpool", "avgpool", "flatten", "dense")
OP_SIZE = 9.0
OP_LINE = 11.0
OP_WRAP = 16  # characters on one line of an arrow's label


def _kernel_text(layer: dict, default_stride) -> str:
    kh, kw = _pair(layer.get("kernel", 1))
    sh, sw = _pair(layer.get("stride", default_stride))
    stride = str(sh) if sh == sw else f"{sh},{sw}"
    return f"{_dims(kh, kw)}/{stride}"


def _option(name: str, value, default) -> list[str]:
    a, b = _pair(value if value is not None else default)
    if (a, b) == _pair(default):
        return []
    return [f"{name} {a}" if a == b else f"{name} {a},{b}"]


def _wrap(words: list[str], limit: int = OP_WRAP) -> list[str]:
    """Comma-joined items on as few lines of ``limit`` characters as they fit."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 2 + len(word) <= limit:
            lines[-1] += ", " + word
        else:
            lines.append(word)
    return lines


def _operation(layer: dict) -> list[str]:
    """The lines an arrow carries for one layer: kind, kernel/stride, then options."""
    kind = layer["type"]
    if kind == "conv":
        lines = [f"conv {_kernel_text(layer, 1)}", f"{layer['filters']} filters"]
        extra = _option("pad", layer.get("padding"), 0) + _option("dil", layer.get("dilation"),
                                                                  1)
    elif kind == "convtranspose":
        lines = ["transposed conv", f"{_kernel_text(layer, 1)}, {layer['filters']} filters"]
        extra = (_option("pad", layer.get("padding"), 0)
                 + _option("out-pad", layer.get("output_padding"), 0)
                 + _option("dil", layer.get("dilation"), 1))
    elif kind in ("maxpool", "avgpool"):
        lines = [f"{kind} {_kernel_text(layer, layer.get('kernel', 1))}"]
        extra = (_option("pad", layer.get("padding"), 0)
                 + _option("dil", layer.get("dilation"), 1)
                 + (["ceil"] if layer.get("ceil_mode") else []))
    elif kind == "dense":
        lines, extra = [f"dense, {layer['units']} units"], []
    else:
        lines, extra = [kind], []
    return lines + _wrap(extra)


def _shape_text(shape) -> str:
    return "\u00d7".join(str(int(v)) for v in shape)


def _block(x: float, axis: float, shape, question: bool) -> tuple[list[_Item], float, float]:
    """(items, width, half height) of a stage's block, its front face's left edge at x:
    height from H, the receding depth from W (square roots), the front's width from C
    (a logarithm); a flat vector is a thin bar. A question's unknown stage is a plain
    block of a fixed size, so its size cannot be read off the drawing."""
    if question:
        height, depth, thick = 56.0, 22.0, 16.0
    elif len(shape) == 3:
        h, w, c = (max(1, int(v)) for v in shape)
        height = min(96.0, max(8.0, 11.0 * math.sqrt(h)))
        depth = min(40.0, max(4.0, 4.6 * math.sqrt(w)))
        thick = 4.0 + 3.5 * math.log2(c)
    else:
        height, depth, thick = min(96.0, max(8.0, 8.0 * math.sqrt(max(1, int(shape[0]))))), 0.0, 5.0
    ox = oy = depth * 0.7
    top, bottom = axis - height / 2 + oy / 2, axis + height / 2 + oy / 2
    front = (0xCF, 0xE0, 0xF5)
    items: list[_Item] = [
        _Rect(x, top, thick, height, fill=_hex(front), stroke=INK, width=0.9)]
    if depth:
        items += [
            _Path(((x, top), (x + ox, top - oy), (x + thick + ox, top - oy), (x + thick, top)),
                  fill=_hex(tuple(min(255, v + 16) for v in front)), stroke=INK, width=0.9,
                  closed=True),
            _Path(((x + thick, top), (x + thick + ox, top - oy), (x + thick + ox, bottom - oy),
                   (x + thick, bottom)), fill=_hex(tuple(v - 38 for v in front)), stroke=INK,
                  width=0.9, closed=True)]
    return items, thick + ox, height / 2 + oy / 2


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02X}" for v in rgb)


def shape_figure(params: dict, answer: dict | None = None) -> Figure:
    """conv-pool-shape, transposed-dilated (any net-summary stack): the input and the
    output of every sized layer as blocks labelled H x W x C, and on the arrow between
    two blocks the layer (kernel/stride, filters, padding, dilation) and the activation
    after it. Without ``answer`` (the question's figure) every stage after the input is
    a plain block labelled "?"."""
    question = answer is None
    stages = [list(params["input"])]
    operations: list[list[str]] = []
    pending: list[str] = []  # activations before the first sized layer
    for index, layer in enumerate(params["layers"]):
        if layer["type"] in SIZED:
            operations.append(pending + _operation(layer))
            pending = []
            stages.append(None if question else list(answer["layers"][index]["output"]))
        elif operations:
            operations[-1].append(layer["type"])
        else:
            pending.append(layer["type"])
    if len(stages) > MAX_STAGES:
        raise _Unavailable(f"the stack has {len(stages)} stages; at most {MAX_STAGES} blocks "
                           "fit across a page")
    tallest = max((len(op) for op in operations), default=0)
    axis = 14 + tallest * OP_LINE + 60.0  # room for the labels above the arrows
    sizes = [_shape_text(s) if s is not None else "?" for s in stages]
    items: list[_Item] = []
    x, margin = 10.0, 10.0
    extents = []
    bottom = 0.0
    for k, shape in enumerate(stages):
        label_w = _text_width(_runs(sizes[k]), 10)
        block, width, half = _block(0, axis, shape if shape is not None else [1, 1, 1],
                                    question and k > 0)
        slot = max(width, label_w) + 4
        left = x + (slot - width) / 2
        items += [_shifted(item, left, 0) for item in block]
        extents.append((left, left + width, half))
        bottom = max(bottom, axis + half)
        x += slot
        if k < len(operations):
            x += max(44.0, max(_text_width(_runs(line), OP_SIZE) for line in operations[k]) + 16)
    label_y = bottom + 16
    for k in range(len(stages)):
        left, right, _ = extents[k]
        items.append(_text((left + right) / 2, label_y, _runs((sizes[k], "b" if k == 0 else "")),
                           10))
    for k, lines in enumerate(operations):
        start, end = extents[k][1] + 5, extents[k + 1][0] - 5
        items += _arrow(start, axis, end, axis, INK, 1.1)
        for n, line in enumerate(reversed(lines)):
            items.append(_text((start + end) / 2, axis - 6 - n * OP_LINE, line, OP_SIZE))
    width = x + margin
    top_used = min(min(i.y - 0.8 * i.size for i in items if isinstance(i, _Text)),
                   min(axis - half - 4 for _, _, half in extents))
    shift = 8 - top_used  # trim the space above the tallest element
    items = [_shifted(item, 0, shift) for item in items]
    height = label_y + shift + 8
    if question:
        caption = ("The layers in order: the input's size H\u00d7W\u00d7C, and a question "
                   "mark for each size to find; each arrow names its layer (kernel/stride)")
    else:
        caption = ("The stages with their sizes H\u00d7W\u00d7C: each block's height grows "
                   "with H, its depth with W and its width with C; each arrow names its "
                   "layer (kernel/stride)")
    return Figure("shapes", caption, width, height, tuple(items))


# ---------------------------------------------------------------------------
# the entry point

def _answer(question: dict) -> dict:
    if "answer" in question:
        return question["answer"]
    from qgen.families import get_family

    return get_family(question["family"]).solve(question["params"])["answer"]


_KINDS = {"backprop-step": "network", "receptive-field": "receptive-field",
          "conv-pool-shape": "shapes", "transposed-dilated": "shapes"}


def figure(question: dict, *, answers: bool = False) -> Figure | FigureUnavailable | None:
    """The figure of a question (a bank's question dict: family, params, answer), as the
    question shows it; with ``answers``, as the answer key shows it (the shapes labelled,
    the receptive-field diagram drawn). None when its family has no figure there;
    FigureUnavailable (with its reason) when it cannot be drawn legibly. Never raises
    for a question's params: params it cannot read are a FigureUnavailable too."""
    family = question.get("family")
    kind = _KINDS.get(family)
    if kind is None or (kind == "receptive-field" and not answers):
        return None
    try:
        params = question["params"]
        if kind == "network":
            return network_figure(params)
        if kind == "receptive-field":
            return receptive_field_figure(params, _answer(question))
        return shape_figure(params, _answer(question) if answers else None)
    except _Unavailable as reason:
        return FigureUnavailable(kind, str(reason))
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as error:
        return FigureUnavailable(kind, f"its params cannot be drawn ({type(error).__name__}: "
                                       f"{error})")


def placed_figures(question: dict, *, answers: bool = False):
    """(the figure beside the question, the figure beside the worked solution): the
    second only with ``answers`` and only when it differs from the first (a shape
    diagram with its sizes filled in, the receptive-field diagram)."""
    shown = figure(question)
    if not answers:
        return shown, None
    solved = figure(question, answers=True)
    return shown, (None if solved == shown else solved)
