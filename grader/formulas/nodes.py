"""The formula as read: a small tree of frozen nodes, built by the grammar, never evaluated there.

Parsing builds only these records (no arithmetic), so `10^{10^{10}}` parses in microseconds;
what it means is decided later, by `symbols.py` (names) and `evaluate.py` (values, bounded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union


@dataclass(frozen=True)
class Number:
    value: Fraction
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class Word:
    """A run of letters (and trailing digits) as written: `hxh` is already `h`, ×, `h` by now,
    but `Pi`, `Zk`, `N2`, `SUM` are words whose meaning depends on the problem."""

    text: str
    subscript: Node | None = None
    superscript: Node | None = None
    hat: bool = False


@dataclass(frozen=True)
class Symbol:
    """A problem variable (`N`, `n_out`, `K`) or an index name (`i`), after mapping."""

    name: str


@dataclass(frozen=True)
class Index:
    """An index name (`i`, `k`): free, bound by a sum, or compared in a case's condition."""

    name: str


@dataclass(frozen=True)
class Indexed:
    """An element of a vector: `p_i`, `z_1`, `y_K`."""

    vector: str
    index: Node


@dataclass(frozen=True)
class Add:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Multiply:
    factors: tuple[Node, ...]


@dataclass(frozen=True)
class Divide:
    numerator: Node
    denominator: Node


@dataclass(frozen=True)
class Power:
    base: Node
    exponent: Node


@dataclass(frozen=True)
class Function:
    """exp, log, diag, softmax, sqrt, factorial, transpose."""

    name: str
    argument: Node


@dataclass(frozen=True)
class Sum:
    index: str | None  # None: `\sum` with no index written (over the free index of the body)
    lower: Node | None
    upper: Node | None
    body: Node
    excluded: Node | None = None  # `\sum_{i \neq 1}`


@dataclass(frozen=True)
class Delta:
    """The Kronecker delta of two indices."""

    first: Node
    second: Node


@dataclass(frozen=True)
class Condition:
    """A case's condition: `i = k`, `i \\neq k`, or otherwise (relation None)."""

    relation: str | None  # "=", "!=" or None for otherwise
    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class Cases:
    branches: tuple[tuple[Node, Condition], ...]


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True)
class Dots:
    """`\\vdots`, `\\cdots`, `\\dots`: the elided middle of a vector written out."""


@dataclass(frozen=True)
class Subscripted:
    """A group with a subscript that is not a name: `(...)_{ik}`, kept for a clear refusal."""

    base: Node
    subscript: Node


@dataclass(frozen=True)
class Sequence:
    """A comma-separated list inside a subscript: `\\delta_{i,k}`."""

    items: tuple[Node, ...]


Node = Union[Number, Word, Symbol, Index, Indexed, Add, Negate, Multiply, Divide, Power, Function, Sum, Delta,
             Cases, Matrix, Dots, Subscripted, Sequence, Condition]


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of `node`, for walks (node counts, depth, free indices)."""
    if isinstance(node, Word):
        return tuple(part for part in (node.subscript, node.superscript) if part is not None)
    if isinstance(node, Indexed):
        return (node.index,)
    if isinstance(node, (Add, Multiply)):
        return node.terms if isinstance(node, Add) else node.factors
    if isinstance(node, Negate):
        return (node.operand,)
    if isinstance(node, Divide):
        return (node.numerator, node.denominator)
    if isinstance(node, Power):
        return (node.base, node.exponent)
    if isinstance(node, Function):
        return (node.argument,)
    if isinstance(node, Sum):
        return tuple(part for part in (node.lower, node.upper, node.excluded, node.body) if part is not None)
    if isinstance(node, Delta):
        return (node.first, node.second)
    if isinstance(node, Cases):
        return tuple(part for branch in node.branches for part in branch)
    if isinstance(node, Condition):
        return tuple(part for part in (node.left, node.right) if part is not None)
    if isinstance(node, Matrix):
        return tuple(cell for row in node.rows for cell in row)
    if isinstance(node, Subscripted):
        return (node.base, node.subscript)
    if isinstance(node, Sequence):
        return node.items
    return ()


def node_count(node: Node) -> int:
    """How many nodes the tree has (iteratively: a hostile tree must not overflow the stack)."""
    count, stack = 0, [node]
    while stack:
        current = stack.pop()
        count += 1
        stack.extend(children(current))
    return count
