"""What each way a problem can end is called on a page: a word, a symbol and a colour family.

A timeout and an exception were both "Did not run", so an instructor could not tell a slow
solution from a broken one. Each error kind (models.ERROR_KINDS) now has its own words. Colour
never stands alone (WCAG 1.4.1): every outcome has a symbol and a word too. A new status
(`review`: not scored automatically, a person reads it) is one entry here, and a tone in
report.css if it needs a colour of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.models import ExecutionError, Verdict


@dataclass(frozen=True)
class Outcome:
    """How one outcome looks: `key` is also the word a table filter matches."""

    key: str  # "correct", "timeout", "review"
    label: str  # "Timed out"
    symbol: str  # "⚠"
    tone: str  # colour family in report.css: .status-<tone>, .tone-<tone>


#: Colour families, in the order charts stack them and tables count them.
TONES = ("correct", "partial", "incorrect", "missing", "error", "review")
#: The column heading of each tone's count on the dashboard.
TONE_HEADINGS = {
    "correct": "Correct", "partial": "Partial", "incorrect": "Incorrect", "missing": "Missing",
    "error": "Could not run", "review": "Needs review",
}
TONE_SYMBOLS = {"correct": "✓", "partial": "◐", "incorrect": "✗", "missing": "–", "error": "⚠", "review": "?"}

_STATUSES = {
    "correct": Outcome("correct", "Correct", "✓", "correct"),
    "partial": Outcome("partial", "Partly correct", "◐", "partial"),
    "incorrect": Outcome("incorrect", "Incorrect", "✗", "incorrect"),
    "missing": Outcome("missing", "Missing", "–", "missing"),
    "review": Outcome("review", "Needs review", "?", "review"),
}

#: Status "error", by what went wrong (models.ErrorKind).
_ERROR_LABELS = {
    "timeout": "Timed out",
    "memory": "Out of memory",
    "exception": "Raised an error",
    "crash": "Crashed",
    "exit": "Exited early",
    "syntax": "Syntax error",
    "invalid-output": "Invalid output",
    "unreadable": "Unreadable",
}


def error_outcome(error: ExecutionError | None) -> Outcome:
    """The outcome of a problem or submission that produced no usable value."""
    kind = error.kind if error else "error"
    return Outcome(kind, _ERROR_LABELS.get(kind, "Could not run"), "⚠", "error")


def outcome_of(verdict: Verdict) -> Outcome:
    """A verdict's outcome: its status, or for status "error" what went wrong."""
    if verdict.status == "error":
        return error_outcome(verdict.error)
    # An unknown status (a newer results.json) still gets a page, in the neutral tone.
    return _STATUSES.get(verdict.status, Outcome(verdict.status, verdict.status.capitalize(), "•", "missing"))


def error_sentence(error: ExecutionError) -> str:
    """"Timed out: cross_entropy_grad ran past 5 s", the words before the sandbox's message."""
    return f"{error_outcome(error).label}: {error.message}"
