"""Check one student's work on a public bundle: what `grader check` and the student checker run.

Everything here reads the bundle's keys as data; nothing imports the answer key or the case
generator, so the student checker (`grader build-checker`) ships this module as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.outputs.bundle import Bundle
from grader.errors import UsageError, did_you_mean
from grader.models import SubmissionResult
from grader.stages.pipeline import grade_keys, needs_torch
from grader.sandbox import Sandbox
from grader.stages.source_locations import SourceLocation, locate
from grader.stages.submissions import load

BUNDLE_NAME = "public.json"

#: `grader check`'s exit statuses (README): all correct, something wrong, unusable input.
ALL_CORRECT, SOMETHING_WRONG, UNUSABLE = 0, 1, 2


@dataclass(frozen=True)
class CheckOutcome:
    """`grader check` of one repository: the result, the file graded, the mistakes' titles,
    and where each problem's function is defined (for annotations on the student's code)."""

    result: SubmissionResult
    graded_file: Path
    titles: dict[str, str]
    locations: dict[str, SourceLocation] = field(default_factory=dict)


def bundle_for(path: Path, embedded: Path | None = None) -> Path:
    """The bundle a check of PATH reads when none is named: public.json in the folder checked
    (or the checked file's folder), else the one built into the student checker."""
    local = (path if path.is_dir() else path.parent) / BUNDLE_NAME
    if not local.exists() and embedded is not None and embedded.is_file():
        return embedded
    return local


def selected(bundle: Bundle, only: Sequence[str]) -> Bundle:
    """The bundle's problems named in `only` (all when empty); manual items only with all."""
    if not only:
        return bundle
    ids = [key.problem_id for key in bundle.keys]
    for problem_id in only:
        if problem_id not in ids:
            raise UsageError(f"{problem_id}: {bundle.path} has no such problem",
                             hint=did_you_mean(problem_id, ids) or f"choose from {', '.join(ids)}")
    kept = [index for index, problem_id in enumerate(ids) if problem_id in only]
    return Bundle(title=bundle.title, policies=tuple(bundle.policies[i] for i in kept),
                  keys=tuple(bundle.keys[i] for i in kept), manual=(), limits=bundle.limits,
                  device=bundle.device, path=bundle.path)


def check_one(path: Path, bundle: Bundle, *, device: str = "cpu", only: Sequence[str] = ()) -> CheckOutcome:
    """Grade one student's work on the bundle's public cases (no answer key needed)."""
    bundle = selected(bundle, only)
    submission = load(path)
    # torch only when a problem or the code needs it: `check` starts fast, and a checker
    # installed without torch grades every problem but build_cnn.
    with Sandbox(bundle.limits, preload_torch=needs_torch(submission, bundle.keys), packages=bundle.packages) as sandbox:
        # Replay commands name the path as given (`grader check .` -> `grader replay . p3b ...`):
        # printed in CI, the runner's absolute path would not work in the student's clone.
        result = grade_keys(sandbox, submission, bundle.policies, bundle.keys, bundle.manual, device,
                            bundle=bundle.path, student=str(path))
    titles = {f"{key.problem_id}:{entry.id}": entry.title for key in bundle.keys for entry in key.catalog}
    locations = locate(submission, {key.problem_id: (key.function, *key.aliases) for key in bundle.keys})
    return CheckOutcome(result=result, graded_file=submission.entry or path, titles=titles, locations=locations)


def exit_status(result: SubmissionResult) -> int:
    """0 when every problem is right, 2 when the submission could not be read, else 1."""
    if result.error is not None and result.error.kind == "unreadable":
        return UNUSABLE
    all_correct = all(v.status == "correct" for v in result.verdicts) and result.error is None
    return ALL_CORRECT if all_correct else SOMETHING_WRONG
