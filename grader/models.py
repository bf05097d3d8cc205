"""The frozen records passed between pipeline stages, from a loaded submission to a verdict.

Each stage takes records of an earlier stage and returns its own; none of them carries an
object that came from student code (values are plain ints, floats, strings or float64 arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Union

import numpy as np

from grader.stages.precision import DEFAULT_PRECISION, PRECISIONS

#: What a failed execution was, as results.json and the reports name it (DESIGN.md).
ErrorKind = Literal[
    "timeout", "memory", "crash", "exit", "exception", "syntax", "invalid-output", "unreadable"
]
ERROR_KINDS: tuple[ErrorKind, ...] = (
    "timeout", "memory", "crash", "exit", "exception", "syntax", "invalid-output", "unreadable"
)

#: The verdict of one problem.
Status = Literal["correct", "partial", "incorrect", "missing", "error", "review"]
#: Every status; "review": a written answer the grader could not find or read with confidence,
#: left to a person and never scored automatically.
STATUSES: tuple[Status, ...] = ("correct", "partial", "incorrect", "missing", "error", "review")

#: Where a case comes from: the fixed few of `grader check`, a student's own hidden draw, the
#: stress set of PROBLEMS.md, a neighbour probe for sensitivity explanations, a shrink candidate.
CaseTag = Literal["public", "hidden", "stress", "probe", "shrink"]
#: Cases that inform a report (sensitivity probes, shrink candidates) but never count.
UNSCORED_TAGS: tuple[CaseTag, ...] = ("probe", "shrink")

#: A plain value crossing a stage boundary: an int (counts), a float64 array (arrays), or a
#: mapping of those (the `build_cnn` problem reports a count and an output shape).
Value = Union[int, float, np.ndarray, Mapping[str, Union[int, float, tuple[int, ...]]], None]

#: Arguments of one call, by parameter name: ints, floats and float64 arrays only.
Arguments = Mapping[str, Union[int, float, np.ndarray]]


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class SourceUnit:
    """One piece of student code run in order: a notebook cell or a whole module."""

    label: str  # "cell 4" or "solution.py"
    code: str


@dataclass(frozen=True)
class Submission:
    """One student's work as found on disk; `error` is set when it cannot be read at all."""

    student_id: str
    path: Path  # the entry in the submissions folder (a file or a folder)
    entry: Path | None  # the file that is graded (None when unreadable)
    kind: Literal["module", "notebook", "write-up"] | None
    units: tuple[SourceUnit, ...]  # run in order in the sandbox
    texts: tuple[str, ...]  # markdown / prose of the submission, for manual items
    notes: tuple[str, ...]  # what was graded and what was changed ("removed %matplotlib")
    digest: str  # sha256 over every file the sandbox copies (`submission_files`): a change regrades
    error: ExecutionError | None = None
    #: Where each of `texts` came from ("homework-writeup.md", "cell 3"), for formula answers.
    text_names: tuple[str, ...] = ()


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One call of a student's function: its arguments and where it came from."""

    problem_id: str
    arguments: Arguments
    tag: CaseTag
    #: For tag "probe": which parameter was varied and the index of the base case; for tag
    #: "shrink": the index of the case it simplifies.
    varied: str | None = None
    base_index: int | None = None
    #: What the case makes a direct implementation build (counts: the largest layer's weights),
    #: so a case stopped by memory or time is explained by its size, not by an allocator's words.
    footprint: Footprint | None = None


@dataclass(frozen=True)
class Footprint:
    """The largest tensor a case makes a direct implementation (building the layers) hold."""

    values: int  # numbers in that tensor: 616,562,688 for the first layer at N = 224, h = 4096
    formula: str  # how they are counted, in the problem's symbols: "3·224²·4096"
    what: str  # what they are: "weights of the first fully connected layer"

def case_identity(arguments: Arguments) -> tuple[object, ...]:
    """A hashable identity of a case's arguments: duplicate draws are recognised by it, and a
    replayed case found among a bundle's (here, not in `cases`: the student checker has no
    case generator)."""
    return tuple((name, (value.shape, value.tobytes()) if isinstance(value, np.ndarray) else value)
                 for name, value in sorted(arguments.items()))


# --------------------------------------------------------------------------- answer keys


@dataclass(frozen=True)
class ParameterInfo:
    """A parameter of a student's function, with the words explanations use for it."""

    name: str
    meaning: str  # "output nodes"
    one_more: str  # "adding one output node"


@dataclass(frozen=True)
class CatalogEntry:
    """A misconception as the grader shows it (feedback already overridden by the rubric)."""

    id: str
    title: str
    feedback: str


@dataclass(frozen=True)
class ProblemKey:
    """Everything checking and diagnosis need for one problem and one student, as data.

    `grader run` builds it from `reference/`; `grader check` reads it from a public bundle, so
    no stage after case generation imports the answer key. `variant_outputs` holds every
    catalog combination on every case: an int64 array (combinations, cases) for counts and
    modules (parameter counts), a list (combination) of lists (case) of float64 arrays for
    arrays. `combinations[0]` is `()`, the reference.
    """

    problem_id: str
    title: str
    kind: Literal["count", "array", "module"]
    function: str
    aliases: tuple[str, ...]
    parameters: tuple[ParameterInfo, ...]
    cases: tuple[Case, ...]
    expected: tuple[Value, ...]
    combinations: tuple[tuple[str, ...], ...]
    variant_outputs: object
    catalog: tuple[CatalogEntry, ...]
    tolerance: tuple[float, float] = PRECISIONS[DEFAULT_PRECISION]
    #: The rubric's name for `tolerance` ("float32", "float64"), or "custom" for explicit numbers.
    precision: str = DEFAULT_PRECISION
    #: The answer as a formula (reference/closed_forms.py), for symbolic evidence; "" when none.
    closed_form: str = ""

    def entry(self, misconception_id: str) -> CatalogEntry:
        return next(entry for entry in self.catalog if entry.id == misconception_id)


# --------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class Limits:
    """What one submission's code may use; a breach costs the problem it was on."""

    timeout_seconds: float = 5.0  # CPU time (user) for all cases of one problem; wall clock 3x + 5 s
    load_timeout_seconds: float = 10.0  # CPU time for running the module or notebook cells (same backstop)
    memory_mib: int = 2048  # address space above the pre-warmed worker's own
    output_kib: int = 64  # captured stdout and stderr, each
    max_processes: int = 0  # extra processes a child may start (0: none)
    max_open_files: int = 64
    max_file_mib: int = 16  # largest file a child may write in its temp folder
    max_disk_mib: int = 64  # all it may write there, beyond the copy of its submission (as root)


@dataclass(frozen=True)
class CallPlan:
    """What the sandbox should call for one problem: the names to try and every case."""

    problem_id: str
    names: tuple[str, ...]  # the function name first, then the rubric's aliases
    parameters: tuple[str, ...]  # positional order of the arguments
    cases: tuple[Arguments, ...]
    #: "function": return values are converted to plain data. "torch-module": the function
    #: returns a torch.nn.Module that the child counts and runs on `device`, reporting
    #: {"parameters": int, "output_shape": (batch, outputs)}.
    call: Literal["function", "torch-module"] = "function"
    device: str = "cpu"


@dataclass(frozen=True)
class ExecutionError:
    """Why student code produced no usable value, in words a student understands."""

    kind: ErrorKind
    message: str
    #: The Python exception's class name when kind == "exception" ("AxisError", "TypeError").
    exception_type: str | None = None
    #: The student's traceback or signal detail, capped; shown in reports, never parsed.
    detail: str = ""

    @property
    def bare_message(self) -> str:
        """The message without a leading "ValueError: " (the sandbox may or may not add it)."""
        prefix = f"{self.exception_type}: " if self.exception_type else ""
        return self.message[len(prefix):] if prefix and self.message.startswith(prefix) else self.message

    @property
    def described(self) -> str:
        """The message with the exception's class name exactly once, or the kind when none."""
        return f"{self.exception_type or self.kind}: {self.bare_message}"


@dataclass(frozen=True)
class CallResult:
    """What one call of a student's function gave back, as plain data."""

    value: Value = None
    error: ExecutionError | None = None
    mutated_input: bool = False  # the function changed an argument array in place
    note: str = ""  # e.g. "returned a torch tensor; converted"


@dataclass(frozen=True)
class ProblemOutcome:
    """A student's function run on every case of one problem."""

    problem_id: str
    function_used: str | None  # the name found (function name or an alias); None if missing
    results: tuple[CallResult, ...]  # aligned with the cases sent
    error: ExecutionError | None = None  # the whole problem failed (timeout, crash, missing)
    #: `function_used` is a near name (`softmax_fn` for `softmax`), not the name or an alias;
    #: `other_candidates` are the near names not chosen.
    near_name: bool = False
    other_candidates: tuple[str, ...] = ()
    #: Where the function comes from when the student imported it rather than wrote it
    #: ("scipy.special._logsumexp.softmax"); None for their own code.
    imported_from: str | None = None


@dataclass(frozen=True)
class ExecutionReport:
    """Everything the sandbox learned from one submission."""

    outcomes: Mapping[str, ProblemOutcome]
    load_notes: tuple[str, ...] = ()  # "cell 3 raised NameError: name 'np' is not defined"
    stdout: str = ""  # captured and capped; never parsed
    stderr: str = ""
    isolation: tuple[str, ...] = ()  # layers in force, e.g. ("rlimits", "landlock", ...)
    load_error: ExecutionError | None = None  # the code could not be run at all


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class CaseCheck:
    """One case compared against the reference."""

    index: int
    case: Case
    expected: Value
    got: Value
    passed: bool
    note: str = ""  # "integral float 2.0 accepted as 2"
    error: ExecutionError | None = None


@dataclass(frozen=True)
class ProblemCheck:
    """Every case of a problem, compared."""

    problem_id: str
    checks: tuple[CaseCheck, ...]

    @property
    def passed(self) -> int:
        return sum(1 for check in self.checks if check.passed and check.case.tag not in UNSCORED_TAGS)

    @property
    def total(self) -> int:
        return sum(1 for check in self.checks if check.case.tag not in UNSCORED_TAGS)


# --------------------------------------------------------------------------- diagnosis


@dataclass(frozen=True)
class Diagnosis:
    """Why an answer is wrong: named misconceptions, or an explanation when none fits."""

    misconceptions: tuple[str, ...] = ()  # catalog ids, smallest matching combination
    explanation: str = ""  # sensitivity or structural explanation, in words and numbers
    faults: tuple[str, ...] = ()  # structural faults of arrays: "sign", "symmetry", ...
    #: Identical unexplained answers across the class share this key (a digest of outputs).
    cluster_key: str | None = None


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class FailingCase:
    """A case shown in a report: inputs, expected, got, and how to replay it."""

    arguments: Mapping[str, object]  # JSON-ready
    expected: object
    got: object
    tag: CaseTag
    replay: str  # one command that reruns this case
    shrunk: bool = False  # the smallest failing case found by shrinking


@dataclass(frozen=True)
class FormulaEvidence:
    """A written answer as the grader read it, shown beside the verdict."""

    where: str  # "homework-writeup.md line 17" (each labelled piece)
    raw: str  # the span as written
    reading: str  # the text the grammar read, after normalisation
    mathml: str  # the reading as MathML, from the grader's own parse tree
    notes: tuple[str, ...] = ()  # every liberty taken ("read f as k", "dropped the trailing text ...")
    lossy: bool = False  # a liberty was a guess
    reason: str = ""  # why a person must decide ("review"), or "" when it was graded
    symbolic: str = ""  # sympy's word on equality with the closed form (supporting evidence only)


@dataclass(frozen=True)
class Verdict:
    """The grade of one problem for one student."""

    problem_id: str
    title: str
    status: Status
    score: float
    max_score: float
    function: str | None
    misconceptions: tuple[str, ...] = ()
    explanation: str = ""
    feedback: tuple[str, ...] = ()  # one text per named misconception (why + fix)
    error: ExecutionError | None = None
    passed: int = 0
    total: int = 0
    failing: tuple[FailingCase, ...] = ()
    notes: tuple[str, ...] = ()
    cluster_key: str | None = None
    formula: FormulaEvidence | None = None  # set when the answer graded is a written formula


@dataclass(frozen=True)
class ManualItem:
    """A rubric item a person scores; the report shows the student's own text beside it."""

    item_id: str
    title: str
    max_score: float
    score: float | None  # None until a person awards points
    comment: str = ""
    student_text: str = ""


@dataclass(frozen=True)
class SubmissionResult:
    """The grade of one submission: every problem and manual item."""

    student_id: str
    verdicts: tuple[Verdict, ...]
    manual: tuple[ManualItem, ...] = ()
    error: ExecutionError | None = None
    notes: tuple[str, ...] = ()
    stdout: str = ""
    stderr: str = ""
    isolation: tuple[str, ...] = ()
    digest: str = ""
    #: The rubric's late policy applied to this submission: the fraction of the total taken
    #: off (1.0: no credit) and the words for it. Set from the intake record, never stored.
    late_penalty: float = 0.0
    late_note: str = ""

    @property
    def points_before_penalty(self) -> float:
        # A verdict awaiting review (a formula no one could read) has no score yet.
        automatic = sum(verdict.score for verdict in self.verdicts if verdict.status != "review")
        return automatic + sum(item.score or 0.0 for item in self.manual)

    @property
    def total(self) -> float:
        return self.points_before_penalty * (1.0 - self.late_penalty)

    @property
    def max_score(self) -> float:
        return sum(v.max_score for v in self.verdicts) + sum(m.max_score for m in self.manual)


@dataclass(frozen=True)
class GradingFault:
    """A submission the grader itself failed on: a grader bug it triggered, not the student's
    fault. It is neither graded nor stored, so the next `grader run` tries it again."""

    entry: Path
    error: str  # "OverflowError: Python int too large to convert to C long"
    traceback: str


@dataclass(frozen=True)
class RunSummary:
    """A whole `grader run`: settings and every submission's result."""

    rubric: Mapping[str, object]  # the rubric as plain data (results.json "rubric")
    seed: int
    results: tuple[SubmissionResult, ...]
    isolation: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    started: str = ""  # ISO time
    device: str = "cpu"
    extra: Mapping[str, object] = field(default_factory=dict)
