"""Realistic graded results of a small class, for the report, export and gradebook tests.

Eight students cover every status (correct, partial, incorrect, missing, error), the write-up's
catalogued mistakes (`input-as-layer`, `fc-F-minus-2`, `naive-exp-overflow`, ...), a cluster of
identical unexplained answers, a submission that cannot be read, hostile printed output, and a
manual item with the student's own text.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.models import ExecutionError, FailingCase, ManualItem, RunSummary, SubmissionResult, Verdict

#: The automatic problems of the sample rubric: id -> (title, function, points).
PROBLEMS: dict[str, tuple[str, str, float]] = {
    "p1": ("Parameters of an MLP", "mlp_params", 10.0),
    "p2": ("Parameters of a CNN", "cnn_params", 10.0),
    "p3a": ("Softmax", "softmax", 10.0),
    "p3b": ("Softmax Jacobian", "softmax_jacobian", 10.0),
    "p3c": ("Cross-entropy gradient", "cross_entropy_grad", 10.0),
}

PROOF_TITLE = "3(a) proof: softmax is a probability distribution"
PROOF_TEXT = (
    "The proof is a little bit unorthodox and uses inference rather than a solid mathematical "
    "proof. Let's say the output at the final layer = [1, 3.5, 757, -5] ..."
)

MISCONCEPTION_TITLES: dict[str, str] = {
    "input-as-layer": "counted the input as a layer (L − 2 hidden transitions)",
    "fc-F-minus-2": "counted F − 2 FC transitions",
    "output-no-bias": "left out the output layer's biases",
    "naive-exp-overflow": "overflowed exp on large logits (no max subtraction)",
    "sign-flipped": "flipped the sign of the Jacobian",
}

FEEDBACK: dict[str, str] = {
    "input-as-layer": "The input is not a layer: L hidden layers have L − 1 hidden-to-hidden "
    "transitions. Use (L − 1)·(h² + h).",
    "fc-F-minus-2": "F counts hidden FC layers only, so there are F − 1 transitions between them. "
    "Use (F − 1)·(h² + h).",
    "output-no-bias": "Every output node has a bias: the output layer has (h + 1)·n_out parameters.",
    "naive-exp-overflow": "exp(757) is inf in float64, so inf/inf gives NaN. Subtract max(z) "
    "before exponentiating.",
    "sign-flipped": "J = diag(p) − p·pᵀ; your answer is its negative. Check the sign of δ_ik − p_k.",
}

UNEXPLAINED = (
    "No catalogued mistake fits. Adding one output node should add h + 1 = 65 parameters; "
    "yours adds 64."
)


def verdict(
    problem_id: str,
    status: str,
    score: float,
    *,
    misconceptions: Sequence[str] = (),
    explanation: str = "",
    error: ExecutionError | None = None,
    passed: int = 20,
    total: int = 20,
    failing: Sequence[FailingCase] = (),
    cluster_key: str | None = None,
    function: str | None = "",
    notes: Sequence[str] = (),
) -> Verdict:
    """One problem's verdict with the sample rubric's title, function and points."""
    title, function_name, points = PROBLEMS[problem_id]
    return Verdict(
        problem_id=problem_id,
        title=title,
        status=status,  # type: ignore[arg-type]
        score=score,
        max_score=points,
        function=function_name if function == "" else function,
        misconceptions=tuple(misconceptions),
        explanation=explanation,
        feedback=tuple(FEEDBACK[name] for name in misconceptions),
        error=error,
        passed=passed,
        total=total,
        failing=tuple(failing),
        notes=tuple(notes),
        cluster_key=cluster_key,
    )


def mlp_case(got: int) -> FailingCase:
    """The failing Problem 1 case N=32, L=3, h=64, n=10 (reference 205642)."""
    return FailingCase(
        arguments={"N": 32, "L": 3, "h": 64, "n": 10},
        expected=205642,
        got=got,
        tag="hidden",
        replay="grader check . --problem p1 --case '{\"N\": 32, \"L\": 3, \"h\": 64, \"n\": 10}'",
        shrunk=True,
    )


OVERFLOW_CASE = FailingCase(
    arguments={"z": [1.0, 3.5, 757.0, -5.0]},
    expected=[0.0, 0.0, 1.0, 0.0],
    got=[0.0, 0.0, float("nan"), 0.0],
    tag="stress",
    replay="grader check . --problem p3a --case '{\"z\": [1, 3.5, 757, -5]}'",
)


def all_correct(*skip: str) -> list[Verdict]:
    """Full-marks verdicts of every problem not in `skip`."""
    return [verdict(problem_id, "correct", PROBLEMS[problem_id][2]) for problem_id in PROBLEMS if problem_id not in skip]


def proof(score: float | None, comment: str = "") -> ManualItem:
    """The manual proof item, with the write-up's own text beside it."""
    return ManualItem("p3a-proof", PROOF_TITLE, 10.0, score, comment, PROOF_TEXT)


def ordered(verdicts: list[Verdict]) -> tuple[Verdict, ...]:
    """Verdicts in the rubric's problem order."""
    order = list(PROBLEMS)
    return tuple(sorted(verdicts, key=lambda item: order.index(item.problem_id)))


def sample_class() -> tuple[SubmissionResult, ...]:
    """Eight students, each a different scenario a report must show well."""
    isolation = ("rlimits", "process-group", "network-namespace", "landlock")
    digest = "sha256:" + "ab" * 32
    timeout = ExecutionError("timeout", "cross_entropy_grad ran past 5 s on case 3", detail="killed: SIGKILL")
    unreadable = ExecutionError("unreadable", "solution.ipynb is not valid JSON (line 1, column 1)")
    return (
        SubmissionResult("alice", ordered(all_correct()), (proof(9.0, "clear and complete"),), isolation=isolation, digest=digest),
        SubmissionResult(
            "bob",
            ordered(all_correct("p1", "p2", "p3a") + [
                verdict("p1", "partial", 7.5, misconceptions=["input-as-layer"], passed=2, failing=[mlp_case(201482)]),
                verdict("p2", "partial", 7.0, misconceptions=["fc-F-minus-2"], passed=0),
                verdict("p3a", "partial", 8.0, misconceptions=["naive-exp-overflow"], passed=17, failing=[OVERFLOW_CASE]),
            ]),
            (proof(None),),
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "carol",
            ordered(all_correct("p2", "p3b") + [
                verdict("p2", "partial", 5.0, misconceptions=["fc-F-minus-2", "output-no-bias"], passed=0),
                verdict("p3b", "incorrect", 0.0, misconceptions=["sign-flipped"], passed=3),
            ]),
            (proof(6.0),),
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "dave",
            ordered(all_correct("p1", "p3c") + [
                verdict("p1", "incorrect", 0.0, explanation=UNEXPLAINED, passed=0, failing=[mlp_case(205632)], cluster_key="k-64"),
                verdict("p3c", "error", 0.0, error=timeout, passed=0),
            ]),
            (proof(None),),
            stdout="epoch 1\n" * 3,
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "erin",
            ordered(all_correct("p1", "p3a") + [
                verdict("p1", "incorrect", 0.0, explanation=UNEXPLAINED, passed=0, failing=[mlp_case(205632)], cluster_key="k-64"),
                verdict("p3a", "partial", 8.0, misconceptions=["naive-exp-overflow"], passed=17, failing=[OVERFLOW_CASE]),
            ]),
            (proof(None),),
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "frank",
            tuple(verdict(problem_id, "missing", 0.0, passed=0, function=None) for problem_id in PROBLEMS),
            (proof(None),),
            error=unreadable,
            notes=("nothing could be graded: the notebook is unreadable",),
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "grace",
            ordered(all_correct("p2", "p3b") + [
                verdict("p2", "partial", 7.0, misconceptions=["fc-F-minus-2"], passed=0),
                verdict("p3b", "missing", 0.0, passed=0, function=None, notes=("no function softmax_jacobian or alias",)),
            ]),
            (proof(8.0),),
            stdout="<script>alert('pwned')</script>\n",
            stderr="Warning: </pre><img src=x onerror=alert(1)>\n",
            isolation=isolation,
            digest=digest,
        ),
        SubmissionResult(
            "zoë o'neil",
            ordered(all_correct("p1") + [
                verdict("p1", "correct", 10.0, function="count_mlp_params", notes=("graded the alias count_mlp_params",)),
            ]),
            (proof(10.0),),
            isolation=isolation,
            digest=digest,
        ),
    )


def sample_summary() -> RunSummary:
    """The sample class as a whole run, with its rubric as plain data."""
    return RunSummary(
        rubric={"title": "Deep learning problem set 1", "digest": "sha256:" + "cd" * 32, "points": 60},
        seed=20240917,
        results=sample_class(),
        isolation=("rlimits", "process-group", "network-namespace", "landlock"),
        warnings=("seccomp unavailable on this kernel: the layer was skipped",),
        started="2024-09-17T10:00:00+00:00",
        extra={"misconception_titles": MISCONCEPTION_TITLES},
    )


def synthetic_result(index: int) -> SubmissionResult:
    """A deterministic result for student number `index`, for gradebook load and resume tests."""
    student_id = f"student-{index:05d}"
    wrong = index % 3 == 1
    p1 = (
        verdict("p1", "partial", 7.5, misconceptions=["input-as-layer"], passed=2, failing=[mlp_case(201482)])
        if wrong
        else verdict("p1", "correct", 10.0)
    )
    p3a = (
        verdict("p3a", "partial", 8.0, misconceptions=["naive-exp-overflow"], passed=17, failing=[OVERFLOW_CASE])
        if index % 5 == 0
        else verdict("p3a", "correct", 10.0)
    )
    return SubmissionResult(student_id, (p1, p3a), (proof(None),), digest=f"digest-{index}")
