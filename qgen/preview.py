"""``qgen preview BANK -o DIR``: one static HTML page of a bank's questions, with their
figures, worked solutions behind a show/hide toggle, and practice boxes that check an
answer in the browser; math rendered by KaTeX, copied into ``DIR/katex/``, so the page
works offline (no CDN, no network).

KaTeX comes from Debian (``libjs-katex`` and ``fonts-katex``), or the npm package
``katex`` (``node_modules/katex/dist``), or a folder named by ``QGEN_KATEX_DIR``.

What the page checks: each numeric question's graded entries (qgen.export.items), as
displayed, with their tolerances: ``|given - shown| <= tolerance`` with the same float64
slack as qgen.grade. A multiple-choice question checks the option chosen and names the
misconception a wrong option stands for. An expression part is not graded in the page
(it needs SymPy): ``qgen practice`` grades it.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from qgen.errors import QgenError

__all__ = ["Katex", "KatexNotFound", "PreviewReport", "find_katex", "page_html", "preview",
           "write_preview"]

KATEX_ENV = "QGEN_KATEX_DIR"
# Where KaTeX is looked for, in order, after $QGEN_KATEX_DIR: Debian's package, then the
# npm package installed in the working folder, the repository or globally.
_REPO = Path(__file__).resolve().parents[1]
KATEX_PLACES = (
    Path("/usr/share/javascript/katex"),
    Path("node_modules/katex/dist"),
    _REPO / "node_modules" / "katex" / "dist",
    Path("/usr/lib/node_modules/katex/dist"),
    Path("/usr/local/lib/node_modules/katex/dist"),
)
KATEX_INSTALL = ("install it: apt-get install libjs-katex fonts-katex (Debian), or "
                 f"npm install katex, or set {KATEX_ENV} to a folder with katex.min.js, "
                 "katex.min.css, contrib/auto-render(.min).js and fonts/")
# The page's own script and style, inlined into index.html.
_ASSETS = "_preview"


class KatexNotFound(QgenError):
    """No usable KaTeX on this machine: the message says what to install."""


@dataclass(frozen=True)
class Katex:
    """The files of one KaTeX installation that the page needs."""

    js: Path
    css: Path
    auto_render: Path
    fonts: Path

    def copy_to(self, folder: Path) -> None:
        """katex.min.js, katex.min.css, contrib/auto-render.min.js and fonts/ into
        ``folder`` (the names katex.min.css refers to, whatever the source calls them)."""
        (folder / "contrib").mkdir(parents=True)
        shutil.copyfile(self.js, folder / "katex.min.js")
        shutil.copyfile(self.css, folder / "katex.min.css")
        shutil.copyfile(self.auto_render, folder / "contrib" / "auto-render.min.js")
        fonts = folder / "fonts"
        fonts.mkdir()
        for font in sorted(self.fonts.iterdir()):  # Debian's fonts/ is a symlink: follow it
            if font.name.startswith("KaTeX_") and font.is_file():
                shutil.copyfile(font, fonts / font.name)


def _katex_in(folder: Path) -> Katex | str:
    """The KaTeX in ``folder``, or what is missing there."""
    auto = next((p for p in (folder / "contrib" / "auto-render.min.js",
                             folder / "contrib" / "auto-render.js") if p.is_file()), None)
    found = {"katex.min.js": folder / "katex.min.js", "katex.min.css": folder / "katex.min.css",
             "contrib/auto-render.min.js": auto, "fonts/": folder / "fonts"}
    missing = [name for name, path in found.items() if path is None or not path.exists()]
    if not missing and not any((folder / "fonts").glob("KaTeX_*.woff2")):
        missing = ["fonts/KaTeX_*.woff2 (Debian: fonts-katex)"]
    if missing:
        return f"{folder} has no {', '.join(missing)}"
    return Katex(found["katex.min.js"], found["katex.min.css"], auto, folder / "fonts")


def find_katex() -> Katex:
    """The first usable KaTeX: $QGEN_KATEX_DIR (only it, when set), else KATEX_PLACES."""
    chosen = os.environ.get(KATEX_ENV)
    if chosen:
        found = _katex_in(Path(chosen))
        if isinstance(found, str):
            raise KatexNotFound(f"{KATEX_ENV}={chosen!r}: {found}; {KATEX_INSTALL}")
        return found
    partial = []
    for place in KATEX_PLACES:
        if place.is_dir():
            found = _katex_in(place)
            if isinstance(found, Katex):
                return found
            partial.append(found)
    detail = f" ({'; '.join(partial)})" if partial else ""
    raise KatexNotFound(f"KaTeX is not installed{detail}: {KATEX_INSTALL}")


# ---------------------------------------------------------------------------
# The page

def _figures(question: dict) -> tuple[str, str]:
    """(the figure beside the question, the one beside the worked solution) as inline
    SVG, or a note saying why one is not drawn. A figure that fails to draw is a note in
    the page, never a failed preview."""
    try:
        from qgen.figures import placed_figures
    except ImportError:  # no figure support in this install: no figures, no notes
        return "", ""
    try:
        shown, solved = placed_figures(question, answers=True)
    except Exception as error:  # a figure is an extra: the page goes on without it
        return _figure_note(_failed(error)), ""
    return _figure_html(shown), _figure_html(solved)


def _failed(error: Exception) -> str:
    return f"Figure not drawn: {error.__class__.__name__}: {error}."


def _figure_html(drawn) -> str:
    """One figure: None (its family has none here) is nothing; a FigureUnavailable, or a
    figure whose drawing fails, is its note."""
    if drawn is None:
        return ""
    if not getattr(drawn, "available", True) or not callable(getattr(drawn, "svg", None)):
        reason = getattr(drawn, "reason", None) or "it cannot be drawn"
        return _figure_note(getattr(drawn, "note", None) or f"Figure not drawn: {reason}.")
    try:
        svg = drawn.svg()
    except Exception as error:  # as above: a note, never a failed preview
        return _figure_note(_failed(error))
    if not isinstance(svg, str) or "<svg" not in svg:
        return _figure_note("Figure not drawn: no SVG came out.")
    svg = svg[svg.index("<svg"):]  # inline SVG takes no XML declaration or doctype
    caption = getattr(drawn, "caption", "")
    caption = (f"<figcaption>{html.escape(caption, quote=False)}</figcaption>"
               if caption else "")
    return f'<figure class="figure">{svg}{caption}</figure>'


def _figure_note(text: str) -> str:
    return f'<p class="figure-note">{html.escape(text, quote=False)}</p>'


def _practice(question: dict) -> dict:
    """What the page checks for a question: its entries or its options, as displayed."""
    from qgen.export.items import entries, expression_parts
    from qgen.families import get_family

    if question.get("choices"):
        family = get_family(question["family"])
        described = {m.name: m.description for m in family.misconceptions}
        return {"kind": "choice", "options": [
            {"label": c["label"], "correct": bool(c["correct"]),
             "feedback": described.get(c.get("misconception") or "", "")}
            for c in question["choices"]], "expressions": []}
    numeric = [{"key": e.key, "label": e.label, "value": e.value,
                "tolerance": float(question["tolerance"].get(e.key.split("[")[0],
                                                             e.tolerance))}
               for e in entries(question)]
    expressions = [p.label for p in expression_parts(question)]
    return {"kind": "numeric" if numeric else "none", "entries": numeric,
            "expressions": expressions}


def _script_json(data) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can appear in it."""
    return (json.dumps(data, separators=(",", ":"), allow_nan=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _asset(name: str) -> str:
    from qgen.render import templates_dir

    return (templates_dir() / _ASSETS / name).read_text(encoding="utf-8")


def page_html(bank: dict, *, title: str = "Question bank") -> str:
    """index.html for a bank: every question with its figure, practice form and worked
    solution. Scripts and styles refer only to ``katex/`` beside the page."""
    from qgen.families import get_family
    from qgen.generate import render_question
    from qgen.render import environment

    questions, answers = [], {}
    for n, q in enumerate(bank["questions"], start=1):
        prompt, solution = render_question(q, "html")
        figure, solved_figure = _figures(q)
        anchor = f"q{n}"
        answers[anchor] = {"id": q["id"], **_practice(q)}
        questions.append({
            "anchor": anchor, "number": n, "id": html.escape(q["id"]),
            "family": html.escape(q["family"]),
            "family_title": html.escape(get_family(q["family"]).title, quote=False),
            "difficulty": html.escape(str(q["difficulty"]), quote=False),
            "points": q.get("points"),
            "prompt": prompt.strip(), "solution": solution.strip(),
            "figure": figure, "solved_figure": solved_figure, "practice": answers[anchor],
        })
    template = environment().get_template("_documents/preview.html.j2")
    return template.render(title=html.escape(title, quote=False), questions=questions,
                           answers_json=_script_json(answers), style=_asset("preview.css"),
                           script=_asset("preview.js"))


@dataclass
class PreviewReport:
    directory: Path
    questions: int = 0
    files: list[str] = field(default_factory=list)


def write_preview(bank: dict, folder: str | Path, *, title: str = "Question bank",
                  katex: Katex | None = None) -> PreviewReport:
    """Write index.html and katex/ into ``folder``, which must not exist yet (qgen build
    calls this inside its temporary folder). KatexNotFound when KaTeX is not installed."""
    katex = katex or find_katex()
    folder = Path(folder)
    text = page_html(bank, title=title)
    folder.mkdir()
    katex.copy_to(folder / "katex")
    (folder / "index.html").write_text(text, encoding="utf-8")
    return PreviewReport(folder, len(bank["questions"]), ["index.html", "katex/"])


def preview(bank_path: str | Path, out_dir: str | Path, *, title: str | None = None,
            force: bool = False) -> PreviewReport:
    """``qgen preview``: the page of a bank file into ``out_dir``, made in a temporary
    folder beside it and renamed into place, so a failed preview leaves nothing."""
    from qgen.bank import load_bank

    bank = load_bank(bank_path)
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise QgenError(f"--output={str(out_dir)!r} is a file, not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise QgenError(f"--output={str(out_dir)!r} exists; use --force to replace it")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise QgenError(f"--output={str(out_dir)!r}: folder {str(parent)!r} does not exist")
    katex = find_katex()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    try:
        title = title or f"{Path(bank_path).name} (seed {bank['seed']})"
        report = write_preview(bank, tmp / "page", title=title, katex=katex)
        if target.exists():  # empty, or --force: swap it out only once the new one is whole
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            target.rename(old / target.name)
            (tmp / "page").rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            (tmp / "page").rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.directory = target
    return report
