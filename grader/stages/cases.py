"""Generate cases: a problem of the answer key + the rubric + a student -> a `ProblemKey` of plain data.

This is the last stage that touches `reference/`: checking, diagnosis and scoring read only the
key, so `grader check` can grade from a public bundle without the answer key installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from grader.models import Case, CaseTag, CatalogEntry, Footprint, ParameterInfo, ProblemKey, Value, case_identity
from grader.rubric import ProblemRubric
from reference.closed_forms import closed_form
from reference.problem import Arguments, Conventions, CountProblem, Domain, InvalidConfiguration, Problem

#: How many draws per wanted hidden case before giving up on distinctness: a tiny domain
#: (an instructor who pins every parameter) cannot give twenty distinct cases, and must not hang.
DRAWS_PER_CASE = 50


def derive_seed(rubric_seed: int, student_id: str, problem_id: str) -> int:
    """A stable 64-bit seed per (rubric, student, problem): reruns agree, students differ.

    sha256, not Python's `hash`, which is salted per process and would change every run.
    """
    text = f"{rubric_seed}\x00{student_id}\x00{problem_id}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big")


def effective_domain(problem: Problem, domain: Domain | None) -> dict[str, tuple[float, float]]:
    """The problem's default ranges with the rubric's overrides on top."""
    return {**problem.default_domain, **(domain or {})}


def draw_hidden(problem: Problem, domain: Domain, conventions: Conventions, count: int,
                seed: int) -> list[Arguments]:
    """`count` distinct random cases (fewer only when the domain has fewer distinct cases)."""
    rng = np.random.default_rng(seed)
    found: list[Arguments] = []
    seen: set[tuple[object, ...]] = set()
    for _ in range(count * DRAWS_PER_CASE):
        if len(found) == count:
            break
        arguments = problem.draw(rng, domain, conventions)
        identity = case_identity(arguments)
        if identity not in seen:
            seen.add(identity)
            found.append(arguments)
    return found


def probe_cases(problem: Problem, base: Case, base_index: int, conventions: Conventions) -> list[Case]:
    """Neighbours of one case varying one parameter each, for sensitivity explanations."""
    if problem.kind == "array":
        return []
    probes = []
    for varied, arguments in problem.neighbours(base.arguments, conventions):
        try:
            if hasattr(problem, "validate"):
                problem.validate(arguments, conventions)  # type: ignore[attr-defined]
        except InvalidConfiguration:
            continue  # a neighbour outside valid input (a feature map shrinking to 0) is no case
        probes.append(Case(problem.id, arguments, "probe", varied=varied, base_index=base_index,
                           footprint=footprint_of(problem, arguments, conventions)))
    return probes


def catalog_entries(problem: Problem, problem_rubric: ProblemRubric) -> tuple[CatalogEntry, ...]:
    """The catalog as the student reads it: the rubric's feedback overrides the catalog's."""
    entries = []
    for entry in problem.catalog:
        policy = problem_rubric.misconceptions.get(entry.id)
        feedback = policy.feedback if policy is not None and policy.feedback else entry.feedback
        entries.append(CatalogEntry(entry.id, entry.title, feedback))
    return tuple(entries)


def expected_values(problem: Problem, cases: Sequence[Case], table_outputs: object,
                    conventions: Conventions) -> tuple[Value, ...]:
    """The reference's count per case, read from the variant table's first row (`()`)."""
    if problem.kind == "count":
        return tuple(int(value) for value in np.asarray(table_outputs)[0])
    # Modules: the reference knows the output shape as well as the count.
    return tuple(problem.reference(case.arguments, conventions) for case in cases)  # type: ignore[misc]


#: Array variant outputs on class-wide cases, keyed by (problem, conventions, case identities).
#: Bounded: a long-lived grader (a Dask worker) sees one rubric, so a handful of entries.
_SHARED_OUTPUTS: dict[tuple[object, ...], tuple[tuple[tuple[str, ...], ...], list[list[np.ndarray]]]] = {}
_SHARED_LIMIT = 64


def _shared_array_table(problem: Problem, conventions: Conventions,
                        cases: tuple[Case, ...]) -> tuple[tuple[tuple[str, ...], ...], list[list[np.ndarray]]]:
    """Array variants on the class-wide cases (public, stress), computed once per process."""
    cache_key = (problem.id, id(problem), conventions, tuple(case_identity(c.arguments) for c in cases))
    cached = _SHARED_OUTPUTS.get(cache_key)
    if cached is None:
        table = problem.variant_table([case.arguments for case in cases], conventions)
        outputs = [[np.asarray(value, dtype=np.float64) for value in row]
                   for row in table.outputs]  # type: ignore[attr-defined]
        for row in outputs:
            for value in row:
                value.setflags(write=False)  # shared between students' keys: nobody may change it
        if len(_SHARED_OUTPUTS) >= _SHARED_LIMIT:
            _SHARED_OUTPUTS.clear()
        cached = _SHARED_OUTPUTS[cache_key] = (table.combinations, outputs)
    return cached


#: Per (problem, conventions): the combinations and their mistake flags, which do not depend
#: on the cases. Enumerating Problem 2's ~1000 combinations costs milliseconds; a key must not.
_COUNT_FLAGS: dict[tuple[object, ...], tuple[tuple[tuple[str, ...], ...], dict[str, np.ndarray]]] = {}


def count_table(problem: Problem, cases: Sequence[Arguments],
                conventions: Conventions) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """`CountProblem.variant_table` with the case-independent part computed once per process."""
    if not isinstance(problem, CountProblem) or type(problem).variant_table is not CountProblem.variant_table:
        table = problem.variant_table(cases, conventions)  # a problem with its own table
        return table.combinations, np.asarray(table.outputs)
    cache_key = (problem.id, id(problem), conventions)
    if cache_key not in _COUNT_FLAGS:
        combinations = problem.combinations(conventions)
        flags = {entry.id: np.array([[entry.id in combination] for combination in combinations])
                 for entry in problem.catalog}
        _COUNT_FLAGS[cache_key] = (combinations, flags)
    combinations, flags = _COUNT_FLAGS[cache_key]
    arguments = {name: np.array([[int(case[name]) for case in cases]], dtype=np.int64)
                 for name in problem.parameter_names}
    outputs = np.broadcast_to(problem.count(arguments, flags, conventions),
                              (len(combinations), len(cases))).astype(np.int64)
    return combinations, outputs


class DeferredArrayOutputs(Sequence[list[np.ndarray]]):
    """Array variant outputs (combination -> case -> float64 array), each row computed on first read.

    Array variants are Python functions called once per case and combination, the dominant
    cost of a key; most students answer right and their diagnosis never reads the table, and a
    wrong one is usually told apart on the class-wide cases (`shared_row`, from a per-process
    cache) before any hidden case of a combination is computed.
    """

    def __init__(self, problem: Problem, combinations: tuple[tuple[str, ...], ...],
                 shared_rows: Sequence[Sequence[np.ndarray]], tail: Sequence[Arguments]) -> None:
        self._problem = problem
        self._combinations = combinations
        self._shared_rows = shared_rows
        self._tail = list(tail)
        self._rows: dict[int, list[np.ndarray]] = {}

    @property
    def shared_count(self) -> int:
        """How many leading cases are class-wide (their rows cost nothing to read)."""
        return len(self._shared_rows[0]) if self._shared_rows else 0

    def shared_row(self, index: int) -> Sequence[np.ndarray]:
        return self._shared_rows[index]

    def __len__(self) -> int:
        return len(self._combinations)

    def __getitem__(self, index: int) -> list[np.ndarray]:  # type: ignore[override]
        if index not in self._rows:
            tail = self._problem.variant_row(self._combinations[index], self._tail) if self._tail else []  # type: ignore[attr-defined]
            self._rows[index] = list(self._shared_rows[index]) + tail
        return self._rows[index]


def variant_table(problem: Problem, cases: Sequence[Case], shared: int,
                  conventions: Conventions) -> tuple[tuple[tuple[str, ...], ...], object, tuple[Value, ...]]:
    """Every combination on every case, and the expected values (the `()` row).

    For arrays the first `shared` (class-wide) cases come from a per-process cache, the
    reference on the hidden cases is computed now, and the other variants only when read.
    """
    if problem.kind != "array":
        combinations, outputs = count_table(problem, [case.arguments for case in cases], conventions)
        return combinations, outputs, expected_values(problem, cases, outputs, conventions)
    if shared:
        combinations, head_rows = _shared_array_table(problem, conventions, tuple(cases[:shared]))
    else:
        combinations, head_rows = problem.combinations(conventions), [[] for _ in problem.combinations(conventions)]  # type: ignore[attr-defined]
    tail = [case.arguments for case in cases[shared:]]
    with np.errstate(all="ignore"):
        tail_expected = [np.asarray(problem.reference(arguments, conventions), dtype=np.float64)
                         for arguments in tail]
    deferred = DeferredArrayOutputs(problem, combinations, head_rows, tail)
    return combinations, deferred, tuple(head_rows[0]) + tuple(tail_expected)


def make_key(problem: Problem, problem_rubric: ProblemRubric, conventions: Conventions,
             cases: Sequence[Case], shared: int = 0) -> ProblemKey:
    """A key over exactly these cases: expected values, variant table, catalog, policy data."""
    combinations, outputs, expected = variant_table(problem, cases, shared, conventions)
    return ProblemKey(
        problem_id=problem.id,
        title=problem.title,
        kind=problem.kind,
        function=problem_rubric.function or problem.function,
        aliases=tuple(problem_rubric.aliases) or tuple(problem.aliases),
        parameters=tuple(ParameterInfo(p.name, p.meaning, p.one_more) for p in problem.parameters),
        cases=tuple(cases),
        expected=expected,
        combinations=combinations,
        variant_outputs=outputs,
        catalog=catalog_entries(problem, problem_rubric),
        tolerance=tuple(problem_rubric.tolerance),  # type: ignore[arg-type]
        closed_form=closed_form(problem.id, conventions),
        precision=problem_rubric.precision,
    )


def footprint_of(problem: Problem, arguments: Arguments, conventions: Conventions) -> Footprint | None:
    """The case's largest tensor as plain data, or None (arrays; arguments it cannot size)."""
    if type(problem).footprint is Problem.footprint:
        return None  # no case of this problem is large (the arrays): not even a call
    try:
        found = problem.footprint(arguments, conventions)
    except (InvalidConfiguration, KeyError, TypeError, ValueError):
        return None
    return Footprint(*found) if found is not None else None


def _tagged(problem: Problem, arguments: Iterable[Arguments], tag: CaseTag,
            conventions: Conventions | None = None) -> list[Case]:
    return [Case(problem.id, values, tag,
                 footprint=footprint_of(problem, values, conventions) if conventions is not None else None)
            for values in arguments]


def _with_probes(problem: Problem, cases: list[Case], base_index: int | None,
                 conventions: Conventions) -> list[Case]:
    if base_index is None:
        return cases
    return cases + probe_cases(problem, cases[base_index], base_index, conventions)


def build_key(problem: Problem, problem_rubric: ProblemRubric, conventions: Conventions, *,
              student_id: str, seed: int, tags: Sequence[CaseTag] = ("hidden", "stress"),
              speculative_shrink: bool = False) -> ProblemKey:
    """One student's key: public (if asked), hidden and stress cases, then probes.

    The hidden cases come from a seed derived from (rubric seed, student, problem), so a table
    of answers copied from a classmate fails, and a rerun draws the same cases. With
    `speculative_shrink`, the shrink ladder of the first hidden case rides along (tagged
    "shrink", never scored): a wrong answer is then shrunk without a second sandbox run.
    """
    counts = problem_rubric.cases
    shared_cases: list[Case] = []
    if "public" in tags:
        shared_cases += _tagged(problem, problem.public_cases(conventions)[:counts.public], "public", conventions)
    if "stress" in tags and counts.stress:
        shared_cases += _tagged(problem, problem.stress_cases(conventions), "stress", conventions)
    hidden: list[Case] = []
    if "hidden" in tags and counts.hidden > 0:
        domain = effective_domain(problem, problem_rubric.domain)
        drawn = draw_hidden(problem, domain, conventions, counts.hidden,
                            derive_seed(seed, student_id, problem.id))
        hidden = _tagged(problem, drawn, "hidden", conventions)
    # Class-wide cases first so array variants on them come from the cache; probes last.
    cases = shared_cases + hidden
    base_index = len(shared_cases) if hidden else (0 if cases else None)
    cases = _with_probes(problem, cases, base_index, conventions)
    if speculative_shrink and hidden:
        first = len(shared_cases)
        cases += [Case(problem.id, candidate.arguments, "shrink", base_index=first, footprint=candidate.footprint)
                  for candidate in shrink_ladder(problem, cases[first], problem_rubric.domain, conventions)]
    return make_key(problem, problem_rubric, conventions, cases, shared=len(shared_cases))


def public_key(problem: Problem, problem_rubric: ProblemRubric, conventions: Conventions) -> ProblemKey:
    """The key `grader check` uses: the fixed public cases, the stress cases and probes."""
    return build_key(problem, problem_rubric, conventions, student_id="", seed=0,
                     tags=("public", "stress"))


def shrink_candidates(problem: Problem, case: Case, domain: Domain | None,
                      conventions: Conventions) -> list[Case]:
    """Smaller valid cases than `case` (most aggressive first), tagged "shrink"; no sandbox here."""
    candidates = problem.simpler(case.arguments, effective_domain(problem, domain), conventions)
    size = problem.size(case.arguments)
    # No footprint: shrink candidates are smaller than a case that already ran.
    return [Case(problem.id, arguments, "shrink") for arguments in candidates if problem.size(arguments) < size]


def shrink_ladder(problem: Problem, case: Case, domain: Domain | None, conventions: Conventions,
                  *, width: int = 1, limit: int = 12) -> list[Case]:
    """Two levels of shrink candidates at once (the candidates, then the first `width`
    candidates' own), deduplicated: one sandbox call then shrinks as far as two rounds would."""
    first = shrink_candidates(problem, case, domain, conventions)
    found: dict[tuple[object, ...], Case] = {}
    for candidate in [*first, *(c for parent in first[:width]
                                for c in shrink_candidates(problem, parent, domain, conventions))]:
        found.setdefault(case_identity(candidate.arguments), candidate)
    return list(found.values())[:limit]


def key_for_cases(problem: Problem, problem_rubric: ProblemRubric, conventions: Conventions,
                  cases: Sequence[Case]) -> ProblemKey:
    """A key over given cases (shrink candidates), checked like any other."""
    return make_key(problem, problem_rubric, conventions, list(cases))
