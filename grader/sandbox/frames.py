"""The student's frames in a child: a traceback without the grader's, and where code was
stopped when its CPU time ran out. Both are plain text or plain data for the result channel.
"""

from __future__ import annotations

import os
import traceback
import types
from typing import Any


def student_frame(frame: traceback.FrameSummary, labels: set[str], workdir: str) -> traceback.FrameSummary | None:
    """The frame as the student knows it ("cell 4", "solution.py", "helpers/maths.py"), or None
    when it is not the student's code (the grader's own child.py, numpy's internals)."""
    if frame.filename in labels:
        return frame
    if workdir and frame.filename.startswith(workdir + os.sep):
        relative = os.path.relpath(frame.filename, workdir)  # a sibling module the student imported
        return traceback.FrameSummary(relative, frame.lineno, frame.name, line=frame.line)
    return None


STOP_STACK_FRAMES = 8  # innermost student frames a stop report lists


def stop_point(frame: types.FrameType | None, labels: set[str], workdir: str) -> dict:
    """Where the student's code was when its CPU time ran out: the innermost student frame
    (function, file, line), how many calls of that function were on the stack (a runaway
    recursion's depth), and the innermost student frames as text. Plain data only."""
    top: traceback.FrameSummary | None = None
    innermost_code = None
    depth = 0
    stack: list[list[Any]] = []  # [text, how many times in a row]
    while frame is not None:  # 180,000 frames deep is a loop, not a recursion, here
        code = frame.f_code
        summary = student_frame(traceback.FrameSummary(code.co_filename, frame.f_lineno, code.co_name,
                                                       lookup_line=False), labels, workdir)
        if summary is not None:
            if top is None:
                top, innermost_code = summary, code
            if code is innermost_code:
                depth += 1
            entry = f"{summary.filename}, line {summary.lineno}, in {summary.name}"
            if stack and stack[-1][0] == entry:
                stack[-1][1] += 1
            elif len(stack) < STOP_STACK_FRAMES:
                stack.append([entry, 1])
        frame = frame.f_back
    if top is None:
        return {"function": None, "file": None, "line": None, "depth": 0, "stack": []}
    return {"function": top.name, "file": top.filename, "line": top.lineno, "depth": depth,
            "stack": [text if count == 1 else f"{text} ({count:,} times in a row)" for text, count in stack]}


def student_traceback(error: BaseException, labels: set[str], workdir: str) -> str:
    """The traceback of `error` with the student's frames only, chained exceptions included.

    Students were shown tracebacks starting in /…/grader/sandbox/child.py: noise to them, and
    a map of the grader's files to anyone probing the sandbox."""
    formatted = traceback.TracebackException.from_exception(error)
    pending, seen = [formatted], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept = [student_frame(frame, labels, workdir) for frame in current.stack]
        current.stack = traceback.StackSummary.from_list([frame for frame in kept if frame is not None])
        pending.extend(chained for chained in (current.__cause__, current.__context__) if chained is not None)
        pending.extend(current.exceptions or ())
    return "".join(formatted.format())
