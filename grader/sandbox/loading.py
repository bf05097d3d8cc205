"""Run a submission's code statement by statement, so that a failing statement costs only itself.

Each unit (a notebook cell, a module) is parsed and its top-level statements run one at a
time in one shared namespace, as a person stepping through the notebook would. A statement
that raises (`N = int(input("N? "))`, an import of a package the sandbox lacks) is skipped and
reported with its place, its error and the names it would have bound; a later statement that
needs those names fails on its own. Loading still stops for what must stop it: a module that
does not parse, `sys.exit`, and running out of memory. This runs in the sandbox child.
"""

from __future__ import annotations

import __future__
import ast
import dis
import functools
import linecache
import operator
import os
import types
from dataclasses import dataclass
from typing import Any

#: Units longer than this run whole, as one statement: parsing into Python objects costs about
#: 500 bytes of memory per character (a 4.8 MB module of `x=1` lines took 2.7 GB), and no
#: honest notebook cell or module comes close.
MAX_SPLIT_CHARACTERS = 200_000
MAX_NOTES = 50  # notes about loading a child sends (the grader refuses more than 200)
FUTURE_MASK = functools.reduce(operator.or_, (getattr(__future__, name).compiler_flag
                                               for name in __future__.all_feature_names))
STORE_NAME = dis.opmap["STORE_NAME"]


def rebinds_a_definition(unit: types.CodeType) -> bool:
    """Whether a unit binds the name of a function it defines more than once (a later import or
    assignment), read from its bytecode: then its statements run one at a time so the
    student's own function can be kept."""
    defined = {constant.co_name for constant in unit.co_consts if isinstance(constant, types.CodeType)}
    if not defined:
        return False
    raw, names = unit.co_code, unit.co_names
    stored = [names[argument] for operation, argument in zip(raw[0::2], raw[1::2])
              if operation == STORE_NAME and argument < len(names)]
    return len(stored) != len(set(stored)) and any(stored.count(name) > 1 for name in defined)


def failing_line(error: BaseException, unit: types.CodeType) -> int | None:
    """The line of `unit` that was running when `error` was raised."""
    line, trace = None, error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code is unit:
            line = trace.tb_lineno
        trace = trace.tb_next
    return line


def stop_loading(label: str, error: BaseException) -> dict:
    """What still stops loading: sys.exit, and running out of memory."""
    if isinstance(error, SystemExit):
        return {"kind": "exit", "message": f"{label} called sys.exit({error.code!r}) while loading",
                "exception_type": "SystemExit", "detail": ""}
    return {"kind": "memory", "message": f"{label} ran out of memory while loading",
            "exception_type": "MemoryError", "detail": ""}


def bound_names(statement: ast.stmt) -> list[str]:
    """The names a top-level statement binds (def, class, assignment, import, for/with targets),
    nested blocks included, the bodies of functions, classes and comprehensions not."""
    names: list[str] = []
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"]
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return list(dict.fromkeys(names))


def first_line(code: str, statement: ast.stmt) -> str:
    """The statement's first line as written, shortened for a note."""
    lines = code.splitlines()
    text = lines[statement.lineno - 1].strip() if 0 < statement.lineno <= len(lines) else ""
    return text if len(text) <= 60 else text[:57] + "..."


def why(error: BaseException) -> str:
    """The error as a note says it, with the reason a grading run differs from a notebook."""
    text = f"{type(error).__name__}: {str(error)[:200]}"
    if isinstance(error, EOFError):
        text += " (input() gets no keyboard input when grading)"
    elif isinstance(error, ModuleNotFoundError):
        text += " (not installed where submissions are graded)"
    return text


@dataclass(frozen=True)
class Skipped:
    """A statement that raised and was skipped."""

    place: str  # "cell 3, line 2" or "solution.py, line 7"
    line: str
    error: str
    names: tuple[str, ...]

    @property
    def note(self) -> str:
        defines = f"; it would have defined {', '.join(self.names[:8])}" if self.names else ""
        return f"{self.place}: skipped `{self.line}` ({self.error}){defines}"


class Loader:
    """Runs the units of one submission into `namespace`; remembers what was skipped and which
    callables the student wrote themselves (so a later import cannot replace them)."""

    def __init__(self, namespace: dict[str, Any], units: list[list[str]], kind: str) -> None:
        self.namespace, self.units, self.kind = namespace, units, kind
        self.notes: list[str] = []
        self.skipped: dict[str, Skipped] = {}  # name -> the skipped statement that would have bound it
        self.written: dict[str, Any] = {}  # name -> the function the student's own `def` bound last
        self.flags = 0  # `from __future__ import annotations` applies to the code after it

    def run(self) -> dict | None:
        """Every unit in order; an error record when loading had to stop, else None."""
        for label, code in self.units:
            linecache.cache[label] = (len(code), None, code.splitlines(True), label)
            error = self.run_unit(label, code)
            if error is not None:
                return error
        if len(self.notes) > MAX_NOTES:  # an honest notebook of 201 failing plot cells was refused
            self.notes[MAX_NOTES - 1:] = [f"... and {len(self.notes) - MAX_NOTES + 1} more notes like these"]
        return None

    def run_unit(self, label: str, code: str) -> dict | None:
        """One unit: run whole when nothing in it can go wrong (an ordinary module pays no more
        than before); from the statement after a failure on, and in a unit that rebinds one of
        its own functions (`from scipy.special import softmax` after `def softmax`), one
        statement at a time."""
        try:
            whole = compile(code, label, "exec", flags=self.flags, dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            line = getattr(error, "lineno", None)
            message = f"{label}, line {line}: {getattr(error, 'msg', None) or type(error).__name__}"
            if self.kind == "module":
                return {"kind": "syntax", "message": message, "exception_type": "SyntaxError", "detail": ""}
            self.notes.append(f"{message}; the cell was skipped")
            return None
        self.flags |= whole.co_flags & FUTURE_MASK  # as IPython does, for the cells after it too
        splittable = len(code) <= MAX_SPLIT_CHARACTERS
        if splittable and rebinds_a_definition(whole):
            return self.run_statements(label, code, None)
        try:
            exec(whole, self.namespace)
        except (SystemExit, MemoryError) as error:
            return stop_loading(label, error)
        except BaseException as error:  # the student's exception is data
            if not splittable:
                self.notes.append(f"{label} raised {why(error)}")
                return None
            self.remember_definitions(whole)  # those defined before the failure
            return self.run_statements(label, code, (failing_line(error, whole), error))
        self.remember_definitions(whole)
        return None

    def run_statements(self, label: str, code: str, failure: tuple[int | None, BaseException] | None) -> dict | None:
        """The unit's top-level statements one at a time; with `failure` (the line that raised
        and its error), that statement is reported and the run goes on after it."""
        try:
            statements = ast.parse(code, label).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None  # it compiled once; nothing more can be made of it
        start = 0
        if failure is not None:
            line, error = failure
            start = next((index for index, statement in enumerate(statements) if line is not None
                          and statement.lineno <= line <= (statement.end_lineno or statement.lineno)), 0)
            self.skip(label, code, statements[start], error)
            start += 1
        for statement in statements[start:]:
            stopped = self.run_statement(label, code, statement)
            if stopped is not None:
                return stopped
        return None

    def run_statement(self, label: str, code: str, statement: ast.stmt) -> dict | None:
        try:
            # A statement that parses may still not compile (`return` outside a function): it
            # is skipped like one that raises.
            compiled = compile(ast.Module(body=[statement], type_ignores=[]), label, "exec",
                               flags=self.flags, dont_inherit=True)
            exec(compiled, self.namespace)
        except (SystemExit, MemoryError) as error:
            return stop_loading(label, error)
        except BaseException as error:  # the student's exception is data: skip this statement only
            self.skip(label, code, statement, error)
            return None
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.written[statement.name] = self.namespace.get(statement.name)
        return None

    def skip(self, label: str, code: str, statement: ast.stmt, error: BaseException) -> None:
        skipped = Skipped(f"{label}, line {statement.lineno}", first_line(code, statement), why(error),
                          tuple(bound_names(statement)))
        self.notes.append(skipped.note)
        for name in skipped.names:
            self.skipped.setdefault(name, skipped)

    def remember_definitions(self, unit: types.CodeType) -> None:
        """The functions a unit run whole defined and still holds: a later unit may rebind them."""
        for constant in unit.co_consts:
            if isinstance(constant, types.CodeType):
                value = self.namespace.get(constant.co_name)
                if isinstance(value, types.FunctionType) and value.__code__ is constant:
                    self.written[constant.co_name] = value

    def student_wrote(self, function: Any, workdir: str) -> bool:
        """Whether `function`'s code comes from the submission (a cell, the module, a sibling
        file) rather than a library: scipy's softmax is imported, not written."""
        try:
            return self.written_in_submission(function, workdir)
        except Exception:  # an object whose attributes raise is no function of theirs to find
            return False

    def written_in_submission(self, function: Any, workdir: str) -> bool:
        seen = 0
        while hasattr(function, "__wrapped__") and seen < 10:  # functools.wraps, decorators
            function, seen = function.__wrapped__, seen + 1
        code = getattr(function, "__code__", None) or getattr(getattr(function, "__func__", None), "__code__", None)
        if code is None:
            code = getattr(getattr(type(function), "__call__", None), "__code__", None)
        if code is None:
            return False
        filename = code.co_filename
        return any(filename == label for label, _ in self.units) or bool(
            workdir and filename.startswith(workdir + os.sep))
