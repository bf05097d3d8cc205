"""Score: the rubric's policy turns a check and a diagnosis into a `Verdict` (points, status, cases).

Nothing about points is decided here: full credit, deductions, unexplained and error credit,
and the note credit all come from the `ProblemRubric`.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import replace
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from grader.stages.checking import ResourceStop, digit_count, precision_note, resource_kind, resource_stop
from grader.stages.diagnosis_templates import TEMPLATES, describe_stop
from grader.errors import RubricError, UsageError
from grader.models import (Case, CaseCheck, Diagnosis, ExecutionError, FailingCase, ManualItem,
                           ProblemCheck, ProblemKey, ProblemOutcome, Status, UNSCORED_TAGS, Value, Verdict)
from grader.rubric import ManualRubric, ProblemRubric

#: How many failing cases a verdict shows; more teaches nothing a student can act on.
MAX_FAILING = 5

#: A markdown heading line: its level (number of #) and its text, with any closing #s still on
#: (stripped after the match: a lazy `(.*?)[ \t#]*$` took quadratic time on a student's line of
#: 100,000 spaces, ~20 hours at the 5 MB file limit, in the grader's process).
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")


def plain(value: object) -> object:
    """A value as JSON-ready data: arrays and tuples become lists; NaN and inf become strings.

    Strict JSON has no NaN; a report must still show that the student returned one.
    """
    kind = type(value)
    if kind is int or kind is str:  # first: a report's arrays are thousands of these
        return value
    if kind is float:
        return value if math.isfinite(value) else plain_non_finite(value)  # type: ignore[arg-type]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(name): plain(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else plain_non_finite(number)
    return value


def plain_non_finite(number: float) -> str:
    """NaN and the infinities as the strings a report shows."""
    if math.isnan(number):
        return "NaN"
    return "Infinity" if number > 0 else "-Infinity"


def replay_command(student: str | Path, problem_id: str, arguments: Mapping[str, object],
                   bundle: str | None = None) -> str:
    """One shell command that reruns a case: `grader replay PATH PROBLEM --args 'JSON'`."""
    payload = json.dumps(plain(arguments), separators=(", ", ": "))
    command = f"grader replay {shlex.quote(str(student))} {shlex.quote(problem_id)} --args {shlex.quote(payload)}"
    # Graded from a public bundle (`grader check`): replay against the same bundle, not against
    # whatever rubric happens to be installed.
    return command + (f" --bundle {shlex.quote(bundle)}" if bundle else "")


#: Numbers of one array a report keeps. A student may return 6 million of them (under the
#: protocol's caps) on every case: kept whole, two such students took the grader to 16.7 GB and
#: wrote a 750 MB results.json. A report shows 400 characters of a value anyway.
MAX_SHOWN_ELEMENTS = 10_000
SHOWN_HEAD = 20


def shown(value: object) -> object:
    """`plain(value)`, with an array over `MAX_SHOWN_ELEMENTS` numbers, or an integer over 100
    digits (json cannot write one of 4,300), summed up in words."""
    if isinstance(value, np.ndarray) and value.size > MAX_SHOWN_ELEMENTS:
        head = ", ".join(str(plain(float(number))) for number in value.ravel()[:SHOWN_HEAD])
        return f"array of shape {tuple(value.shape)}, {value.size:,} numbers: [{head}, ...]"
    if type(value) is int and abs(value) >= 10**100:
        return f"an integer of {digit_count(value):,} digits"
    if isinstance(value, Mapping):  # a module's report: its count may be 10**4290 too
        return {str(name): shown(item) for name, item in value.items()}
    return plain(value)


def _got(case_check: CaseCheck) -> object:
    """What the student gave back, for a report: the value, or the failure in words."""
    error = case_check.error
    kind = resource_kind(error)
    if kind is not None:
        # The case's size, not "RuntimeError: DefaultCPUAllocator: can't allocate memory".
        text = describe_stop(case_check, kind)
        return text[:1].upper() + text[1:]
    if error is not None:
        return error.described
    return shown(case_check.got)


def failing_cases(key: ProblemKey, check: ProblemCheck, student: str,
                  shrunk: tuple[Case, Value, Value] | None, bundle: str | None = None) -> tuple[FailingCase, ...]:
    """Up to `MAX_FAILING` failing cases, the shrunk one first when the pipeline found one."""
    found: list[FailingCase] = []
    if shrunk is not None:
        case, expected, got = shrunk
        found.append(FailingCase(plain(case.arguments), shown(expected), shown(got), case.tag,  # type: ignore[arg-type]
                                 replay_command(student, key.problem_id, case.arguments, bundle), shrunk=True))
    for case_check in check.checks:
        if len(found) >= MAX_FAILING:
            break
        if case_check.passed or case_check.case.tag in UNSCORED_TAGS:
            continue
        arguments = case_check.case.arguments
        found.append(FailingCase(plain(arguments), shown(case_check.expected), _got(case_check),  # type: ignore[arg-type]
                                 case_check.case.tag, replay_command(student, key.problem_id, arguments, bundle)))
    return tuple(found)


def _deduction(problem_rubric: ProblemRubric, misconception_id: str) -> float:
    policy = problem_rubric.misconceptions.get(misconception_id)
    if policy is None:
        raise RubricError("rubric", f"problems.{problem_rubric.problem_id}.misconceptions.{misconception_id}",
                          "no deduction is set for this catalogued misconception",
                          hint=f'add `"{misconception_id}" = {{ deduction = 0.25 }}` to the problem\'s misconceptions')
    return policy.deduction


def _status(score: float) -> Status:
    return "partial" if score > 0 else "incorrect"


def score(problem_rubric: ProblemRubric, key: ProblemKey, check: ProblemCheck, diagnosis: Diagnosis,
          outcome: ProblemOutcome, *, shrunk: tuple[Case, Value, Value] | None = None,
          student: str = "SUBMISSION", bundle: str | None = None) -> Verdict:
    """The verdict of one problem under the rubric's policy."""
    points = problem_rubric.points
    scored = [c for c in check.checks if c.case.tag not in UNSCORED_TAGS]
    passed, total = check.passed, check.total
    notes = tuple(dict.fromkeys(r.note for r in outcome.results if r.note))
    common = dict(problem_id=key.problem_id, title=key.title, max_score=points,
                  function=outcome.function_used, passed=passed, total=total)
    if outcome.function_used is None and (outcome.error is None or outcome.error.kind == "exception"):
        # Not found: no error record (nothing failed to run), the sandbox's words explain.
        explanation = outcome.error.message if outcome.error is not None else ""
        return Verdict(status="missing", score=0.0, explanation=explanation, **common)  # type: ignore[arg-type]
    stop = resource_stop(check, outcome)
    if stop is not None:
        return _resource_verdict(problem_rubric, key, check, stop, outcome, notes, common, student, bundle)
    problem_error = outcome.error or _every_case_failed(scored)
    if problem_error is not None:
        return Verdict(status="error", score=points * problem_rubric.error_credit, error=problem_error,
                       explanation=diagnosis.explanation, notes=notes, cluster_key=diagnosis.cluster_key,
                       failing=failing_cases(key, check, student, None, bundle), **common)  # type: ignore[arg-type]
    if passed == total:
        check_notes = tuple(dict.fromkeys(c.note for c in scored if c.note))
        credit = problem_rubric.note_credit if check_notes else 1.0
        # The precision note costs nothing: the rubric's precision accepted the answer.
        accepted = tuple(filter(None, (precision_note(key, check),)))
        return Verdict(status="correct", score=points * credit, notes=check_notes + accepted + notes,
                       **common)  # type: ignore[arg-type]
    failing = failing_cases(key, check, student, shrunk, bundle)
    if diagnosis.misconceptions:
        deductions = sum(_deduction(problem_rubric, identifier) for identifier in diagnosis.misconceptions)
        value = points * max(0.0, 1.0 - deductions)
        feedback = tuple(key.entry(identifier).feedback for identifier in diagnosis.misconceptions)
        return Verdict(status=_status(value), score=value, misconceptions=diagnosis.misconceptions,
                       explanation=diagnosis.explanation, feedback=feedback, failing=failing,
                       notes=notes, **common)  # type: ignore[arg-type]
    value = points * problem_rubric.unexplained_credit * (passed / total if total else 0.0)
    return Verdict(status=_status(value), score=value, explanation=diagnosis.explanation,
                   failing=failing, notes=notes, cluster_key=diagnosis.cluster_key, **common)  # type: ignore[arg-type]


def how_found(problem_rubric: ProblemRubric, key: ProblemKey, outcome: ProblemOutcome, verdict: Verdict) -> Verdict:
    """The verdict with a note, and the rubric's deduction, for a function graded under a near
    name (`softmax_fn`) or imported rather than written (scipy's softmax)."""
    used = outcome.function_used
    if used is None or verdict.status == "missing" or not (outcome.near_name or outcome.imported_from):
        return verdict
    notes, deduction = [], 0.0
    if outcome.near_name:
        others = f"; also close: {', '.join(outcome.other_candidates)}" if outcome.other_candidates else ""
        notes.append(f"graded {used}() as {key.function}(): no function has the asked-for name and {used} is "
                     f"close to it{others}")
        deduction += problem_rubric.near_name_deduction
    if outcome.imported_from:
        notes.append(f"{used} is {outcome.imported_from}, imported, not written by the student; it was graded "
                     "as their answer")
        deduction += problem_rubric.imported_deduction
    taken = min(verdict.score, problem_rubric.points * deduction)
    if taken > 0:
        notes[-1] += f" (-{taken:g} points under the rubric)"
    return replace(verdict, score=verdict.score - taken, notes=tuple(notes) + verdict.notes)


def _resource_verdict(problem_rubric: ProblemRubric, key: ProblemKey, check: ProblemCheck, stop: ResourceStop,
                      outcome: ProblemOutcome, notes: tuple[str, ...], common: Mapping[str, object],
                      student: str, bundle: str | None) -> Verdict:
    """Right wherever it finished, stopped by memory or time on its largest case(s): partial
    credit under `resource_credit`, with the size that made the case expensive."""
    if not stop.stopped and not stop.unrun:  # stopped on an unscored probe: every scored case passed
        return Verdict(status="correct", score=problem_rubric.points, notes=notes, **common)  # type: ignore[arg-type]
    total = check.total
    ran = total - stop.unrun
    value = problem_rubric.points * problem_rubric.resource_credit * (ran / total if total else 0.0)
    sentences = [TEMPLATES["resource_stop"].format(stops="; ".join(describe_stop(c, stop.kind) for c in stop.stopped[:2]))]
    if stop.unrun:
        sentences.append(TEMPLATES["resource_unrun_one" if stop.unrun == 1 else "resource_unrun"].format(count=stop.unrun))
    if key.kind == "count":
        sentences.append(TEMPLATES["resource_count_advice"])
    return Verdict(status=_status(value), score=value, explanation=" ".join(sentences), notes=notes,
                   failing=failing_cases(key, check, student, None, bundle), **common)  # type: ignore[arg-type]


def _every_case_failed(scored: Sequence[CaseCheck]) -> ExecutionError | None:
    """When no case produced a value, the function is broken as a whole: an error verdict."""
    if scored and all(c.error is not None for c in scored):
        return scored[0].error
    return None


# --------------------------------------------------------------------------- manual items


def find_section(heading: str, texts: Sequence[str]) -> str:
    """The student's section whose heading matches `heading` (a regex, case-insensitive).

    The section runs to the next heading of the same or a higher level; headings inside code
    fences do not count (a `# comment` in a code block is no heading).
    """
    pattern = re.compile(heading, re.IGNORECASE)
    lines = "\n\n".join(texts).splitlines()
    start: int | None = None
    level = 0
    in_fence = False
    for number, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match is None:
            continue
        if start is None:
            # The first 200 characters: a heading is short, and an instructor's pattern such
            # as `3\s*[.(]?\s*a` backtracks quadratically on a student's 100,000 spaces.
            if pattern.search(match.group(2).rstrip(" \t#")[:200]):
                start, level = number, len(match.group(1))
        elif len(match.group(1)) <= level:
            return "\n".join(lines[start:number]).strip()
    return "\n".join(lines[start:]).strip() if start is not None else ""


def score_manual(manual_rubric: ManualRubric, texts: Sequence[str], awarded: float | None,
                 comment: str) -> ManualItem:
    """A manual item with the student's own text beside it; points only once a person awards them."""
    if awarded is not None and not 0.0 <= awarded <= manual_rubric.points:
        raise UsageError(f"{manual_rubric.item_id}: {awarded} points awarded, but the item is worth "
                         f"0 to {manual_rubric.points}",
                         hint="award a number of points within the item's range")
    return ManualItem(item_id=manual_rubric.item_id, title=manual_rubric.title,
                      max_score=manual_rubric.points, score=awarded, comment=comment,
                      student_text=capped_text(find_section(manual_rubric.heading, texts)))


#: Characters of a student's written answer a report keeps: a proof is a page or two, and four
#: 5 MB markdown files under one heading made a 30 MB results.json and a 20 MB page.
MAX_STUDENT_TEXT = 20_000


def capped_text(text: str) -> str:
    """`text` up to `MAX_STUDENT_TEXT` characters, saying how many more there were."""
    if len(text) <= MAX_STUDENT_TEXT:
        return text
    return text[:MAX_STUDENT_TEXT] + f"\n\n[... {len(text) - MAX_STUDENT_TEXT:,} more characters not shown]"
