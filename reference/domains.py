"""Helpers shared by the counting problems: integer domains, validation, shrinking, neighbours.

Counts take whole-number arguments drawn from inclusive ranges; these helpers keep the rules
(which bound applies, what "one step simpler" means) in one place for p1, p2 and p2-torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from reference.problem import Arguments, Conventions, Domain, InvalidConfiguration


def integer_range(domain: Domain, name: str, lowest: int) -> tuple[int, int]:
    """The inclusive integer range of `name`, never below `lowest` (a rubric may say [0, 4])."""
    low, high = domain[name]
    low_int, high_int = max(int(np.ceil(low)), lowest), int(np.floor(high))
    if high_int < low_int:
        raise InvalidConfiguration(f"the domain of {name} is [{low}, {high}], which holds no whole "
                                   f"number >= {lowest}; widen it in the rubric")
    return low_int, high_int


def draw_integer(rng: np.random.Generator, domain: Domain, name: str, lowest: int) -> int:
    """A uniform whole number from the domain of `name` (inclusive bounds)."""
    low, high = integer_range(domain, name, lowest)
    return int(rng.integers(low, high + 1))


def whole_arguments(arguments: Arguments, names: Sequence[str]) -> dict[str, int]:
    """The arguments as Python ints; a missing, fractional or non-numeric one is invalid input."""
    values: dict[str, int] = {}
    for name in names:
        if name not in arguments:
            raise InvalidConfiguration(f"argument {name} is missing")
        value = arguments[name]
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidConfiguration(f"{name} = {value!r} is not a number") from None
        if not number.is_integer():
            raise InvalidConfiguration(f"{name} = {value!r} is not a whole number")
        values[name] = int(number)
    return values


def require_at_least(values: Mapping[str, int], minimums: Mapping[str, int]) -> None:
    """Raise InvalidConfiguration naming the first argument below its minimum."""
    for name, minimum in minimums.items():
        if values[name] < minimum:
            raise InvalidConfiguration(f"{name} = {values[name]} is below its minimum {minimum}")


def lowest_values(conventions: Conventions, degenerate: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """Each parameter's smallest valid value: 0 for layer counts under `allow_degenerate`."""
    return {name: (0 if conventions.allow_degenerate else 1) if name in degenerate else 1 for name in names}


def shrink_candidates(arguments: Arguments, domain: Domain, lowest: Mapping[str, int],
                      is_valid: Callable[[dict[str, int]], bool]) -> list[Arguments]:
    """Valid cases smaller than `arguments`, most aggressive first: every parameter at its low
    bound, then one parameter at a time to its low bound, halved, and minus one."""
    current = {name: int(arguments[name]) for name in lowest}  # type: ignore[call-overload]
    floors = {name: integer_range(domain, name, lowest[name])[0] if name in domain else lowest[name]
              for name in lowest}
    floors = {name: min(floors[name], current[name]) for name in lowest}
    candidates: list[dict[str, int]] = [dict(floors)]
    for step in (lambda name: floors[name], lambda name: max(floors[name], current[name] // 2),
                 lambda name: max(floors[name], current[name] - 1)):
        for name in lowest:
            candidate = {**current, name: step(name)}
            candidates.append(candidate)
    found: list[Arguments] = []
    seen: set[tuple[int, ...]] = set()
    for candidate in candidates:
        identity = tuple(candidate.values())
        if candidate == current or identity in seen or not is_valid(candidate):
            continue
        seen.add(identity)
        found.append(candidate)
    return found


#: Steps tried, in order, when varying one parameter: the nearest valid neighbour wins. +1 alone
#: never varied k under "same" padding (k + 1 is even) nor N where pooling must stay whole.
NEIGHBOUR_STEPS = (1, 2, -1, -2, 4, -4, 8, -8, 16, -16)


def domain_neighbours(arguments: Arguments, names: Sequence[str],
                      is_valid: Callable[[dict[str, int]], bool]) -> list[tuple[str, Arguments]]:
    """Each parameter moved by the smallest step that keeps the case valid (k by 2 under
    "same" padding, N by 2^L to keep every pooling whole), named by the parameter varied."""
    current = {name: int(arguments[name]) for name in names}  # type: ignore[call-overload]
    neighbours: list[tuple[str, Arguments]] = []
    for name in names:
        for step in NEIGHBOUR_STEPS:
            candidate = {**current, name: current[name] + step}
            if candidate[name] >= 0 and is_valid(candidate):
                neighbours.append((name, candidate))
                break
    return neighbours
