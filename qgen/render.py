"""The Jinja environment: sandboxed, StrictUndefined, one set of templates per family
rendered in several dialects through the macros of ``templates/_dialects/<dialect>.j2``
(math, display, matrix, vector, table, bold)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import FunctionType, SimpleNamespace

import jinja2
from jinja2.environment import TemplateModule
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["DIALECTS", "latex_escape", "render", "templates_dir"]

DIALECTS = ("markdown", "latex", "html")
_BLANK_RUNS = re.compile(r"\n(?:[ \t]*\n){2,}")


def templates_dir() -> Path:
    """Installed: qgen/templates (pyproject maps the repository's templates/ there);
    from a source tree: the repository's templates/."""
    installed = Path(__file__).resolve().parent / "templates"
    if (installed / "_dialects").is_dir():
        return installed
    return Path(__file__).resolve().parents[1] / "templates"


def number(value, decimals: int | None = None) -> str:
    """A number as shown: with ``decimals`` fixed places, else the shortest form that
    reads back as the same float (params are rounded before they are shown)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if decimals is None:
        if isinstance(value, int) or float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    text = f"{float(value):.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")  # never show -0.000
    return text


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    # Characters T1 fonts would typeset otherwise: curly quotes for ' ` and ", and the
    # ligatures -- and --- (dashes), << and >> (guillemets), !` and ?` (inverted marks).
    "'": r"\textquotesingle{}", "`": r"\textasciigrave{}", '"': r"\textquotedbl{}",
    "-": "-{}",
    "\xad": r"\-",  # a soft hyphen: where a word may break, invisible otherwise
}


def _latex_char(ch: str) -> str:
    if ch in _LATEX_SPECIALS:
        return _LATEX_SPECIALS[ch]
    if ch in "\n\t\r":
        return " "
    if ch < " " or "\x7f" <= ch < "\xa0":
        return ""  # control characters have no glyph
    if ch > "\xff":
        # pdflatex with T1 fonts typesets Latin-1; beyond it, the code point is shown
        # instead of failing the compile.
        return f"\\texttt{{[U+{ord(ch):04X}]}}"
    return ch


def latex_escape(text: str) -> str:
    """Plain text for LaTeX, in one pass (so an escape is never escaped again)."""
    return "".join(_latex_char(ch) for ch in str(text))


def markdown_escape(text: str) -> str:
    """Plain text for Markdown: backslash the characters that could start markup or math
    anywhere in a line (CommonMark lets any ASCII punctuation be escaped)."""
    out = []
    for ch in str(text):
        if ch in "\\`*_{}[]<>#|$~":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def bmatrix(rows, decimals: int | None = None) -> str:
    """A LaTeX bmatrix of numbers (a vector becomes one row): the same in every dialect,
    since math is LaTeX in Markdown too."""
    if rows and not isinstance(rows[0], (list, tuple)):
        rows = [rows]
    body = r" \\ ".join(" & ".join(number(v, decimals) for v in row) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with one shortcut: ``x.name`` on a plain dict (the JSON data a
    template gets: params, answer, work) looks the key up first. A dict's items are
    data, never Python internals, so nothing the sandbox guards is reachable this way;
    and it skips the failed attribute lookup (an exception) that Jinja tries first."""

    def getattr(self, obj, attribute):
        kind = type(obj)
        if kind is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        elif (kind is SimpleNamespace or kind is TemplateModule) and attribute[:1] != "_":
            # The dialect namespaces (qgen.dialects) and imported template modules
            # export only our own functions and macros: public names need no screening.
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        return super().getattr(obj, attribute)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        # qgen.dialects' own functions (the dialect and layer-text helpers) are plain
        # string formatting: called directly, without the sandbox's generic screening.
        if type(__obj) is FunctionType and __obj.__module__ == "qgen.dialects":
            kwargs.pop("_block_vars", None)  # Jinja's bookkeeping, as Context.call drops
            kwargs.pop("_loop_vars", None)
            return __obj(*args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)


@functools.cache
def environment() -> SandboxedEnvironment:
    env = _Sandbox(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        # Installed templates do not change while qgen runs: skip the stat() per render.
        auto_reload=False,
    )
    env.filters["num"] = number
    env.filters["tex"] = latex_escape
    env.filters["mdesc"] = markdown_escape
    env.filters["bmatrix"] = bmatrix
    from qgen.dialects import DIALECT_FUNCTIONS, LAYER_TEXT

    env.globals["dialects"] = DIALECT_FUNCTIONS
    env.globals["layer_text"] = LAYER_TEXT
    return env


def render(template: str, dialect: str, **context) -> str:
    """Render ``template`` (a path under templates/) in ``dialect``; the template
    imports its macros with ``{% import dialect as d %}``."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect={dialect!r} must be one of {', '.join(DIALECTS)}")
    tpl = environment().get_template(template)
    text = tpl.render(dialect=f"_dialects/{dialect}.j2", **context)
    # Macros pad their blocks with blank lines so they stand alone wherever they are
    # called; one blank line between blocks is all either dialect needs.
    text = _BLANK_RUNS.sub("\n\n", text)
    if dialect == "html":
        text = _paragraphs(text)
    return text


_BLOCK_TAGS = ("<p", "<ul", "<ol", "<table", "<div", "<pre", "<h")


def _paragraphs(text: str) -> str:
    """HTML: prose separated by blank lines becomes <p> paragraphs; blocks stay as they are."""
    chunks = [c.strip() for c in text.split("\n\n") if c.strip()]
    return "\n".join(c if c.startswith(_BLOCK_TAGS) else f"<p>{c}</p>" for c in chunks) + "\n"
