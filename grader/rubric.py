"""The rubric: a TOML file turned into a validated, typed `Rubric`.

Validation is strict because a typo in a rubric silently changes every student's grade: an
unknown key, a wrong type, a value out of range, an unknown problem or misconception id is a
`RubricError` naming the file, the dotted key path and the value, with a did-you-mean.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

import numpy as np

from grader.stages import student_packages
from grader.course_secret import default_secret_path, legacy_seed_warning
from grader.errors import RubricError, did_you_mean
from grader.formulas.settings import FormulaSettings, SettingsError, default_settings, settings_data, with_overrides
from grader.stages.lateness import LatePolicy, read_policy
from grader.models import Limits
from grader.stages.precision import DEFAULT_PRECISION, PRECISIONS, arrays_agree
from grader.rubric_validation import MISSING, RubricTable, identifiers, number_pair

if TYPE_CHECKING:
    # Only where a rubric is read: the student checker ships this module for its policy
    # classes, and no part of the answer key (reference/problem.py holds the softmax).
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
    tolerance: tuple[float, float] = PRECISIONS[DEFAULT_PRECISION]  # (rtol, atol), arrays only
    #: The name of `tolerance`: "float32", "float64", or "custom" (explicit numbers).
    precision: str = DEFAULT_PRECISION
    #: Fraction of the points for a wrong answer that matches no catalog entry, scaled by the
    #: fraction of cases passed.
    unexplained_credit: float = 0.0
    #: Fraction of the points when the function crashed, hung or returned garbage.
    error_credit: float = 0.0
    #: Fraction of the points when the answer is right but a note applies (integral float).
    note_credit: float = 1.0
    #: How a written (formula) answer is found and read; None: the problem takes code only.
    formula: FormulaSettings | None = None
    #: Fraction of the points taken off a function graded under a near name (`softmax_fn` for
    #: `softmax`); the report names it either way.
    near_name_deduction: float = 0.0
    #: Fraction of the points taken off a function the student imported rather than wrote
    #: (`from scipy.special import softmax`); 1.0: an imported implementation earns nothing.
    imported_deduction: float = 0.0
    #: Fraction of the points for an answer right on every case it finished when memory or
    #: time stopped it on its most expensive case(s): a resource limit, not a wrong answer.
    resource_credit: float = 0.9


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
    conventions: Conventions
    problems: tuple[ProblemRubric, ...]  # in the file's order
    manual: tuple[ManualRubric, ...]
    limits: Limits
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    late: LatePolicy = LatePolicy()  # [late]: due date and penalty (none: nothing is late by time)
    #: Packages a submission may import beyond `student_packages.OFFERED` (importable names).
    packages: tuple[str, ...] = ()
    digest: str = ""  # sha256 of the file's bytes: a changed rubric regrades
    raw: Mapping[str, object] = field(default_factory=dict)  # the parsed TOML, for results.json
    #: `seed = N` of a rubric written before the seed became a course secret (`grader.course_secret`):
    #: never used for hidden cases, only to tell the instructor how to move it.
    legacy_seed: int | None = None

    def problem(self, problem_id: str) -> ProblemRubric:
        for problem in self.problems:
            if problem.problem_id == problem_id:
                return problem
        raise KeyError(problem_id)

    @property
    def total_points(self) -> float:
        return sum(problem.points for problem in self.problems) + sum(item.points for item in self.manual)

    def to_data(self) -> dict[str, Any]:
        """The validated rubric as plain JSON-ready data (defaults filled in), for results.json."""
        return {
            "path": str(self.path), "schema_version": self.schema_version, "title": self.title,
            "device": self.device, "digest": self.digest, "packages": list(self.packages),
            "conventions": asdict(self.conventions), "limits": asdict(self.limits),
            "problems": [{**asdict(problem), "domain": {name: list(bounds) for name, bounds in problem.domain.items()},
                          "aliases": list(problem.aliases), "tolerance": list(problem.tolerance),
                          "formula": settings_data(problem.formula)}
                         for problem in self.problems],
            "manual": [asdict(item) for item in self.manual],
            "total_points": self.total_points,
        }


def default_rubric_path() -> Path:
    """The default rubric of this problem set, `rubrics/dl-hw1.toml` beside the packages."""
    return Path(__file__).resolve().parent.parent / "rubrics" / "dl-hw1.toml"


T = TypeVar("T")

SCHEMA_VERSION = 1


def _misconceptions(table: RubricTable, problem: Any, conventions: Conventions,
                    default_deduction: float) -> dict[str, MisconceptionPolicy]:
    """Every catalog id gets a policy: the rubric's, or the problem's `default_deduction`."""
    catalog_ids = [entry.id for entry in problem.catalog]
    policies = {identifier: MisconceptionPolicy(default_deduction) for identifier in catalog_ids}
    for identifier, value in table.data.items():
        table.used.add(identifier)
        if identifier not in catalog_ids:
            raise table.fail(identifier, "unknown misconception",
                             hint=did_you_mean(identifier, catalog_ids) or f"the catalog of {problem.id} has: "
                             + ", ".join(catalog_ids))
        entry = RubricTable(table.path, value if isinstance(value, dict) else {"deduction": value}, table.key(identifier))
        policies[identifier] = MisconceptionPolicy(deduction=entry.number("deduction", MISSING, 0.0, 1.0),
                                                   feedback=entry.get("feedback", str, None))
        entry.finish()
    return policies


#: Layer counts that may be 0 (no hidden layer, no FC layer) when degenerate networks are allowed.
DEGENERATE_PARAMETERS = frozenset({"L", "F"})


def _tolerance(table: RubricTable, problem: Any, default_precision: str) -> tuple[tuple[float, float], str]:
    """(rtol, atol) and its name: explicit `tolerance`, else `precision`, else the rubric's."""
    if problem.kind != "array":
        if "precision" in table.data:
            raise table.fail("precision", "counts are compared exactly; precision applies to array problems "
                             "(p3a, p3b, p3c)", hint="remove the key")
        return PRECISIONS[default_precision], default_precision
    if "tolerance" in table.data and "precision" in table.data:
        raise table.fail("tolerance", "give either precision or tolerance, not both",
                         hint='precision = "float32" means tolerance = ' + str(list(PRECISIONS["float32"])))
    if "tolerance" in table.data:
        return number_pair(table, "tolerance", PRECISIONS[default_precision], ordered=False), "custom"
    precision = table.choice("precision", default_precision, tuple(PRECISIONS))
    return PRECISIONS[precision], precision


def _problem(table: RubricTable, problem: Any, conventions: Conventions,
             default_precision: str = DEFAULT_PRECISION) -> ProblemRubric | None:
    """One [problems.<id>] table; None when `enabled = false`."""
    enabled = table.get("enabled", bool, True)
    domain_table = table.table("domain")
    domain = dict(problem.default_domain)
    for name in domain_table.data:
        domain_table.used.add(name)
        if name not in problem.default_domain:
            raise domain_table.fail(name, "unknown parameter",
                                    hint=did_you_mean(name, problem.default_domain) or "the domain has: "
                                    + ", ".join(problem.default_domain))
        low, high = number_pair(domain_table, name, None, ordered=True)  # type: ignore[arg-type]
        default_low, _ = problem.default_domain[name]
        counts = isinstance(default_low, int) and not isinstance(default_low, bool)
        if counts and not (low.is_integer() and high.is_integer()):
            raise domain_table.fail(name, f"[{low:g}, {high:g}]: {name} counts things, so its bounds must be whole numbers")
        # A 0-pixel image or a layer of 0 units is no network; only the layer counts L and F may
        # be 0, and only under the `allow_degenerate` convention.
        lowest = 0 if conventions.allow_degenerate and name in DEGENERATE_PARAMETERS else 1
        if counts and low < lowest:
            hint = f"write [{lowest}, {max(high, lowest):g}]" + (
                "" if lowest == 0 or name not in DEGENERATE_PARAMETERS else
                " (or set allow_degenerate = true under [conventions] for L = 0 or F = 0)")
            raise domain_table.fail(name, f"[{low:g}, {high:g}]: {name} must be at least {lowest}", hint=hint)
        domain[name] = (int(low), int(high)) if counts else (low, high)
    cases_table = table.table("cases")
    cases = CaseCounts(public=cases_table.number("public", 3, 0, whole=True),
                       hidden=cases_table.number("hidden", 20, 0, 10_000, whole=True),
                       stress=cases_table.get("stress", bool, True))
    cases_table.finish()
    default_deduction = table.number("default_deduction", 0.25, 0.0, 1.0)
    tolerance, precision = _tolerance(table, problem, default_precision)
    rubric = ProblemRubric(
        problem_id=problem.id,
        points=table.number("points", MISSING, 0.0),
        function=table.get("function", str, problem.function),
        aliases=identifiers(table, "aliases", problem.aliases),
        domain=domain,
        cases=cases,
        misconceptions=_misconceptions(table.table("misconceptions"), problem, conventions, default_deduction),
        tolerance=tolerance,
        precision=precision,
        unexplained_credit=table.number("unexplained_credit", 0.0, 0.0, 1.0),
        error_credit=table.number("error_credit", 0.0, 0.0, 1.0),
        note_credit=table.number("note_credit", 1.0, 0.0, 1.0),
        formula=_formula(table, problem.id),
        near_name_deduction=table.number("near_name_deduction", 0.0, 0.0, 1.0),
        imported_deduction=table.number("imported_deduction", 0.0, 0.0, 1.0),
        resource_credit=table.number("resource_credit", 0.9, 0.0, 1.0),
    )
    if not rubric.function.isidentifier():
        raise table.fail("function", f"{rubric.function!r} is not a Python function name")
    table.finish()
    return rubric if enabled else None


def _formula(table: RubricTable, problem_id: str) -> FormulaSettings | None:
    """The problem's formula settings: defaults (grader/formulas/problems.toml) + [.formula]."""
    defaults = default_settings(problem_id)
    data = table.data.get("formula") if isinstance(table.data, dict) else None
    table.used.add("formula")
    if data is None:
        return defaults
    if not isinstance(data, dict) or defaults is None:
        raise table.fail("formula", "a table of formula settings" if defaults is None else "not a table",
                         hint=f"{problem_id} has no formula answer" if defaults is None else "")
    try:
        return with_overrides(defaults, data)
    except SettingsError as error:
        raise table.fail(f"formula.{error.key}", str(error)) from None


def _manual(table: RubricTable, item_id: str) -> ManualRubric:
    """One [manual.<id>] table; the answer key's items give defaults for title and heading."""
    from reference import MANUAL_ITEMS

    known = MANUAL_ITEMS.get(item_id)
    heading = table.get("heading", str, known.heading if known else MISSING)
    try:
        re.compile(heading)
    except re.error as error:
        raise table.fail("heading", f"{heading!r} is not a regular expression ({error})") from None
    item = ManualRubric(item_id=item_id, title=table.get("title", str, known.title if known else MISSING),
                        points=table.number("points", MISSING, 0.0), heading=heading)
    table.finish()
    return item


#: The largest value of each limit: `inf` or 1e12 seconds passed the old checks and failed
#: inside every child (an rlimit takes no infinity), each student told they called sys.exit.
LIMIT_MAXIMUMS = {"timeout_seconds": 3600, "load_timeout_seconds": 3600, "memory_mib": 1 << 20,
                  "output_kib": 1 << 20, "max_processes": 4096, "max_open_files": 65536,
                  "max_file_mib": 1 << 20, "max_disk_mib": 1 << 20}


def _limits(table: RubricTable) -> Limits:
    values = {}
    for limit in fields(Limits):
        whole = isinstance(limit.default, int)
        lowest = 0 if limit.name == "max_processes" else (1 if whole else 0.001)
        values[limit.name] = table.number(limit.name, limit.default, lowest, LIMIT_MAXIMUMS[limit.name], whole=whole)
    table.finish()
    return Limits(**values)


def largest_count(problem: object, domain: Domain, conventions: Conventions) -> int:
    """The largest count any variant reaches at a corner of `domain`, computed exactly (Python
    integers in object arrays); 0 for a problem that is not a count."""
    from reference.problem import CountProblem

    if not isinstance(problem, CountProblem) or type(problem).variant_table is not CountProblem.variant_table:
        return 0
    names = problem.parameter_names
    corners = list(itertools.product(*[sorted({int(bound) for bound in domain[name]}) for name in names]))
    combinations = problem.combinations(conventions)
    flags = {entry.id: np.array([[entry.id in combination] for combination in combinations])
             for entry in problem.catalog}
    arguments = {name: np.array([[corner[index] for corner in corners]], dtype=object)
                 for index, name in enumerate(names)}
    return int(np.max(np.abs(problem.count(arguments, flags, conventions))))


def _check_distinguishable(path: Path, key: str, reference: Any, problem: ProblemRubric,
                           conventions: Conventions) -> None:
    """A tolerance so loose that a catalogued mistake passes for the reference on every
    class-wide case would grade that mistake as right: refused, naming the mistake."""
    if reference.kind != "array":
        return
    cases = [*reference.public_cases(conventions), *reference.stress_cases(conventions)]
    table = reference.variant_table(cases, conventions)
    rtol, atol = problem.tolerance
    right = table.outputs[0]
    for combination, row in zip(table.combinations[1:], table.outputs[1:]):
        if all(arrays_agree(np.asarray(got), np.asarray(expected), rtol, atol) for got, expected in zip(row, right)):
            raise RubricError(path, f"{key}.{'tolerance' if problem.precision == 'custom' else 'precision'}",
                              f"at rtol {rtol:g}, atol {atol:g} the mistake {' + '.join(combination)} gives the "
                              "reference's answer on every public and stress case, so it would be graded right",
                              hint=f"use a tighter tolerance; precision = \"float32\" is {list(PRECISIONS['float32'])}")


def _check_across(path: Path, problems: Sequence[ProblemRubric], manual: Sequence[ManualRubric],
                  conventions: Conventions) -> None:
    """What no single table shows: cases to check, names each problem owns, drawable domains."""
    from reference import PROBLEMS
    from reference.problem import InvalidConfiguration

    owner: dict[str, str] = {}
    for problem in problems:
        key = f"problems.{problem.problem_id}"
        cases = problem.cases
        if cases.hidden + cases.stress == 0 or cases.public + cases.stress == 0:
            # No case at all: every student would pass, even one whose function crashes.
            raise RubricError(path, f"{key}.cases", "no case would be checked by `grader run` (hidden = 0) or "
                              "`grader check` (public = 0) with stress = false", hint="set hidden and public above 0")
        for name in (problem.function, *problem.aliases):
            if name in owner and owner[name] != problem.problem_id:
                raise RubricError(path, f"{key}.function", f"{name!r} is also a name of {owner[name]}: one "
                                  "function would be graded as both", hint="give each problem names of its own")
            owner[name] = problem.problem_id
        reference = PROBLEMS[problem.problem_id]
        _check_distinguishable(path, key, reference, problem, conventions)
        if cases.hidden:
            domain = {**reference.default_domain, **problem.domain}
            try:
                reference.draw(np.random.default_rng(0), domain, conventions)
            except InvalidConfiguration as error:
                raise RubricError(path, f"{key}.domain", f"no case can be drawn: {error}") from None
            largest = largest_count(reference, domain, conventions)
            if largest >= 1 << 63:
                # The key's counts are int64: past it they wrap, and a right answer was "wrong".
                raise RubricError(path, f"{key}.domain", f"counts reach {largest:.3g} at the domain's corners, "
                                  "past the 9.2e18 the answer key can hold", hint="lower the upper bounds")
    ids = {problem.problem_id for problem in problems} | set(PROBLEMS)
    for item in manual:
        if item.item_id in ids or not re.fullmatch(r"[A-Za-z0-9_-]+", item.item_id):
            raise RubricError(path, f"manual.{item.item_id}", "a manual item's id must be letters, digits, - and _, "
                              "and not a problem's id (both name a column of grades.csv)",
                              hint=f"for instance [manual.{re.sub(r'[^A-Za-z0-9_-]+', '-', item.item_id)}-proof]")


def _packages(top: RubricTable) -> tuple[str, ...]:
    """`packages = ["sklearn"]`: names a student may import, each installed where grading runs."""
    values = top.get("packages", list, [])
    for value in values:
        if not isinstance(value, str) or not student_packages.installed(value):
            installed = student_packages.top_level_modules()
            hint = did_you_mean(str(value), installed) or (
                "name what follows `import` (sklearn, not scikit-learn), and install it where the grader runs "
                "(add it to pyproject.toml's dependencies)")
            raise top.fail("packages", f"{value!r} is not an installed package that can be imported", hint=hint)
    return tuple(dict.fromkeys(values))


def _conventions(table: RubricTable) -> Conventions:
    from reference.problem import Conventions

    conventions = Conventions(padding=table.choice("padding", "same", ("same", "literal")),  # type: ignore[arg-type]
                              targets_sum_to_one=table.get("targets_sum_to_one", bool, True),
                              allow_degenerate=table.get("allow_degenerate", bool, False))
    table.finish()
    return conventions


def load_rubric(path: Path | str) -> Rubric:
    """Read and validate a rubric TOML; every mistake is a RubricError naming file, key and value."""
    from reference import PROBLEMS
    from reference.problem import Conventions

    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise RubricError(path, "", f"cannot read the rubric ({error.strerror})",
                          hint=f"the default rubric is {default_rubric_path()}") from None
    try:
        raw = tomllib.loads(content.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RubricError(path, "", f"not valid TOML: {error}") from None
    top = RubricTable(path, raw, "")
    version = top.get("schema_version", int)
    if version != SCHEMA_VERSION:
        raise top.fail("schema_version", f"{version!r} is not supported", hint=f"this grader reads schema_version = {SCHEMA_VERSION}")
    # Each table is read on its own and its mistake kept, so that a rubric with three typos
    # takes one round trip to fix, not three.
    mistakes: list[RubricError] = []

    def attempt(read: Callable[[], T], fallback: T) -> T:
        try:
            return read()
        except RubricError as error:
            mistakes.append(error)
            return fallback

    conventions = attempt(lambda: _conventions(top.table("conventions")), Conventions())
    precision = attempt(lambda: top.choice("precision", DEFAULT_PRECISION, tuple(PRECISIONS)), DEFAULT_PRECISION)
    problems_table = top.table("problems", required=True)
    problems = []
    for problem_id in problems_table.data:
        problems_table.used.add(problem_id)
        if problem_id not in PROBLEMS:
            mistakes.append(problems_table.fail(problem_id, "unknown problem", hint=did_you_mean(
                problem_id, PROBLEMS) or "known problems: " + ", ".join(PROBLEMS)))
            continue
        problem = attempt(lambda: _problem(problems_table.table(problem_id), PROBLEMS[problem_id], conventions,
                                           precision), None)
        if problem is not None:
            problems.append(problem)
    manual_table = top.table("manual")
    manual = []
    for item_id in manual_table.data:
        manual_table.used.add(item_id)
        item = attempt(lambda: _manual(manual_table.table(item_id), item_id), None)
        if item is not None:
            manual.append(item)
    limits = attempt(lambda: _limits(top.table("limits")), Limits())
    late = attempt(lambda: read_policy(top.table("late")), LatePolicy())
    title = attempt(lambda: top.get("title", str), "")
    legacy_seed = attempt(lambda: top.number("seed", None, 0, whole=True) if "seed" in top.data else None, None)
    device = attempt(lambda: top.choice("device", "auto", ("auto", "cpu", "cuda")), "auto")
    no_packages: tuple[str, ...] = ()
    packages = attempt(lambda: _packages(top), no_packages)
    attempt(top.finish, None)
    if len(mistakes) == 1:
        raise mistakes[0]
    if mistakes:
        raise RubricError(path, "", f"{len(mistakes)} mistakes:\n" + "\n".join(
            "  - " + str(mistake).replace(f"{path}: ", "", 1).replace("\n", "\n    ") for mistake in mistakes))
    rubric = Rubric(
        path=path, schema_version=version, title=title, conventions=conventions, problems=tuple(problems),
        manual=tuple(manual), limits=limits, device=device, late=late, packages=packages, digest=hashlib.sha256(content).hexdigest(), raw=raw,
        legacy_seed=legacy_seed)
    if not rubric.problems:
        raise RubricError(path, "problems", "every problem is disabled; nothing would be graded automatically",
                          hint="enable at least one problem (enabled = true)")
    _check_across(path, rubric.problems, rubric.manual, conventions)
    return rubric


def validate_rubric(path: Path | str) -> list[str]:
    """Summary lines for `grader rubric validate` (a RubricError escapes for the CLI to print)."""
    from reference import PROBLEMS

    rubric = load_rubric(path)
    conventions = rubric.conventions
    lines = [f"{rubric.path}: valid (schema {rubric.schema_version})",
             f"  {rubric.title!r}, device {rubric.device}, {rubric.total_points:g} points",
             f"  conventions: padding {conventions.padding}, targets sum to one: {conventions.targets_sum_to_one}, "
             f"degenerate L = 0 / F = 0: {conventions.allow_degenerate}"]
    for problem in rubric.problems:
        catalog = PROBLEMS[problem.problem_id].catalog
        inactive = [entry.id for entry in catalog if not entry.applies(conventions)]
        lines.append(f"  {problem.problem_id:<9} {problem.points:g} points, {problem.function}() "
                     f"(+{len(problem.aliases)} aliases), {problem.cases.public} public + {problem.cases.hidden} "
                     f"hidden cases{' + stress' if problem.cases.stress else ''}, "
                     + (f"{problem.precision} precision (rtol {problem.tolerance[0]:g}, atol {problem.tolerance[1]:g}), "
                        if PROBLEMS[problem.problem_id].kind == "array" else "") + f"{len(problem.misconceptions)} "
                     f"misconceptions" + (f" ({', '.join(inactive)} inactive under these conventions)" if inactive else ""))
    for item in rubric.manual:
        lines.append(f"  {item.item_id:<9} {item.points:g} points, graded by a person: {item.title}")
    late = rubric.late
    if late.due is not None:
        after = f", no credit after {late.max_days:g} days" if late.max_days is not None else ""
        lines.append(f"  late:     due {late.due.isoformat()}, -{late.penalty_per_day:.0%} per started day, "
                     f"{late.grace_minutes:g} minutes' grace{after}")
    secret = default_secret_path(rubric.path)
    lines.append(f"  hidden cases: drawn from the course secret {secret}" + (
        "" if secret.exists() else " (not written yet: `grader init-course` or the first `grader run` writes it)"))
    if rubric.legacy_seed is not None:
        lines.append("  WARNING: " + legacy_seed_warning(rubric.path, rubric.legacy_seed, str(secret)))
    return lines
