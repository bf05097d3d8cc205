"""Map the symbols a student wrote to the problem's variables, noting every liberty taken.

Case matters (N and n are different variables); aliases come from the problem's defaults and
the rubric (`f` -> k, `n^{(o)}` -> n_out, `P` -> p, `\\hat{y}` -> p); index names are free.
`Pi` is p_i, never π nor P·i; `N2` in a count is N² only as a recorded, lossy guess (a
superscript lost in a PDF conversion).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from grader.formulas import nodes
from grader.formulas.grammar import FormulaError
from grader.formulas.nodes import Node
from grader.formulas.normalise import Note


@dataclass(frozen=True)
class Spec:
    """What a formula of one problem may mention and what it must come to."""

    problem_id: str
    shape: str  # "count", "vector" or "matrix"
    variables: tuple[str, ...] = ()  # scalar variables (counts): N, L, h, n
    vectors: tuple[str, ...] = ()  # vectors (arrays): z, p, y
    aliases: Mapping[str, str] = field(default_factory=dict)  # student's name -> variable

    @property
    def arrays(self) -> bool:
        return self.shape != "count"


INDEX_LETTERS = frozenset("ijklmnrst")
VECTOR_WORD = re.compile(r"^([A-Za-z])([ijklmnrstK]|[0-9]+)$")
LOST_SUPERSCRIPT = re.compile(r"^([A-Za-z]+?)([2-9])$")


class Mapper:
    """One formula's symbol mapping: resolves words, collects notes."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.notes: list[Note] = []
        self.bound: list[str] = []  # indices of the sums being read

    def note(self, text: str, lossy: bool = False) -> None:
        if all(existing.text != text for existing in self.notes):
            self.notes.append(Note(text, lossy))

    def name(self, written: str) -> str | None:
        """The variable or vector a written name stands for, or None."""
        target = self.spec.aliases.get(written, written)
        if target in self.spec.variables or target in self.spec.vectors or (self.spec.arrays and target == "K"):
            if target != written:
                self.note(f"read {written} as {target}")
            return target
        return None

    def index(self, node: Node) -> Node:
        """A node in an index position: a subscript, a delta's argument, a condition's side."""
        if isinstance(node, nodes.Word) and node.subscript is None and node.superscript is None:
            if node.text == "K" or (len(node.text) == 1 and node.text.isalpha()):
                return nodes.Symbol("K") if node.text == "K" else nodes.Index(node.text)
        if isinstance(node, nodes.Number):
            return node
        if isinstance(node, (nodes.Add, nodes.Negate, nodes.Multiply)):
            return self.resolve(node, in_index=True)
        raise FormulaError(f"cannot use {describe(node)} as an index")

    def resolve(self, node: Node, in_index: bool = False) -> Node:
        if isinstance(node, nodes.Word):
            return self.word(node, in_index)
        if isinstance(node, nodes.Add):
            return nodes.Add(tuple(self.resolve(term, in_index) for term in node.terms))
        if isinstance(node, nodes.Negate):
            return nodes.Negate(self.resolve(node.operand, in_index))
        if isinstance(node, nodes.Multiply):
            return nodes.Multiply(tuple(self.resolve(factor, in_index) for factor in node.factors))
        if isinstance(node, nodes.Divide):
            return nodes.Divide(self.resolve(node.numerator), self.resolve(node.denominator))
        if isinstance(node, nodes.Power):
            return self.power(self.resolve(node.base), node.exponent)
        if isinstance(node, nodes.Function):
            return nodes.Function(node.name, self.resolve(node.argument))
        if isinstance(node, nodes.Delta):
            return nodes.Delta(self.index(node.first), self.index(node.second))
        if isinstance(node, nodes.Sum):
            if node.index is not None and not (len(node.index) == 1 and node.index.isalpha()):
                raise FormulaError(f"a sum over {node.index!r}: an index is one letter")
            self.bound.append(node.index or "")
            try:
                return nodes.Sum(node.index, self.resolve(node.lower) if node.lower else None,
                                 self.resolve(node.upper) if node.upper else None, self.resolve(node.body),
                                 self.index(node.excluded) if node.excluded else None)
            finally:
                self.bound.pop()
        if isinstance(node, nodes.Cases):
            return nodes.Cases(tuple((self.resolve(value), self.condition(condition))  # type: ignore[misc]
                                     for value, condition in node.branches))
        if isinstance(node, nodes.Matrix):
            return nodes.Matrix(tuple(tuple(self.resolve(cell) for cell in row) for row in node.rows))
        if isinstance(node, (nodes.Number, nodes.Dots)):
            return node
        raise FormulaError(f"cannot read {describe(node)} here")

    def condition(self, condition: Node) -> nodes.Condition:
        assert isinstance(condition, nodes.Condition)
        if condition.relation is None:
            return condition
        return nodes.Condition(condition.relation, self.index(condition.left), self.index(condition.right))  # type: ignore[arg-type]

    def power(self, base: Node, exponent: Node) -> Node:
        if isinstance(exponent, nodes.Word) and exponent.text == "T" and exponent.subscript is None:
            return nodes.Function("transpose", base)
        return nodes.Power(base, self.resolve(exponent))

    def word(self, word: nodes.Word, in_index: bool) -> Node:
        text = word.text
        if word.hat:
            target = self.spec.aliases.get(f"hat({text})")
            if target is None:
                raise FormulaError(f"\\hat{{{text}}} names nothing in this problem")
            self.note(f"read \\hat{{{text}}} as {target}")
            base: Node = nodes.Symbol(target)
        elif text == "e" and word.superscript is not None and self.spec.arrays:
            return nodes.Function("exp", self.resolve(word.superscript))
        else:
            base = self.base(word)
        if word.superscript is not None and isinstance(base, nodes.Multiply):
            # `pp^T`, `dk^2`: the superscript belongs to the last letter only.
            return nodes.Multiply(base.factors[:-1] + (self.power(base.factors[-1], word.superscript),))
        if word.superscript is not None:
            return self.power(base, word.superscript)
        return base

    def base(self, word: nodes.Word) -> Node:
        """The word without its superscript: a variable, an element of a vector, or a product."""
        text, subscript = word.text, word.subscript
        if subscript is not None:
            label = subscript.text if isinstance(subscript, nodes.Word) and subscript.subscript is None else (
                str(subscript.value) if isinstance(subscript, nodes.Number) else None)
            if label is not None and self.name(f"{text}_{label}") is not None:
                return nodes.Symbol(self.name(f"{text}_{label}"))  # type: ignore[arg-type]
            target = self.name(text)
            if target in self.spec.vectors:
                return nodes.Indexed(target, self.index(subscript))  # type: ignore[arg-type]
            known = ", ".join(self.spec.variables or self.spec.vectors)
            raise FormulaError(f"{text!r} (in {text}_{{{label or '...'}}}) is not a variable of this problem "
                               f"(its variables: {known})")
        if text in self.bound:
            return nodes.Index(text)
        target = self.name(text)
        if target is not None:
            return nodes.Symbol(target)
        if self.spec.arrays:
            match = VECTOR_WORD.match(text)
            if match and self.name(match.group(1)) in self.spec.vectors:
                vector = self.name(match.group(1))
                self.note(f"read {text} as {vector}_{match.group(2)}")
                return nodes.Indexed(vector, self.index(nodes.Word(match.group(2)) if match.group(2).isalpha()  # type: ignore[arg-type]
                                                        else nodes.Number(int(match.group(2)), match.group(2))))  # type: ignore[arg-type]
        lost = LOST_SUPERSCRIPT.match(text)
        if lost and not self.spec.arrays:
            letters = self.base(nodes.Word(lost.group(1)))
            self.note(f"read {text} as {lost.group(1)}^{lost.group(2)} (a superscript lost?)", lossy=True)
            last = letters.factors[-1] if isinstance(letters, nodes.Multiply) else letters
            power = nodes.Power(last, nodes.Number(int(lost.group(2)), lost.group(2)))  # type: ignore[arg-type]
            return nodes.Multiply(letters.factors[:-1] + (power,)) if isinstance(letters, nodes.Multiply) else power
        if len(text) > 1 and text.isalpha():
            names = [self.name(letter) for letter in text]
            if all(names):
                self.note(f"read {text} as the product {'·'.join(names)}")  # type: ignore[arg-type]
                return nodes.Multiply(tuple(nodes.Symbol(name) for name in names))  # type: ignore[arg-type]
        known = ", ".join(self.spec.variables or self.spec.vectors)
        raise FormulaError(f"{text!r} is not a variable of this problem (its variables: {known})")


def describe(node: Node) -> str:
    return type(node).__name__.lower()


def map_symbols(tree: Node, spec: Spec) -> tuple[Node, list[Note]]:
    """`tree` with every written name replaced by the problem's variable, vector element or index."""
    mapper = Mapper(spec)
    return mapper.resolve(tree), mapper.notes


def free_indices(node: Node, bound: frozenset[str] = frozenset()) -> list[str]:
    """Index names not bound by an enclosing sum, in order of first appearance."""
    found: list[str] = []

    def walk(current: Node, bound: frozenset[str]) -> None:
        if isinstance(current, nodes.Index):
            if current.name not in bound and current.name not in found:
                found.append(current.name)
            return
        if isinstance(current, nodes.Sum):
            for part in (current.lower, current.upper):
                if part is not None:
                    walk(part, bound)
            inner = bound | ({current.index} if current.index else set())
            for part in (current.excluded, current.body):
                if part is not None:
                    walk(part, inner)
            return
        for child in nodes.children(current):
            walk(child, bound)

    walk(node, bound)
    return found


def rebind_sums(tree: Node, notes: list[Note]) -> Node:
    """`\\sum_{i=1}^k e^{Z_k}`: a sum whose index its body never uses, and whose body uses an
    index found nowhere else, is read as a sum over that index (a lossy, recorded guess)."""
    def fix(node: Node) -> Node:
        if isinstance(node, nodes.Sum):
            body = fix(node.body)
            used = free_indices(body)
            if node.index is not None and node.index not in used:
                elsewhere = free_indices(tree_without(tree, node))
                candidates = [name for name in used if name not in elsewhere]
                if len(candidates) == 1:
                    notes.append(Note(f"the sum runs over {node.index} but its body uses {candidates[0]}: "
                                      f"read it as a sum over {candidates[0]}", lossy=True))
                    return replace(node, index=candidates[0], body=body)
            return replace(node, body=body)
        if isinstance(node, nodes.Add):
            return nodes.Add(tuple(fix(term) for term in node.terms))
        if isinstance(node, nodes.Multiply):
            return nodes.Multiply(tuple(fix(factor) for factor in node.factors))
        if isinstance(node, nodes.Negate):
            return nodes.Negate(fix(node.operand))
        if isinstance(node, nodes.Divide):
            return nodes.Divide(fix(node.numerator), fix(node.denominator))
        return node

    return fix(tree)


def tree_without(tree: Node, removed: Node) -> Node:
    """`tree` with the sub-tree `removed` (by identity) replaced by a zero."""
    if tree is removed:
        return nodes.Number(0, "0")  # type: ignore[arg-type]
    if isinstance(tree, nodes.Add):
        return nodes.Add(tuple(tree_without(term, removed) for term in tree.terms))
    if isinstance(tree, nodes.Multiply):
        return nodes.Multiply(tuple(tree_without(factor, removed) for factor in tree.factors))
    if isinstance(tree, nodes.Negate):
        return nodes.Negate(tree_without(tree.operand, removed))
    if isinstance(tree, nodes.Divide):
        return nodes.Divide(tree_without(tree.numerator, removed), tree_without(tree.denominator, removed))
    return tree
