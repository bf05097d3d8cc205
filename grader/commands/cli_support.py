"""Helpers of the click layer: error presentation and NAME=VALUE arguments."""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from grader.errors import GraderError, UsageError
from grader.outputs.reports.formatting import written_out

F = TypeVar("F", bound=Callable[..., Any])

#: The exit status of a grader bug (sysexits' EX_SOFTWARE), whole-run or per submission.
INTERNAL_ERROR = 70
#: `grader run` finished, but some entries could not be read as a submission at all (a PDF, a
#: binary, a folder with no .py or .ipynb): sysexits' EX_DATAERR. 2 is a usage error, 3 a
#: sandbox that cannot start, 70 a grader fault (which wins when both happen).
SOME_UNREADABLE = 65

#: C0 controls but tab and newline, DEL and the C1 controls: what a terminal acts on. A
#: student's printed output, exception message or file name could clear the screen, rewrite a
#: "failed" line as "passed", or set the reader's clipboard (OSC 52) to a command.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


#: ... and, on a line that must stay one line (a student's id in a progress line), newline,
#: tab and the invisible format characters (U+202E turns the rest of a line around).
LINE_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    """`text` with every control character written out (ESC as \\x1b), so it only shows."""
    return written_out(text, CONTROLS)


def one_line(text: str) -> str:
    """`text` as a single visible line: a file named "a\\n::error::x.py" must not start a line
    of its own (a GitHub workflow command, a forged "[k/n] zed: 60/60")."""
    return written_out(text, LINE_BREAKERS)


def friendly_errors(function: F) -> F:
    """Instructor mistakes print their message; grader bugs print a short note, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            # A terminal closed (SIGHUP) or a `kill` (SIGTERM) stops a run as Ctrl-C does: the
            # pool and the sandboxes shut down, finished submissions are kept, nothing leaks.
            for number in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(number, signal.default_int_handler)
        try:
            return function(*args, **kwargs)
        except GraderError as error:
            click.secho(terminal_safe(f"error: {error}"), fg="red", err=True)  # it may quote a file name
            sys.exit(error.exit_code)
        except BrokenPipeError:  # `grader ... | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except KeyboardInterrupt:
            click.echo("interrupted: finished submissions are kept; run the same command to continue.", err=True)
            sys.exit(130)
        except Exception as error:  # a grader bug: keep the traceback out of the user's face
            log = Path(os.environ.get("TMPDIR", "/tmp")) / "grader-crash.log"
            log.write_text(traceback.format_exc(), encoding="utf-8")
            click.secho(f"internal error: {type(error).__name__}: {error}\n"
                        f"  This is a bug in the grader, not in your input. Details: {log}", fg="red", err=True)
            sys.exit(INTERNAL_ERROR)

    return wrapper  # type: ignore[return-value]


def parse_assignments(assignments: tuple[str, ...]) -> dict[str, int]:
    """`N=32 L=2` -> {"N": 32, "L": 2}; a malformed one is a UsageError naming it."""
    parsed: dict[str, int] = {}
    for assignment in assignments:
        name, sign, value = assignment.partition("=")
        if not sign or not name:
            raise UsageError(f"{assignment!r}: expected NAME=VALUE, e.g. N=32")
        try:
            parsed[name.strip()] = int(value)
        except ValueError:
            raise UsageError(f"{assignment!r}: {value!r} is not a whole number") from None
    return parsed
