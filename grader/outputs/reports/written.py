"""A student's written answer as safe HTML: Markdown, with its LaTeX math as MathML, offline.

Student text is hostile twice over. Markdown may carry HTML, and latex2mathml copies `\\text{}`
into its output unescaped (`\\text{<script>…}` came out as a script element). So markdown-it
escapes raw HTML, each formula is bounded in size and nesting before conversion, an answer has a
time budget, and the finished fragment passes through Ammonia's allowlist (nh3), MathML included.
A formula that fails is shown as its escaped source; an answer too long is shown as plain text.
No stylesheet, font or script is fetched: browsers draw MathML themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import nh3
from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from mdit_py_plugins.dollarmath import dollarmath_plugin

#: Longer answers are shown as plain text (the write-up's longest proof is ~3,000 characters).
MAX_TEXT = 20_000
#: A formula longer or deeper than this is shown as source: latex2mathml recurses per group, and
#: "{" * 3000 ran into Python's recursion limit.
MAX_FORMULA = 1_000
MAX_NESTING = 24
MAX_FORMULAS = 300
#: Converting stops (the rest shown as source) once one answer has taken this long.
TIME_BUDGET_SECONDS = 1.0

_TEXT_TAGS = {"p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
              "h1", "h2", "h3", "h4", "h5", "h6", "span", "div"}
_MATH_TAGS = {"math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace",
              "msub", "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts",
              "mprescripts", "none", "mfrac", "msqrt", "mroot", "mstyle", "mpadded", "mphantom",
              "menclose", "merror", "mtable", "mtr", "mtd"}
_MATH_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
                    "displaystyle", "scriptlevel", "accent", "accentunder", "columnalign",
                    "columnspacing", "rowspacing", "linethickness", "width", "height", "depth",
                    "form", "largeop", "movablelimits", "symmetric", "minsize", "maxsize", "notation"}
_ATTRIBUTES = {tag: _MATH_ATTRIBUTES for tag in _MATH_TAGS} | {"ol": {"start"}}
_CLASSES = {"span": {"math", "inline", "tex"}, "div": {"math", "block"}, "code": {"tex"}}


def _nesting(source: str) -> int:
    depth = deepest = 0
    for character in source:
        if character == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif character == "}":
            depth -= 1
    return deepest


class _Formulas:
    """Converts one answer's formulas within its bounds; the rest come back as escaped source."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.deadline = clock() + TIME_BUDGET_SECONDS
        self.converted = 0
        self.out_of_time = False  # a formula was shown as source for the clock's sake alone

    def __call__(self, source: str, options: Mapping[str, Any]) -> str:
        display = "block" if options.get("display_mode") else "inline"
        if len(source) > MAX_FORMULA or _nesting(source) > MAX_NESTING or self.converted >= MAX_FORMULAS:
            return self.source(source)
        if self.clock() > self.deadline:
            self.out_of_time = True
            return self.source(source)
        self.converted += 1
        try:
            return convert(source.strip(), display=display)
        except Exception:  # noqa: BLE001 - any parse error of student LaTeX shows the source instead
            return self.source(source)

    @staticmethod
    def source(source: str) -> str:
        return f'<code class="tex">{escape(source)}</code>'


#: The formulas of the answer being rendered: one parser serves every answer (building one
#: per answer cost a millisecond), each answer with its own count and time budget.
_CURRENT: ContextVar[_Formulas] = ContextVar("written_answer_formulas")


def _formula(source: str, options: Mapping[str, Any]) -> str:
    return _CURRENT.get()(source, options)


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    """One allowlist for every answer: `nh3.clean` built Ammonia's sanitizer from these sets on
    each call (0.11 ms an answer; a built Cleaner takes 0.003 ms)."""
    return nh3.Cleaner(tags=_TEXT_TAGS | _MATH_TAGS, attributes=_ATTRIBUTES, allowed_classes=_CLASSES,
                       strip_comments=True)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False}).disable("image")  # an image is a fetch
    return parser.use(dollarmath_plugin, renderer=_formula, double_inline=True, allow_labels=False)


#: Answers already rendered, by text: a class's answers repeat (the notebook's own placeholder,
#: a shared draft), and one answer took 0.2 ms of the command's CPU. Bounded, texts included.
_RENDERED: dict[str, Markup] = {}
RENDERED_KEPT = 256


def written_answer_html(text: str, *, clock: Callable[[], float] = time.monotonic) -> Markup:
    """`text` (Markdown with $…$ and $$…$$ math) as sanitized HTML with MathML."""
    if len(text) > MAX_TEXT:
        return Markup('<p class="plain-text">{}</p>').format(text)
    remembered = clock is time.monotonic  # a test's own clock renders afresh
    rendered = _RENDERED.get(text) if remembered else None
    if rendered is not None:
        return rendered
    formulas = _Formulas(clock)
    token = _CURRENT.set(formulas)
    try:
        html = _parser().render(text)
    except Exception:  # noqa: BLE001 - a parser bug on hostile text costs the rendering, not the page
        return Markup('<p class="plain-text">{}</p>').format(text)
    finally:
        _CURRENT.reset(token)
    rendered = Markup(_cleaner().clean(html))
    if remembered and not formulas.out_of_time:  # what a slow moment cut short is not the answer's rendering
        if len(_RENDERED) >= RENDERED_KEPT:
            del _RENDERED[next(iter(_RENDERED))]
        _RENDERED[text] = rendered
    return rendered
