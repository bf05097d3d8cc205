"""The rubric: a TOML file turned into a validated, typed `Rubric`.

(Types only so far; loading and validation are being written.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from grader.models import Limits
from reference.problem import Conventions, Domain


@dataclass(frozen=True)
class MisconceptionPolicy:
    """What a named misconception costs, and the feedback shown (None: the catalog's text)."""

    deduction: float  # fraction of the problem's points taken off; combined deductions add
    feedback: str | None = None


@dataclass(frozen=True)
class CaseCounts:
    public: int = 3
    hidden: int = 20
    stress: bool = True


@dataclass(frozen=True)
class ProblemRubric:
    """One automatically graded problem as the rubric sets it."""

    problem_id: str
    points: float
    function: str
    aliases: tuple[str, ...]
    domain: Domain
    cases: CaseCounts
    misconceptions: Mapping[str, MisconceptionPolicy]
    tolerance: tuple[float, float] = (1e-6, 1e-9)  # (rtol, atol), arrays only
    #: Fraction of the points for a wrong answer that matches no catalog entry, scaled by the
    #: fraction of cases passed.
    unexplained_credit: float = 0.0
    #: Fraction of the points when the function crashed, hung or returned garbage.
    error_credit: float = 0.0
    #: Fraction of the points when the answer is right but a note applies (integral float).
    note_credit: float = 1.0


@dataclass(frozen=True)
class ManualRubric:
    """An item a person grades; `heading` finds the student's text for it."""

    item_id: str
    title: str
    points: float
    heading: str


@dataclass(frozen=True)
class Rubric:
    path: Path
    schema_version: int
    title: str
    seed: int
    conventions: Conventions
    problems: tuple[ProblemRubric, ...]  # in the file's order
    manual: tuple[ManualRubric, ...]
    limits: Limits
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    digest: str = ""  # sha256 of the file's bytes: a changed rubric regrades
    raw: Mapping[str, object] = field(default_factory=dict)  # the parsed TOML, for results.json

    def problem(self, problem_id: str) -> ProblemRubric:
        for problem in self.problems:
            if problem.problem_id == problem_id:
                return problem
        raise KeyError(problem_id)
