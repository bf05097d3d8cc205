"""Results in the formats other tools read: results.json, a CSV gradebook, Gradescope, and the
outputs of `grader check` (text for a person, JSON, JUnit XML, GitHub annotations and summary).
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from pathlib import Path

from grader.models import RunSummary, SubmissionResult, Verdict
from grader.outputs.reports.formatting import arguments_text, points, value_text, written_out
from grader.outputs.reports.serialize import result_to_data, summary_to_data
from grader.outputs.reports.statistics import misconception_title, student_file_name

NO_TITLES: Mapping[str, str] = {}


def write_results_json(summary: RunSummary, path: Path) -> Path:
    """results.json: strict JSON (no bare NaN), UTF-8, stable key order, one submission a line.

    One line per submission keeps the file greppable and diffable between runs, and lets
    json use its C encoder (an indented dump of 1,000 submissions takes seconds).
    """
    data = summary_to_data(summary)
    submissions = data.pop("submissions")
    fields = [f"  {json.dumps(name)}: {json.dumps(value, allow_nan=False, ensure_ascii=False)}"
              for name, value in data.items()]
    lines = [f"    {json.dumps(entry, allow_nan=False, ensure_ascii=False)}" for entry in submissions]
    body = ",\n".join(lines)
    text = "{\n" + "".join(field + ",\n" for field in fields) + f'  "submissions": [\n{body}\n  ]\n}}\n'
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _spreadsheet_safe(text: str) -> str:
    # CSV formula injection: a student folder named "=HYPERLINK(...)" would run as a formula
    # when the instructor opens grades.csv in a spreadsheet; a leading quote makes it text.
    # Control characters are written out: `cat grades.csv` must not set a clipboard (OSC 52).
    text = written_out(text, _CONTROLS)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _status(result: SubmissionResult) -> str:
    if result.error is not None and result.error.kind == "unreadable":
        return "unreadable"
    return f"late: {result.late_note}" if result.late_note else "graded"


def write_grades_csv(summary: RunSummary, path: Path) -> Path:
    """grades.csv: one row per student, one column per problem and manual item, total, max and
    status ("graded", "late: ...", "unreadable"; the roster's students with no submission last)."""
    problem_ids: list[str] = []
    manual_ids: list[str] = []
    for result in summary.results:
        problem_ids += [verdict.problem_id for verdict in result.verdicts if verdict.problem_id not in problem_ids]
        manual_ids += [item.item_id for item in result.manual if item.item_id not in manual_ids]
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", *problem_ids, *manual_ids, "total", "max", "status"])
        for result in summary.results:
            # A problem awaiting review is "review", not a 0 that looks like a grade.
            scores = {verdict.problem_id: "review" if verdict.status == "review" else points(verdict.score)
                      for verdict in result.verdicts}
            # An item awaiting a person is an empty cell, not a 0 that looks like a grade.
            scores |= {item.item_id: "" if item.score is None else points(item.score) for item in result.manual}
            writer.writerow([
                _spreadsheet_safe(result.student_id),
                *(scores.get(column, "") for column in problem_ids + manual_ids),
                points(result.total),
                points(result.max_score),
                _spreadsheet_safe(_status(result)),
            ])
        intake = summary.extra.get("intake")
        missing = intake.get("no_submission", []) if isinstance(intake, Mapping) else []
        maximum = points(max((result.max_score for result in summary.results), default=0.0))
        for student in missing:
            writer.writerow([_spreadsheet_safe(str(student)), *([""] * (len(problem_ids) + len(manual_ids))),
                             "", maximum, "no submission"])
    return Path(path)


def _verdict_lines(verdict: Verdict, titles: Mapping[str, str]) -> list[str]:
    """What a student should read about one problem: mistakes and fixes, explanation, a case."""
    lines = [
        f"{misconception_title(titles, verdict.problem_id, name)} [{name}]: {text}".rstrip(": ")
        for name, text in zip(verdict.misconceptions, list(verdict.feedback) + [""] * len(verdict.misconceptions))
    ]
    if verdict.explanation:
        lines.append(verdict.explanation)
    if verdict.error is not None:
        lines.append(f"{verdict.error.kind}: {verdict.error.message}")
    if verdict.function is None and verdict.status == "missing":
        lines.append("no function with this name (or an alias) was found")
    if verdict.failing:
        case = verdict.failing[0]
        lines.append(
            f"failing case: {arguments_text(case.arguments)} → expected {value_text(case.expected)}, "
            f"got {value_text(case.got)}"
        )
        lines.append(f"replay: {case.replay}")
    lines += list(verdict.notes)
    return lines


def write_gradescope(summary: RunSummary, folder: Path, titles: Mapping[str, str] | None = None) -> list[Path]:
    """gradescope/ID.json per student, in Gradescope's autograder results format."""
    return [write_gradescope_file(result, folder, titles) for result in summary.results]


def write_gradescope_file(result: SubmissionResult, folder: Path, titles: Mapping[str, str] | None = None) -> Path:
    """One student's gradescope/ID.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    titles = NO_TITLES if titles is None else titles
    tests = [
        {
            "name": f"{verdict.problem_id}: {verdict.title}",
            "score": verdict.score,
            "max_score": verdict.max_score,
            "status": "passed" if verdict.status == "correct" else "failed",
            "output": "\n".join([f"{verdict.status}, {verdict.passed} of {verdict.total} cases passed",
                                 *_verdict_lines(verdict, titles)]),
            "visibility": "visible",
        }
        for verdict in result.verdicts
        if verdict.status != "review"  # not yet a grade: a person decides
    ]
    tests += [
        {"name": f"{item.item_id}: {item.title}", "score": item.score, "max_score": item.max_score,
         "status": "passed" if item.score == item.max_score else "failed", "output": item.comment,
         "visibility": "visible"}
        for item in result.manual
        if item.score is not None  # an item awaiting a person is not yet a grade
    ]
    pending = [item.item_id for item in result.manual if item.score is None]
    pending += [f"{verdict.problem_id} (a written formula needs review)" for verdict in result.verdicts if verdict.status == "review"]
    output = f"Awaiting a person: {', '.join(pending)}." if pending else ""
    if result.error is not None:
        output = f"{result.error.kind}: {result.error.message}\n{output}".strip()
    data = {"score": result.total, "output": output, "tests": tests}
    path = folder / (student_file_name(result.student_id).removesuffix(".html") + ".json")
    # No indent: an indented dump runs json's pure-Python encoder, 0.8 s for 1,000 students.
    path.write_text(json.dumps(data, allow_nan=False, ensure_ascii=False), encoding="utf-8")
    return path


def check_text(result: SubmissionResult, titles: Mapping[str, str] | None = None) -> str:
    """`grader check`'s report for a person: ✓/✗ per problem and what to fix."""
    titles = NO_TITLES if titles is None else titles
    lines = [f"{result.student_id}: {points(result.total)} / {points(result.max_score)} points"]
    if result.error is not None:
        lines.append(f"  ✗ the submission could not be graded: {result.error.kind}: {result.error.message}")
    for verdict in result.verdicts:
        mark = {"correct": "✓", "review": "?"}.get(verdict.status, "✗")
        cases = f", {verdict.passed}/{verdict.total} cases" if verdict.total else ""
        lines.append(
            f"{mark} {verdict.problem_id} {verdict.title}: {verdict.status}, "
            f"{points(verdict.score)}/{points(verdict.max_score)}{cases}"
        )
        lines += [f"    {line}" for line in _verdict_lines(verdict, titles)]
    for item in result.manual:
        awarded = "awaiting a person" if item.score is None else f"{points(item.score)}/{points(item.max_score)}"
        lines.append(f"• {item.item_id} {item.title}: {awarded}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def check_json(result: SubmissionResult) -> str:
    """`grader check --format json`: the submission's results.json entry."""
    return json.dumps(result_to_data(result), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


#: Characters XML 1.0 forbids even escaped; a student printing "\x00" must not break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(result: SubmissionResult, titles: Mapping[str, str] | None = None) -> str:
    """JUnit XML: one testsuite per submission, one testcase per problem, failures with messages."""
    titles = NO_TITLES if titles is None else titles
    failures = sum(1 for verdict in result.verdicts if verdict.status in ("partial", "incorrect", "missing"))
    errors = sum(1 for verdict in result.verdicts if verdict.status == "error")
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(suites, "testsuite", {
        "name": _xml_text(result.student_id), "tests": str(len(result.verdicts)),
        "failures": str(failures), "errors": str(errors),
        "skipped": str(sum(1 for verdict in result.verdicts if verdict.status == "review")),
    })
    for verdict in result.verdicts:
        case = ElementTree.SubElement(suite, "testcase", {
            "classname": "grader", "name": _xml_text(f"{verdict.problem_id} {verdict.title}"),
        })
        if verdict.status == "correct":
            continue
        if verdict.status == "review":
            ElementTree.SubElement(case, "skipped", {"message": _xml_text(verdict.explanation or "needs review")})
            continue
        element = "error" if verdict.status == "error" else "failure"
        details = _verdict_lines(verdict, titles)
        summary = details[0] if details else verdict.status
        failure = ElementTree.SubElement(case, element, {
            "message": _xml_text(f"{verdict.status}: {summary}"), "type": verdict.status,
        })
        failure.text = _xml_text("\n".join(details))
    if result.stdout or result.stderr:
        ElementTree.SubElement(suite, "system-out").text = _xml_text(result.stdout)
        ElementTree.SubElement(suite, "system-err").text = _xml_text(result.stderr)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command rules (actions/toolkit, command.ts escapeData).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # Property values additionally escape ':' and ',' (command.ts escapeProperty).
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


#: problem id -> (file, line or None, notebook cell or None): where its function is defined.
Places = Mapping[str, tuple[str, "int | None", "str | None"]]


def _place(source_path: str, place: tuple[str, int | None, str | None] | None) -> str:
    """`file=...,line=...`: GitHub shows the annotation on that line of the student's code."""
    if place is None:
        return f"file={_escape_property(source_path)}"
    file, line, _ = place
    return f"file={_escape_property(file)}" + (f",line={line}" if line is not None else "")


def github_annotations(result: SubmissionResult, source_path: str, titles: Mapping[str, str] | None = None,
                       places: Places | None = None) -> str:
    """GitHub Actions workflow commands: ::error per wrong problem, ::notice per correct one, each
    at the line that defines the problem's function when `places` knows it."""
    titles = NO_TITLES if titles is None else titles
    places = {} if places is None else places
    lines = []
    if result.error is not None:
        lines.append(
            f"::error file={_escape_property(source_path)},title={_escape_property('submission unreadable')}"
            f"::{_escape_data(f'{result.error.kind}: {result.error.message}')}"
        )
    for verdict in result.verdicts:
        command = "notice" if verdict.status == "correct" else "error"
        place = places.get(verdict.problem_id)
        cell = f" ({place[2]})" if place is not None and place[2] else ""
        title = f"{verdict.problem_id} {verdict.title}{cell}: {verdict.status}"
        message = "\n".join(_verdict_lines(verdict, titles)) or (
            f"{verdict.passed} of {verdict.total} cases passed, "
            f"{points(verdict.score)}/{points(verdict.max_score)}"
        )
        lines.append(
            f"::{command} {_place(source_path, place)},title={_escape_property(title)}"
            f"::{_escape_data(message)}"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    # A student's text in a Markdown table: a '|' would split the cell, '<' could open HTML.
    escaped = text.replace("\\", "\\\\").replace("|", "\\|")
    return escaped.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def job_summary_markdown(result: SubmissionResult, titles: Mapping[str, str] | None = None) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: a table of problems, then what to fix."""
    titles = NO_TITLES if titles is None else titles
    lines = [
        f"## grader check: {points(result.total)} / {points(result.max_score)} points",
        "",
        "| | Problem | Status | Points | Cases |",
        "|---|---|---|---:|---:|",
    ]
    for verdict in result.verdicts:
        mark = "✅" if verdict.status == "correct" else "❌"
        lines.append(
            f"| {mark} | {_cell(verdict.problem_id)} {_cell(verdict.title)} | {verdict.status} | "
            f"{points(verdict.score)} / {points(verdict.max_score)} | {verdict.passed} / {verdict.total} |"
        )
    for verdict in result.verdicts:
        details = _verdict_lines(verdict, titles)
        if verdict.status != "correct" and details:
            lines += ["", f"### {_cell(verdict.problem_id)} {_cell(verdict.title)}", ""]
            lines += [f"- {_cell(line)}" for line in details]
    if result.error is not None:
        lines += ["", f"**The submission could not be graded:** {_cell(result.error.message)}"]
    return "\n".join(lines) + "\n"
