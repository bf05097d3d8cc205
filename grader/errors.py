"""One error hierarchy for instructor mistakes and grader faults; each knows its exit code.

Student failures are never exceptions (they are `ExecutionError` data). These are for the
person running the grader: every message says where the problem is and how to fix it, and
the CLI prints the message alone, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GraderError(Exception):
    """Base of every error the grader reports to a person."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(GraderError):
    """A command was called with arguments that cannot work (a missing folder, a bad flag)."""

    exit_code = 2


class RubricError(GraderError):
    """The rubric file is malformed: names the file, the key path, the bad value."""

    exit_code = 2

    def __init__(self, path: object, key: str, problem: str, *, hint: str = "") -> None:
        location = f"{path}: {key}" if key else f"{path}"
        super().__init__(f"{location}: {problem}", hint=hint)
        self.path = path
        self.key = key


class BundleError(GraderError):
    """A public bundle for `grader check` is unreadable or from another grader version."""

    exit_code = 2


class SubmissionsError(GraderError):
    """The submissions folder itself is unusable (not one student's work, the whole input)."""

    exit_code = 2


class GradebookError(GraderError):
    """The SQLite gradebook cannot be opened or belongs to another rubric."""

    exit_code = 2


class SandboxError(GraderError):
    """The sandbox itself failed (not a student's code): a grader or machine fault."""

    exit_code = 3


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' did you mean "x"?' suffix for a misspelt key or value, or '' when nothing is close."""
    choices = list(choices)
    if word.lower() in {choice.lower() for choice in choices}:  # "P3B" is "p3b", not "p3c"
        matches = [next(choice for choice in choices if choice.lower() == word.lower())]
    else:
        matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'did you mean "{matches[0]}"?' if matches else ""
