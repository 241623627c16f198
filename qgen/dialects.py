"""The dialects templates render through: Markdown (Pandoc/GitHub ``$...$`` math, pipe
tables) and LaTeX (``\\( \\)`` and ``\\[ \\]``, tabular).

Templates import them as macros (``{% import dialect as d %}`` then ``d.math(...)``);
``templates/_dialects/<name>.j2`` binds each macro to a method here, because a Python
call costs a fraction of a Jinja macro call and a bank renders thousands of them.
Math content is LaTeX in both dialects; plain text is escaped by ``d.text``.
"""

from __future__ import annotations

from types import SimpleNamespace

__all__ = ["DIALECT_FUNCTIONS", "LAYER_TEXT", "Html", "Latex", "Markdown"]


def _block(text: str) -> str:
    """A block stands alone: blank lines around it, whatever surrounds the call."""
    return f"\n\n{text}\n\n"


class Markdown:
    name = "markdown"

    @staticmethod
    def math(expr) -> str:
        return f"${expr}$"

    @staticmethod
    def display(expr) -> str:
        return _block(f"$$\n{expr}\n$$")

    @staticmethod
    def bold(text) -> str:
        return f"**{text}**"

    @staticmethod
    def heading(text) -> str:
        return _block(f"**{text}**")

    @staticmethod
    def item(text) -> str:
        return f"- {text}\n"

    @staticmethod
    def itemize(items) -> str:
        return _block("\n".join(f"- {it}" for it in items))

    @staticmethod
    def options(choices) -> str:
        return _block("\n".join(f"- **{c['label']}.** {c['text']}" for c in choices))

    @staticmethod
    def table(header, rows) -> str:
        lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
        return _block("\n".join(lines))

    @staticmethod
    def text(value) -> str:
        from qgen.render import markdown_escape

        return markdown_escape(value)


class Latex:
    name = "latex"

    @staticmethod
    def math(expr) -> str:
        return f"\\({expr}\\)"

    @staticmethod
    def display(expr) -> str:
        return _block(f"\\[\n{expr}\n\\]")

    @staticmethod
    def bold(text) -> str:
        return f"\\textbf{{{text}}}"

    @staticmethod
    def heading(text) -> str:
        return _block(f"\\paragraph{{{text}}}")

    @staticmethod
    def item(text) -> str:
        return f"\\item {text}\n"

    @staticmethod
    def itemize(items) -> str:
        body = "\n".join(f"\\item {it}" for it in items)
        return _block(f"\\begin{{itemize}}\n{body}\n\\end{{itemize}}")

    @staticmethod
    def options(choices) -> str:
        body = "\n".join(f"\\item[{c['label']}.] {c['text']}" for c in choices)
        return _block(f"\\begin{{itemize}}\n{body}\n\\end{{itemize}}")

    @staticmethod
    def table(header, rows) -> str:
        lines = [" & ".join(map(str, header)) + r" \\", r"\hline"]
        lines += [" & ".join(map(str, row)) + r" \\" for row in rows]
        body = "\n".join(lines)
        return _block(f"\\begin{{center}}\n\\begin{{tabular}}{{{'l' * len(header)}}}\n"
                      f"{body}\n\\end{{tabular}}\n\\end{{center}}")

    @staticmethod
    def text(value) -> str:
        from qgen.render import latex_escape

        return latex_escape(value)


class Html:
    """HTML for LMS exports and the preview: math stays LaTeX between \\( \\) and
    \\[ \\] (MathJax/KaTeX read it), escaped for HTML."""

    name = "html"

    @staticmethod
    def math(expr) -> str:
        return f"\\({_html(expr)}\\)"

    @staticmethod
    def display(expr) -> str:
        return _block(f"<p>\\[{_html(expr)}\\]</p>")

    @staticmethod
    def bold(text) -> str:
        return f"<strong>{text}</strong>"

    @staticmethod
    def heading(text) -> str:
        return _block(f"<p><strong>{text}</strong></p>")

    @staticmethod
    def item(text) -> str:
        return f"<li>{text}</li>\n"

    @staticmethod
    def itemize(items) -> str:
        body = "\n".join(f"<li>{it}</li>" for it in items)
        return _block(f"<ul>\n{body}\n</ul>")

    @staticmethod
    def options(choices) -> str:
        body = "\n".join(f"<li><strong>{c['label']}.</strong> {c['text']}</li>"
                         for c in choices)
        return _block(f'<ul class="choices">\n{body}\n</ul>')

    @staticmethod
    def table(header, rows) -> str:
        head = "".join(f"<th>{h}</th>" for h in header)
        body = "\n".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
                         for row in rows)
        return _block(f"<table>\n<tr>{head}</tr>\n{body}\n</table>")

    @staticmethod
    def text(value) -> str:
        return _html(value)


def _html(text) -> str:
    from html import escape

    return escape(str(text), quote=False)


def _pair(v) -> str:
    """A kernel or window as 'h \\times w' (an int is square)."""
    h, w = (v[0], v[1]) if isinstance(v, (list, tuple)) else (v, v)
    return f"{h} \\times {w}"


def _scalar(v) -> str:
    """A stride, padding or dilation: the int, or '(h, w)' when the axes differ."""
    if isinstance(v, (list, tuple)):
        return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"
    return str(v)


def _shape(s) -> str:
    """A tensor shape as 'H \\times W \\times C'."""
    return " \\times ".join(str(v) for v in s)


# Shared by the layer-description macros (templates/_common/layers.j2).
LAYER_TEXT = SimpleNamespace(pair=_pair, scalar=_scalar, shape=_shape)

# What the templates may call: a namespace per dialect, exposed as the Jinja global
# `dialects` (the sandbox lets templates call these, nothing else of this module).
DIALECT_FUNCTIONS = SimpleNamespace(
    markdown=SimpleNamespace(**{n: getattr(Markdown, n) for n in (
        "math", "display", "bold", "heading", "item", "itemize", "options", "table", "text")}),
    latex=SimpleNamespace(**{n: getattr(Latex, n) for n in (
        "math", "display", "bold", "heading", "item", "itemize", "options", "table", "text")}),
    html=SimpleNamespace(**{n: getattr(Html, n) for n in (
        "math", "display", "bold", "heading", "item", "itemize", "options", "table", "text")}),
)
