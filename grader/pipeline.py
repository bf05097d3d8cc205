"""The stages in order: load, generate cases, execute, check, diagnose, shrink, score.

`Grader` grades one submission at a time with its own sandbox; `grade_keys` is the part
shared by `grader run` (keys drawn per student from the reference) and `grader check` (keys
read from a public bundle), so both commands reach a verdict by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader import cases, checking, diagnosis, scoring
from grader.models import (
    CallPlan, Case, ExecutionError, ExecutionReport, Limits, ManualItem, ProblemCheck, ProblemKey,
    Submission, SubmissionResult, Verdict,
)
from grader.rubric import ManualRubric, ProblemRubric, Rubric, load_rubric
from grader.sandbox import Sandbox
from grader.submissions import load

#: Rounds of shrinking a failing case; each round is one more sandbox call for that student.
SHRINK_ROUNDS = 2


@dataclass(frozen=True)
class Settings:
    """How to grade: plain, picklable data shared by every worker of a run."""

    rubric_path: Path
    limits: Limits | None = None  # None: the rubric's
    device: str = "auto"
    seed: int | None = None  # None: the rubric's
    only: tuple[str, ...] = ()  # problem ids to grade; empty: all
    hidden_paths: tuple[Path, ...] = ()  # folders the sandbox hides from students


def resolve_device(device: str) -> str:
    """'auto' means CUDA when this machine has it."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def call_plans(keys: Sequence[ProblemKey], device: str) -> list[CallPlan]:
    """What the sandbox must call: each problem's function (or an alias) on each of its cases."""
    return [
        CallPlan(
            problem_id=key.problem_id,
            names=(key.function, *key.aliases),
            parameters=tuple(parameter.name for parameter in key.parameters),
            cases=tuple(case.arguments for case in key.cases),
            call="torch-module" if key.kind == "module" else "function",
            device=device,
        )
        for key in keys
    ]


def unreadable_result(submission: Submission, policies: Sequence[ProblemRubric],
                      keys: Sequence[ProblemKey], manual: Sequence[ManualRubric],
                      error: ExecutionError) -> SubmissionResult:
    """A submission whose code never ran: every problem is an error with the same cause."""
    verdicts = tuple(
        Verdict(problem_id=key.problem_id, title=key.title, status="error",
                score=policy.points * policy.error_credit, max_score=policy.points,
                function=None, error=error, total=sum(1 for c in key.cases if c.tag != "probe"))
        for policy, key in zip(policies, keys)
    )
    return SubmissionResult(
        student_id=submission.student_id, verdicts=verdicts,
        manual=tuple(scoring.score_manual(item, submission.texts, None, "") for item in manual),
        error=error, notes=submission.notes, digest=submission.digest,
    )


def grade_keys(sandbox: Sandbox, submission: Submission, policies: Sequence[ProblemRubric],
               keys: Sequence[ProblemKey], manual: Sequence[ManualRubric], device: str,
               shrink: Callable[[ProblemKey, ProblemCheck], tuple[Case, object, object] | None] | None = None,
               ) -> SubmissionResult:
    """Execute, check, diagnose and score one loaded submission against ready answer keys."""
    if submission.error is not None:
        return unreadable_result(submission, policies, keys, manual, submission.error)
    report: ExecutionReport = sandbox.execute(submission, call_plans(keys, device))
    if report.load_error is not None and not report.outcomes:
        result = unreadable_result(submission, policies, keys, manual, report.load_error)
        return replace(result, stdout=report.stdout, stderr=report.stderr, isolation=report.isolation)
    verdicts = []
    for policy, key in zip(policies, keys):
        outcome = report.outcomes[key.problem_id]
        check = checking.check(key, outcome)
        found = diagnosis.diagnose(key, check)
        shrunk = shrink(key, check) if shrink is not None and outcome.error is None else None
        verdicts.append(scoring.score(policy, key, check, found, outcome, shrunk=shrunk,
                                      student=str(submission.path)))
    return SubmissionResult(
        student_id=submission.student_id,
        verdicts=tuple(verdicts),
        manual=tuple(scoring.score_manual(item, submission.texts, None, "") for item in manual),
        error=report.load_error,
        notes=submission.notes + report.load_notes,
        stdout=report.stdout,
        stderr=report.stderr,
        isolation=report.isolation,
        digest=submission.digest,
    )


class Grader:
    """One sandbox plus the rubric and the answer key: grades submissions one at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        rubric = load_rubric(settings.rubric_path)
        self.rubric: Rubric = rubric
        self.limits = settings.limits or rubric.limits
        # The sandbox's worker is a fresh interpreter exec'd here, before this process imports
        # the answer key: nothing of `reference/` is ever in a student's address space.
        self.sandbox = Sandbox(self.limits, preload_torch=True, hidden_paths=settings.hidden_paths)
        import reference

        self.problems = reference.PROBLEMS
        wanted = set(settings.only)
        self.policies = tuple(p for p in rubric.problems if not wanted or p.problem_id in wanted)
        self.seed = rubric.seed if settings.seed is None else settings.seed
        self.device = resolve_device(settings.device if settings.device != "auto" else rubric.device)

    @property
    def isolation(self) -> tuple[str, ...]:
        return self.sandbox.isolation

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.sandbox.warnings

    def keys_for(self, student_id: str) -> list[ProblemKey]:
        """This student's own cases and answers for every graded problem."""
        return [
            cases.build_key(self.problems[policy.problem_id], policy, self.rubric.conventions,
                            student_id=student_id, seed=self.seed)
            for policy in self.policies
        ]

    def grade(self, entry: Path) -> SubmissionResult:
        """Grade one entry of the submissions folder; a student's fault never raises."""
        submission = load(entry)
        keys = self.keys_for(submission.student_id)
        return grade_keys(self.sandbox, submission, self.policies, keys, self.rubric.manual,
                          self.device, shrink=lambda key, check: self._shrink(submission, key, check))

    def _shrink(self, submission: Submission, key: ProblemKey,
                check: ProblemCheck) -> tuple[Case, object, object] | None:
        """The smallest case found that still fails, with its expected and got values."""
        failing = next((c for c in check.checks if not c.passed and c.error is None
                        and c.case.tag == "hidden"), None)
        if failing is None:
            return None
        problem = self.problems[key.problem_id]
        policy = self.rubric.problem(key.problem_id)
        best: tuple[Case, object, object] = (failing.case, failing.expected, failing.got)
        for _ in range(SHRINK_ROUNDS):
            candidates = cases.shrink_candidates(problem, best[0], policy.domain, self.rubric.conventions)
            if not candidates:
                break
            candidate_key = cases.key_for_cases(problem, policy, self.rubric.conventions, candidates)
            report = self.sandbox.execute(submission, call_plans([candidate_key], self.device))
            outcome = report.outcomes.get(key.problem_id)
            if outcome is None or outcome.error is not None:
                break
            still_failing = [c for c in checking.check(candidate_key, outcome).checks
                             if not c.passed and c.error is None]
            if not still_failing:
                break
            smallest = min(still_failing, key=lambda c: problem.size(c.case.arguments))
            if problem.size(smallest.case.arguments) >= problem.size(best[0].arguments):
                break
            best = (smallest.case, smallest.expected, smallest.got)
        return best

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manual_points(result: SubmissionResult, awarded: Mapping[str, tuple[float, str]]) -> SubmissionResult:
    """Apply points a person awarded (item id -> (points, comment)) to the manual items."""
    items = tuple(
        replace(item, score=awarded[item.item_id][0], comment=awarded[item.item_id][1])
        if item.item_id in awarded else item
        for item in result.manual
    )
    return replace(result, manual=items)


def empty_manual(item: ManualRubric) -> ManualItem:
    return ManualItem(item_id=item.item_id, title=item.title, max_score=item.points, score=None)
