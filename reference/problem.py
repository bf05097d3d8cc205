"""What a problem of the answer key is: its interface, reference, catalog and case domain.

The grader reaches problems only through these classes and the registry in `__init__`.
Counting problems write their reference once, as a function of *mistake flags*: the reference
is every flag off, and each catalog entry switches the terms it varies. Combinations then
compose term by term for free, and the whole catalog is evaluated on every case in one
vectorised call (flags broadcast over combinations, arguments over cases).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Arguments = Mapping[str, "int | float | np.ndarray"]
#: Inclusive ranges per parameter, e.g. {"N": (2, 64)}; the rubric may override them.
Domain = Mapping[str, tuple[float, float]]
Kind = Literal["count", "array", "module"]


class InvalidConfiguration(ValueError):
    """Arguments the reference rejects (a feature map that shrinks to 0): input, not a case."""


@dataclass(frozen=True)
class Conventions:
    """The rubric's settings that change a reference answer (PROBLEMS.md, Conventions)."""

    padding: Literal["same", "literal"] = "same"
    #: Problem 3(c): whether the rubric promises targets that sum to one.
    targets_sum_to_one: bool = True
    #: Allow L = 0 and F = 0 (the degenerate networks) in drawn cases.
    allow_degenerate: bool = False


def always(conventions: Conventions) -> bool:
    return True


@dataclass(frozen=True)
class Misconception:
    """One catalogued mistake: a public id, a title, and the feedback a student reads."""

    id: str
    title: str
    feedback: str  # why it is wrong and how to fix it
    #: Ids it cannot combine with (they vary the same quantity in incompatible ways).
    excludes: tuple[str, ...] = ()
    #: Only under some conventions (`same-size-for-any-k` needs literal padding).
    applies: Callable[[Conventions], bool] = always


@dataclass(frozen=True)
class Parameter:
    """An argument of the student's function, with the words explanations use for it."""

    name: str
    meaning: str  # "output nodes"
    one_more: str  # "adding one output node"


@dataclass(frozen=True)
class VariantTable:
    """Every catalog combination evaluated on a list of cases.

    `combinations[0]` is always `()`, the reference. For counts, `outputs` is an int64 array of
    shape (combinations, cases); for arrays, a list (per combination) of lists (per case) of
    float64 arrays.
    """

    combinations: tuple[tuple[str, ...], ...]
    outputs: object


@dataclass(frozen=True)
class ManualItem:
    """A rubric item a person grades (a written proof); the grader finds the student's text."""

    id: str
    title: str
    #: A regular expression matching the heading of the student's section ("3(a)").
    heading: str


class Problem(ABC):
    """A problem of the problem set, as the grader sees it."""

    id: str
    title: str
    function: str
    aliases: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    kind: Kind
    catalog: tuple[Misconception, ...]
    default_domain: Domain

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(parameter.name for parameter in self.parameters)

    def misconception(self, misconception_id: str) -> Misconception:
        for entry in self.catalog:
            if entry.id == misconception_id:
                return entry
        raise KeyError(misconception_id)

    @abstractmethod
    def reference(self, arguments: Arguments, conventions: Conventions) -> object:
        """The right answer for one case (int, float64 array, or mapping for modules)."""

    @abstractmethod
    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        """One random hidden case from the domain (valid input only)."""

    @abstractmethod
    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        """The fixed few cases `grader check` uses; small enough to reason about by hand."""

    @abstractmethod
    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        """Cases every run includes: large logits, K = 1, ties, extreme sizes."""

    @abstractmethod
    def variant_table(self, cases: Sequence[Arguments], conventions: Conventions) -> VariantTable:
        """Every catalog combination evaluated on every case."""

    @abstractmethod
    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        """Shrink candidates: valid cases smaller than `arguments`, most aggressive first."""

    def size(self, arguments: Arguments) -> float:
        """How big a case is to a person reading it; shrinking minimises this."""
        total = 0.0
        for value in arguments.values():
            total += float(np.size(value)) + float(np.sum(np.abs(value))) if isinstance(value, np.ndarray) else abs(float(value))
        return total

    def neighbours(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, Arguments]]:
        """Cases that vary one parameter by one step, for sensitivity explanations."""
        return []

    def footprint(self, arguments: Arguments, conventions: Conventions) -> Footprint | None:
        """The largest tensor a direct implementation of this case holds (a count's biggest
        layer, built with nn.Linear to be counted), so a case stopped by memory or time is
        explained by its size; None where no case is large."""
        return None


#: (values, formula in the problem's symbols, what they are): "3·224²·4096" weights of a layer.
Footprint = tuple[int, str, str]


def largest_layer(layers: Sequence[tuple[int, str, tuple[object, ...], str]]) -> Footprint:
    """The layer with the most values among (values, formula template, its arguments, what);
    only the winner's formula is written out (a key sizes every case of every student)."""
    values, template, arguments, what = max(layers, key=lambda layer: layer[0])  # type: ignore[arg-type, return-value]
    return values, template.format(*arguments), what


class CountProblem(Problem):
    """A problem whose answer is an exact integer written as a sum of terms with mistake flags."""

    kind: Kind = "count"

    @abstractmethod
    def count(self, arguments: Mapping[str, np.ndarray], mistakes: Mapping[str, np.ndarray],
              conventions: Conventions) -> np.ndarray:
        """The count with each flag in `mistakes` (bool arrays, broadcastable) switched on.

        `arguments` hold int64 arrays of shape (1, cases); `mistakes` hold bool arrays of
        shape (combinations, 1) for every catalog id. All-False is the reference.
        """

    @abstractmethod
    def terms(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, str, int]]:
        """The count term by term: (name, formula as PROBLEMS.md writes it, value)."""

    def reference(self, arguments: Arguments, conventions: Conventions) -> int:
        self.validate(arguments, conventions)
        table = self.variant_table([arguments], conventions, max_size=0)
        return int(table.outputs[0, 0])  # type: ignore[index]

    def validate(self, arguments: Arguments, conventions: Conventions) -> None:
        """Raise InvalidConfiguration for arguments that are not a case (override per problem)."""

    def combinations(self, conventions: Conventions, max_size: int | None = None) -> tuple[tuple[str, ...], ...]:
        """Every allowed set of catalog ids, smallest first, `()` (the reference) first of all."""
        ids = [entry.id for entry in self.catalog if entry.applies(conventions)]
        excluded = {(entry.id, other) for entry in self.catalog for other in entry.excludes}
        limit = len(ids) if max_size is None else min(max_size, len(ids))
        found: list[tuple[str, ...]] = []
        for size in range(limit + 1):
            for combination in itertools.combinations(ids, size):
                if any((a, b) in excluded or (b, a) in excluded
                       for a, b in itertools.combinations(combination, 2)):
                    continue
                found.append(combination)
        return tuple(found)

    def combination_flags(self, conventions: Conventions, max_size: int | None = None
                          ) -> tuple[tuple[tuple[str, ...], ...], Mapping[str, np.ndarray]]:
        """The combinations and their (combinations, 1) mistake flags, built once per conventions.

        Enumerating 2^10 subsets and their flags costs more than evaluating the count itself,
        and every student's key needs the same ones.
        """
        cache = self.__dict__.setdefault("_combination_flags", {})
        key = (conventions, max_size)
        if key not in cache:
            combinations = self.combinations(conventions, max_size)
            mistakes = {entry.id: np.array([[entry.id in combination] for combination in combinations])
                        for entry in self.catalog}
            for flags in mistakes.values():
                flags.setflags(write=False)
            cache[key] = (combinations, mistakes)
        return cache[key]

    def variant_table(self, cases: Sequence[Arguments], conventions: Conventions,
                      max_size: int | None = None) -> VariantTable:
        combinations, mistakes = self.combination_flags(conventions, max_size)
        arguments = {name: np.array([[int(case[name]) for case in cases]], dtype=np.int64)
                     for name in self.parameter_names}
        outputs = np.broadcast_to(self.count(arguments, mistakes, conventions),
                                  (len(combinations), len(cases))).astype(np.int64)
        return VariantTable(combinations=combinations, outputs=outputs)


#: An array variant: the answer a mistaken student would give, from the arguments and the
#: softmax the student used (stable, or naive for combinations with `naive-exp-overflow`).
Softmax = Callable[[np.ndarray], np.ndarray]
ArrayVariant = Callable[[Arguments, Softmax], np.ndarray]

#: The one array misconception that composes with the others: it changes the softmax used.
NAIVE_EXP = "naive-exp-overflow"


def stable_softmax(z: np.ndarray) -> np.ndarray:
    shifted = np.exp(z - np.max(z))
    return shifted / np.sum(shifted)


def naive_softmax(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        exponentials = np.exp(z)
        return exponentials / np.sum(exponentials)


class ArrayProblem(Problem):
    """A problem whose answer is a float64 array compared within tolerance.

    `variants` maps each catalog id except `naive-exp-overflow` to a function of
    (arguments, softmax); the reference is `variants[""]`. `naive-exp-overflow` alone is the
    reference computed with the naive softmax, and it pairs with every other variant.
    """

    kind: Kind = "array"
    variants: Mapping[str, ArrayVariant]

    def reference(self, arguments: Arguments, conventions: Conventions) -> np.ndarray:
        return np.asarray(self.variants[""](arguments, stable_softmax), dtype=np.float64)

    def combinations(self, conventions: Conventions) -> tuple[tuple[str, ...], ...]:
        ids = [entry.id for entry in self.catalog if entry.applies(conventions) and entry.id != NAIVE_EXP]
        found: list[tuple[str, ...]] = [()]
        has_naive = any(entry.id == NAIVE_EXP for entry in self.catalog)
        if has_naive:
            found.append((NAIVE_EXP,))
        found.extend((identifier,) for identifier in ids)
        if has_naive:
            found.extend((NAIVE_EXP, identifier) for identifier in ids)
        return tuple(found)

    def variant_row(self, combination: tuple[str, ...], cases: Sequence[Arguments]) -> list[np.ndarray]:
        """One combination's answers on every case (a row of the variant table)."""
        softmax = naive_softmax if NAIVE_EXP in combination else stable_softmax
        named = [identifier for identifier in combination if identifier != NAIVE_EXP]
        variant = self.variants[named[0] if named else ""]
        with np.errstate(all="ignore"):
            return [np.asarray(variant(case, softmax), dtype=np.float64) for case in cases]

    def variant_table(self, cases: Sequence[Arguments], conventions: Conventions) -> VariantTable:
        combinations = self.combinations(conventions)
        return VariantTable(combinations=combinations,
                            outputs=[self.variant_row(combination, cases) for combination in combinations])
