"""The stages in order: load, generate cases, execute, check, diagnose, shrink, score.

`Grader` grades one submission at a time with its own sandbox; `grade_keys` is the part
shared by `grader run` (keys drawn per student from the reference) and `grader check` (keys
read from a public bundle), so both commands reach a verdict by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.stages import checking, diagnosis, scoring
from grader.course_secret import resolve_secret
from grader.errors import UsageError
from grader.formulas import grading as formulas
from grader.models import (
    CallPlan, Case, Diagnosis, ExecutionError, ExecutionReport, Limits, ProblemCheck, ProblemKey,
    ProblemOutcome, Submission, SubmissionResult, Value, Verdict,
)
from grader.rubric import ManualRubric, ProblemRubric, Rubric, load_rubric
from grader.sandbox import Sandbox
from grader.stages.submissions import load

@dataclass(frozen=True)
class Settings:
    """How to grade: plain, picklable data shared by every worker of a run."""

    rubric_path: Path
    limits: Limits | None = None  # None: the rubric's
    device: str = "auto"
    seed: int | None = None  # None: the course secret (`grader.course_secret.resolve_secret`)
    only: tuple[str, ...] = ()  # problem ids to grade; empty: all
    hidden_paths: tuple[Path, ...] = ()  # folders the sandbox hides from students
    zygote_template: str | None = None  # a ZygoteTemplate's address: fork zygotes, don't exec them


def resolve_device(device: str) -> str:
    """'auto' means CUDA when this machine has it; 'cuda' on a machine without it is refused."""
    if device == "cpu":
        return device
    if not any(Path("/dev").glob("nvidia*")) and not Path("/proc/driver/nvidia").exists():
        available = False  # no NVIDIA driver: skip importing torch (1.5 s) just to be told so
    else:
        import torch

        available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise UsageError("--device cuda: this machine has no CUDA device that torch can use",
                         hint="use --device auto (CUDA when present) or --device cpu")
    return "cuda" if available else "cpu"


def run_order(key: ProblemKey) -> list[int]:
    """The key's cases in the order they run: smallest footprint first, so a memory or time
    limit hit on the largest case (N = 224, h = 4096) stops no case that would have finished."""
    sizes = [case.footprint.values if case.footprint is not None else 0 for case in key.cases]
    return sorted(range(len(sizes)), key=sizes.__getitem__)


def in_key_order(key: ProblemKey, outcome: ProblemOutcome) -> ProblemOutcome:
    """An outcome whose results came back in `run_order`, put back in the key's order."""
    order = run_order(key)
    if len(outcome.results) != len(order) or order == sorted(order):
        return outcome
    results = [outcome.results[0]] * len(order)
    for position, index in enumerate(order):
        results[index] = outcome.results[position]
    return replace(outcome, results=tuple(results))


def call_plans(keys: Sequence[ProblemKey], device: str) -> list[CallPlan]:
    """What the sandbox must call: each problem's function (or an alias) on each of its cases."""
    return [
        CallPlan(
            problem_id=key.problem_id,
            names=(key.function, *key.aliases),
            parameters=tuple(parameter.name for parameter in key.parameters),
            cases=tuple(key.cases[index].arguments for index in run_order(key)),
            call="torch-module" if key.kind == "module" else "function",
            # Only a student's network runs on the GPU: a CUDA child gets no address-space limit
            # and a wider Landlock view (/proc, /sys, device nodes), so plain functions never
            # get those relaxations.
            device=device if key.kind == "module" else "cpu",
        )
        for key in keys
    ]


def needs_torch(submission: Submission, keys: Sequence[ProblemKey]) -> bool:
    """Whether the sandbox should preload torch: a problem builds a torch module, or the code
    names torch. Preloading costs ~1.5 s, and a student checker without torch installed
    grades every other problem without it."""
    return any(key.kind == "module" for key in keys) or any("torch" in unit.code for unit in submission.units)


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


#: Shrinks the failing problems of one submission: (key, check) pairs -> for each problem id,
#: the smallest failing case found with its expected and got values.
Shrinker = Callable[[Sequence[tuple[ProblemKey, ProblemCheck]]], Mapping[str, tuple[Case, Value, Value]]]


def grade_keys(sandbox: Sandbox, submission: Submission, policies: Sequence[ProblemRubric],
               keys: Sequence[ProblemKey], manual: Sequence[ManualRubric], device: str,
               shrink: Shrinker | None = None, bundle: Path | None = None,
               student: str | None = None) -> SubmissionResult:
    """Execute, check, diagnose and score one loaded submission against ready answer keys
    (`bundle`: the public bundle they came from, which replay commands then name, with
    `student` for the submission's path: by default the absolute one)."""
    if submission.error is not None:
        return unreadable_result(submission, policies, keys, manual, submission.error)
    if submission.units:
        report: ExecutionReport = sandbox.execute(submission, call_plans(keys, device))
    else:  # a write-up with no code: nothing to run, every answer is a formula
        report = ExecutionReport({key.problem_id: ProblemOutcome(key.problem_id, None, ()) for key in keys})
    if report.load_error is not None:
        # The code never finished loading (a hang, an exit, a syntax error): no function was
        # even looked for, so every problem is that error, not "missing".
        result = unreadable_result(submission, policies, keys, manual, report.load_error)
        return replace(result, stdout=report.stdout, stderr=report.stderr, isolation=report.isolation)
    outcomes = [in_key_order(key, report.outcomes[key.problem_id]) for key in keys]
    # Second source of answers: formulas in the write-up, where no code answered (or the
    # rubric prefers the formula). Each replaces the code's outcome and is graded alike.
    formula_keys = {key.problem_id: formulas.formula_key(key) for policy, key, outcome in zip(policies, keys, outcomes)
                    if formulas.wanted(policy.formula, outcome)}
    written = formulas.read_written(submission, {policy.problem_id: policy.formula for policy in policies},
                                    list(formula_keys.values())) if formula_keys and submission.texts else {}
    keys = [formula_keys[key.problem_id] if key.problem_id in written else key for key in keys]
    outcomes = [written[key.problem_id].outcome or outcome if key.problem_id in written else outcome
                for key, outcome in zip(keys, outcomes)]
    checks = [checking.check(key, outcome) for key, outcome in zip(keys, outcomes)]
    findings = [diagnosis.diagnose(key, check, submission.units, outcome.function_used)
                for key, check, outcome in zip(keys, checks, outcomes)]
    wrong = [(key, check) for key, check, outcome in zip(keys, checks, outcomes)
             if outcome.error is None and check.passed < check.total and key.problem_id not in written]
    shrunk = shrink(wrong) if shrink is not None and wrong else {}
    verdicts = tuple(
        written_verdict(policy, key, check, found, written[key.problem_id]) if key.problem_id in written else
        scoring.how_found(policy, key, outcome, scoring.score(
            policy, key, check, found, outcome, shrunk=shrunk.get(key.problem_id),
            student=student or str(submission.path), bundle=str(bundle) if bundle else None))
        for policy, key, check, found, outcome in zip(policies, keys, checks, findings, outcomes)
    )
    return SubmissionResult(
        student_id=submission.student_id,
        verdicts=verdicts,
        manual=tuple(scoring.score_manual(item, submission.texts, None, "") for item in manual),
        error=report.load_error,
        notes=submission.notes + report.load_notes,
        stdout=report.stdout,
        stderr=report.stderr,
        isolation=report.isolation,
        digest=submission.digest,
    )


def written_verdict(policy: ProblemRubric, key: ProblemKey, check: ProblemCheck, found: Diagnosis,
                    answer: formulas.WrittenAnswer) -> Verdict:
    """A formula's verdict: scored like code, or `review` when it could not be read with confidence."""
    if answer.outcome is None:
        return formulas.review_verdict(key, policy.points, answer.evidence)
    doubtful = formulas.needs_review(answer.evidence, check, found)
    if doubtful is not None:
        return formulas.review_verdict(key, policy.points, doubtful)
    verdict = scoring.score(policy, key, check, found, answer.outcome, student="", bundle=None)
    # A formula has no replay command: its failing cases are shown without one.
    failing = tuple(replace(case, replay="") for case in verdict.failing)
    return formulas.with_evidence(replace(verdict, failing=failing), answer.evidence)


class Grader:
    """One sandbox plus the rubric and the answer key: grades submissions one at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        rubric = load_rubric(settings.rubric_path)
        self.rubric: Rubric = rubric
        self.limits = settings.limits or rubric.limits
        # The sandbox's worker is a fresh interpreter exec'd here, before this process imports
        # the answer key: nothing of `reference/` is ever in a student's address space.
        self.sandbox = Sandbox(self.limits, preload_torch=True, hidden_paths=settings.hidden_paths,
                               template=settings.zygote_template, packages=rubric.packages)
        import reference

        self.problems = reference.PROBLEMS
        wanted = set(settings.only)
        self.policies = tuple(p for p in rubric.problems if not wanted or p.problem_id in wanted)
        self.seed = settings.seed if settings.seed is not None else resolve_secret(settings.rubric_path).seed
        self.device = resolve_device(settings.device if settings.device != "auto" else rubric.device)

    @property
    def isolation(self) -> tuple[str, ...]:
        return self.sandbox.isolation

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.sandbox.warnings

    def keys_for(self, student_id: str) -> list[ProblemKey]:
        """This student's own cases and answers for every graded problem."""
        from grader.stages import cases  # here, not above: `grade_keys` ships in the student checker, `cases` never

        return [
            cases.build_key(self.problems[policy.problem_id], policy, self.rubric.conventions,
                            student_id=student_id, seed=self.seed, speculative_shrink=True)
            for policy in self.policies
        ]

    def grade(self, entry: Path) -> SubmissionResult:
        """Grade one entry of the submissions folder; a student's fault never raises."""
        submission = load(entry)
        keys = self.keys_for(submission.student_id)
        return grade_keys(self.sandbox, submission, self.policies, keys, self.rubric.manual,
                          self.device, shrink=lambda wrong: self._shrink(submission, wrong))

    def _shrink(self, submission: Submission,
                wrong: Sequence[tuple[ProblemKey, ProblemCheck]]) -> dict[str, tuple[Case, Value, Value]]:
        """The smallest failing case found per wrong problem, in one more sandbox call for all."""
        from grader.stages import cases

        firsts: dict[str, tuple[Case, Value, Value]] = {}
        candidate_keys: list[ProblemKey] = []
        for key, check in wrong:
            failing = next((c for c in check.checks if not c.passed and c.error is None
                            and c.case.tag == "hidden"), None)
            if failing is None:
                continue
            problem = self.problems[key.problem_id]
            policy = self.rubric.problem(key.problem_id)
            firsts[key.problem_id] = (failing.case, failing.expected, failing.got)
            speculated = [c for c in check.checks if c.case.tag == "shrink" and c.case.base_index == failing.index]
            if speculated:
                # The first run already tried this case's shrink ladder: no second run needed.
                still_failing = [c for c in speculated if not c.passed and c.error is None]
                if still_failing:
                    smallest = min(still_failing, key=lambda c: problem.size(c.case.arguments))
                    firsts[key.problem_id] = (smallest.case, smallest.expected, smallest.got)
                continue
            ladder = cases.shrink_ladder(problem, failing.case, policy.domain, self.rubric.conventions)
            if ladder:
                candidate_keys.append(cases.key_for_cases(problem, policy, self.rubric.conventions, ladder))
        if not candidate_keys:
            return firsts
        report = self.sandbox.execute(submission, call_plans(candidate_keys, self.device))
        for candidate_key in candidate_keys:
            outcome = report.outcomes.get(candidate_key.problem_id)
            if outcome is None or outcome.error is not None:
                continue  # the candidates themselves hung or crashed: keep the drawn case
            problem = self.problems[candidate_key.problem_id]
            still_failing = [c for c in checking.check(candidate_key, outcome).checks
                             if not c.passed and c.error is None]
            if still_failing:
                smallest = min(still_failing, key=lambda c: problem.size(c.case.arguments))
                firsts[candidate_key.problem_id] = (smallest.case, smallest.expected, smallest.got)
        return firsts

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
