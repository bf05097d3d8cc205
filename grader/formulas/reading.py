"""Read one written answer into a mapped tree, and evaluate it on a problem's cases.

`read` is text -> prepared text -> tree -> mapped tree, every step's liberties noted;
`evaluate_cases` gives one plain value per case (an int for a count, a float64-ready list
for an array) or the reason the formula has no value there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from grader.formulas import nodes
from grader.formulas.evaluate import DIGITS, CaseError, Evaluator, softmax
from grader.formulas.grammar import FormulaError, parse
from grader.formulas.nodes import Node
from grader.formulas.normalise import Note, prepare
from grader.formulas.symbols import Spec, free_indices, map_symbols, rebind_sums


@dataclass(frozen=True)
class Reading:
    """A formula as read: the text the grammar saw, the mapped tree, its free indices, notes."""

    text: str
    tree: Node
    free: tuple[str, ...]
    notes: tuple[Note, ...]

    @property
    def lossy(self) -> bool:
        return any(note.lossy for note in self.notes)


def read(raw: str | Sequence[str], spec: Spec) -> Reading:
    """The reading of `raw` (labelled pieces are summed), or FormulaError saying why it cannot be read."""
    pieces = [raw] if isinstance(raw, str) else list(raw)
    prepared = [prepare(piece) for piece in pieces]
    notes = [note for _, piece_notes in prepared for note in piece_notes]
    text = prepared[0][0] if len(prepared) == 1 else " + ".join(f"({piece_text})" for piece_text, _ in prepared)
    if len(prepared) > 1:
        notes.append(Note(f"summed the {len(prepared)} labelled parts"))
    tree, mapping_notes = map_symbols(parse(text), spec)
    notes += mapping_notes
    if spec.arrays:
        if isinstance(tree, nodes.Matrix) and not any(row == (nodes.Dots(),) for row in tree.rows):
            notes.append(Note(f"the array is written out for K = {len(tree.rows)} only", lossy=True))
        tree = vector_template(tree, notes)
        tree = rebind_sums(tree, notes)
    free = tuple(free_indices(tree))
    wanted = {"count": 0, "vector": 1, "matrix": 2}[spec.shape]
    if len(free) > wanted:
        raise FormulaError(f"the answer has free indices {', '.join(free)}, but this problem's answer "
                           f"{'is a number' if wanted == 0 else f'has {wanted}'}")
    return Reading(text, tree, free, tuple(dict.fromkeys(notes)))


def substitute(node: Node, replacements: Mapping[object, Node]) -> Node:
    """`node` with each sub-tree equal to a key replaced (used for a vector's general row)."""
    if node in replacements:  # type: ignore[operator]
        return replacements[node]
    if isinstance(node, nodes.Indexed):
        return nodes.Indexed(node.vector, substitute(node.index, replacements))
    if isinstance(node, (nodes.Add, nodes.Multiply)):
        parts = tuple(substitute(part, replacements) for part in nodes.children(node))
        return nodes.Add(parts) if isinstance(node, nodes.Add) else nodes.Multiply(parts)
    if isinstance(node, nodes.Negate):
        return nodes.Negate(substitute(node.operand, replacements))
    if isinstance(node, nodes.Divide):
        return nodes.Divide(substitute(node.numerator, replacements), substitute(node.denominator, replacements))
    if isinstance(node, nodes.Power):
        return nodes.Power(substitute(node.base, replacements), substitute(node.exponent, replacements))
    if isinstance(node, nodes.Function):
        return nodes.Function(node.name, substitute(node.argument, replacements))
    return node


def vector_template(tree: Node, notes: list[Note]) -> Node:
    """A column vector written as first row, dots, last row: its general row, index i."""
    if not isinstance(tree, nodes.Matrix) or not any(row == (nodes.Dots(),) for row in tree.rows):
        return tree
    rows = [row for row in tree.rows if row != (nodes.Dots(),)]
    if len(rows) != 2 or any(len(row) != 1 for row in rows):
        raise FormulaError("a matrix with dots is read only as a column vector: first row, dots, last row")
    first, last = rows[0][0], rows[1][0]
    general = substitute(last, {nodes.Symbol("K"): nodes.Index("i")})
    if substitute(general, {nodes.Index("i"): nodes.Number(Fraction(1))}) != first:
        notes.append(Note("the vector's first row does not follow the pattern of its last: read the last row "
                          "as the general one", lossy=True))
    notes.append(Note("read the vector written with dots as its general row (index i)"))
    return general


def evaluate_cases(reading: Reading, spec: Spec, cases: Sequence[Mapping[str, object]]) -> list[object]:
    """One value per case: an int or float (counts), nested float lists (arrays), or a CaseError."""
    results: list[object] = []
    with mpmath.workdps(DIGITS):
        for arguments in cases:
            try:
                results.append(evaluate_case(reading, spec, arguments))
            except CaseError as error:
                results.append(error)
    return results


def evaluate_case(reading: Reading, spec: Spec, arguments: Mapping[str, object]) -> object:
    if not spec.arrays:
        evaluator = Evaluator({name: int(value) for name, value in arguments.items()}, {})  # type: ignore[call-overload]
        value = evaluator.count(reading.tree)
        return int(value) if value.denominator == 1 else float(value)
    logits = [mpmath.mpf(float(value)) for value in arguments["z"]]  # type: ignore[attr-defined]
    vectors = {"z": logits, "p": softmax(logits)}
    if "y" in arguments:
        vectors["y"] = [mpmath.mpf(float(value)) for value in arguments["y"]]  # type: ignore[attr-defined]
    evaluator = Evaluator({"K": len(logits)}, vectors)
    size = len(logits)
    if not reading.free:
        whole = evaluator.value(reading.tree)
        if not isinstance(whole, list):
            if size != 1:
                raise FormulaError("the answer is a single number, but this problem's answer is an array")
            whole = [[whole]]
        flat = [[float(element) for element in row] for row in whole]
        if spec.shape == "vector":
            if min(len(flat), len(flat[0])) != 1:
                raise FormulaError("the answer is a matrix, but this problem's answer is a vector")
            return [element for row in flat for element in row]
        return flat
    grid = []
    for row in range(1, size + 1):
        evaluator.indices = {reading.free[0]: row}
        if spec.shape == "vector":
            grid.append(scalar(evaluator.value(reading.tree)))
            continue
        cells = []
        for column in range(1, size + 1):
            evaluator.indices = {reading.free[0]: row, reading.free[1]: column}
            cells.append(scalar(evaluator.value(reading.tree)))
        grid.append(cells)  # type: ignore[arg-type]
    return grid


def scalar(value: object) -> float:
    if isinstance(value, list):
        raise FormulaError("an element of the answer is itself a vector or matrix")
    return float(value)  # type: ignore[arg-type]
