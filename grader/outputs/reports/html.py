"""The HTML report: a class dashboard and one page per student, self-contained and escaped.

Student output is hostile (a `<script>` in stdout, an `onerror=` in a name), so autoescaping is
on for every template and the pages carry a Content-Security-Policy that forbids every network
fetch and every script but one: the dashboard's own table script, allowed by its SHA-256 hash
(a script injected through student text has another hash and does not run).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader.errors import GraderError
from grader.models import RunSummary, SubmissionResult
from grader.outputs.reports.formatting import written_out
from grader.outputs.reports.statistics import dashboard, student_file_name, titles_of
from grader.outputs.reports.student_view import student_page

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its extension: student text is hostile
        undefined=jinja2.StrictUndefined,  # a misspelt field is a grader bug, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=without_bidi_controls,
    )


#: Bidirectional overrides and isolates: "eve\u202egnp" shows as "evepng", so one student's id
#: (or text) could pass for another's on a page. Written out instead, as the terminal does.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def without_bidi_controls(value: object) -> object:
    """Every value a template prints, with bidi controls shown as \\uXXXX (numbers untouched).

    Markup stays Markup: `re.sub` returns a plain str, which autoescaping then escaped again, so
    the stylesheet reached the browser as `.charts &gt; div` and `&#34;Segoe UI&#34;` (the body
    fell back to a serif font). The escapes written in are ASCII without `<&>"'`, so wrapping
    the result back in Markup cannot open a tag."""
    if not isinstance(value, str) or BIDI_CONTROLS.search(value) is None:
        return value  # the common case, returned as it is: no copy of each page's 15 KB stylesheet
    if isinstance(value, Markup):
        return Markup(written_out(str(value), BIDI_CONTROLS))
    return written_out(value, BIDI_CONTROLS)


@lru_cache(maxsize=1)
def _css() -> Markup:
    return Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _table_script() -> Markup:
    return Markup((TEMPLATES / "student_table.js").read_text(encoding="utf-8"))


def script_source(script: str) -> Markup:
    """The CSP source that allows exactly this inline script: `'sha256-…'`."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return Markup(f"'sha256-{digest}'")


NO_SCRIPT = Markup("'none'")


def render_site(summary: RunSummary, out: Path, *, pages_written: Mapping[str, Path] | None = None) -> list[Path]:
    """Write out/index.html and out/students/ID.html; returns the files written.

    `pages_written`: student id -> the page `render_student_page` already wrote for this very
    result during the run (rendering again would give the same bytes)."""
    out = Path(out)
    pages_written = pages_written or {}
    index = out / "index.html"
    _make_folder(out / "students")
    index.write_text(
        _environment().get_template("index.html").render(
            board=dashboard(summary), css=_css(), script=_table_script(), script_source=script_source(_table_script())),
        encoding="utf-8",
    )
    titles = titles_of(summary)
    return [index] + [pages_written.get(result.student_id) or render_student_page(result, titles, out)
                      for result in summary.results]


def render_student_page(result: SubmissionResult, titles: Mapping[str, str], out: Path, *,
                        release: bool = False, display_name: str = "") -> Path:
    """Write out/students/ID.html for one student (the class dashboard is not needed);
    `release`: the copy `grader feedback` hands the student (no link to the dashboard)."""
    page = _make_folder(Path(out) / "students") / student_file_name(result.student_id)
    template = _environment().get_template("student.html")
    view = student_page(result, titles, release=release, display_name=display_name)
    page.write_text(template.render(page=view, css=_css(), script_source=NO_SCRIPT), encoding="utf-8")
    return page


def _make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        raise GraderError(f"{folder}: cannot create the report folder ({problem})",
                          hint="choose an --out folder you can write to") from problem
    return folder
