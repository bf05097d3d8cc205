"""Why a student's function returned None, read from its source with `ast` (parsed, never run).

"A `return` statement is missing" is only true of a function with no `return` of a value; a
function that returns a variable still None, or a template whose body is `pass`, needs its own
sentence. Only the grader's own parser touches the text: no student code runs here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from grader.stages.diagnosis_templates import TEMPLATES
from grader.models import SourceUnit

#: Units longer than this are not parsed for a sentence (a 5 MB generated cell would cost the
#: grader's process a second for one word of feedback).
MAX_PARSED_CHARACTERS = 200_000


def find_function(units: Sequence[SourceUnit], name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The last top-level definition of `name` (a later cell redefines an earlier one)."""
    for unit in reversed(units):
        if len(unit.code) > MAX_PARSED_CHARACTERS or name not in unit.code:
            continue
        try:
            tree = ast.parse(unit.code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # a cell with a magic line, or one the loader skipped anyway
        found = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name == name]
        if found:
            return found[-1]
    return None


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """Every node of the function's body, not of functions, lambdas or classes defined in it."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _is_none(node: ast.AST | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _is_placeholder(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A body of only a docstring, `pass`, `...`, `return None` or `raise NotImplementedError`."""
    for statement in function.body:
        if isinstance(statement, ast.Pass) or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            continue
        if isinstance(statement, ast.Return) and _is_none(statement.value):
            continue
        return False
    return True


def returns_none_story(units: Sequence[SourceUnit], name: str | None) -> str:
    """The sentence for a function that returned None, as specific as its source allows."""
    function = find_function(units, name) if name else None
    if function is None:
        return TEMPLATES["returns_none_neutral"]
    if _is_placeholder(function):
        return TEMPLATES["returns_none_placeholder"]
    nodes = list(_own_nodes(function))
    valued = [node for node in nodes if isinstance(node, ast.Return) and not _is_none(node.value)]
    if not valued:
        prints = any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
                     for node in nodes)
        return TEMPLATES["returns_none_prints" if prints else "returns_none"]
    returned = {node.value.id for node in valued if isinstance(node.value, ast.Name)}
    set_to_none = sorted(target.id for node in nodes if isinstance(node, ast.Assign) and _is_none(node.value)
                         for target in node.targets if isinstance(target, ast.Name) and target.id in returned)
    if set_to_none:
        return TEMPLATES["returns_none_variable"].format(variable=set_to_none[0])
    return TEMPLATES["returns_none_neutral"]
