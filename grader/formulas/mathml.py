"""The formula as read, written as MathML from the grader's own tree (offline, no script).

Browsers render MathML Core natively, so the student page shows the reading as mathematics
beside the raw text without loading a renderer. Every piece of text is escaped: a formula is
student input, and `<script>` in it must stay text.
"""

from __future__ import annotations

from html import escape

from grader.formulas import nodes
from grader.formulas.nodes import Node

FUNCTION_NAMES = {"exp": "exp", "log": "log", "diag": "diag", "softmax": "softmax", "sqrt": "√"}


def identifier(name: str) -> str:
    if "_" in name:
        base, label = name.split("_", 1)
        return f"<msub><mi>{escape(base)}</mi><mi>{escape(label)}</mi></msub>"
    return f"<mi>{escape(name)}</mi>"


def grouped(node: Node) -> str:
    """`node` in brackets when it is a sum or a difference (inside a product or a power)."""
    inner = render(node)
    if isinstance(node, (nodes.Add, nodes.Negate)):
        return f"<mrow><mo>(</mo>{inner}<mo>)</mo></mrow>"
    return inner


def render(node: Node) -> str:
    if isinstance(node, nodes.Number):
        return f"<mn>{escape(node.text or str(node.value))}</mn>"
    if isinstance(node, (nodes.Symbol, nodes.Index)):
        return identifier(node.name)
    if isinstance(node, nodes.Indexed):
        return f"<msub><mi>{escape(node.vector)}</mi>{render(node.index)}</msub>"
    if isinstance(node, nodes.Add):
        parts = [render(node.terms[0])]
        for term in node.terms[1:]:
            parts.append(f"<mo>−</mo>{grouped(term.operand)}" if isinstance(term, nodes.Negate) else f"<mo>+</mo>{render(term)}")
        return "<mrow>" + "".join(parts) + "</mrow>"
    if isinstance(node, nodes.Negate):
        return f"<mrow><mo>−</mo>{grouped(node.operand)}</mrow>"
    if isinstance(node, nodes.Multiply):
        return "<mrow>" + "<mo>·</mo>".join(grouped(factor) for factor in node.factors) + "</mrow>"
    if isinstance(node, nodes.Divide):
        return f"<mfrac>{render(node.numerator)}{render(node.denominator)}</mfrac>"
    if isinstance(node, nodes.Power):
        return f"<msup>{grouped(node.base)}{render(node.exponent)}</msup>"
    if isinstance(node, nodes.Function):
        if node.name == "transpose":
            return f"<msup>{grouped(node.argument)}<mi>T</mi></msup>"
        if node.name == "factorial":
            return f"<mrow>{grouped(node.argument)}<mo>!</mo></mrow>"
        if node.name == "exp":
            return f"<msup><mi>e</mi>{render(node.argument)}</msup>"
        name = FUNCTION_NAMES.get(node.name, node.name)
        return f"<mrow><mi>{escape(name)}</mi><mo>(</mo>{render(node.argument)}<mo>)</mo></mrow>"
    if isinstance(node, nodes.Sum):
        below = identifier(node.index or "")
        if node.lower is not None:
            below = f"<mrow>{below}<mo>=</mo>{render(node.lower)}</mrow>"
        elif node.excluded is not None:
            below = f"<mrow>{below}<mo>≠</mo>{render(node.excluded)}</mrow>"
        above = render(node.upper) if node.upper is not None else "<mi>K</mi>"
        return f"<mrow><munderover><mo>∑</mo>{below}{above}</munderover>{grouped(node.body)}</mrow>"
    if isinstance(node, nodes.Delta):
        return f"<msub><mi>δ</mi><mrow>{render(node.first)}{render(node.second)}</mrow></msub>"
    if isinstance(node, nodes.Cases):
        rows = "".join(f"<mtr><mtd>{render(value)}</mtd><mtd>{condition_text(condition)}</mtd></mtr>"  # type: ignore[arg-type]
                       for value, condition in node.branches)
        return f"<mrow><mo>{{</mo><mtable>{rows}</mtable></mrow>"
    if isinstance(node, nodes.Matrix):
        rows = "".join("<mtr>" + "".join(f"<mtd>{render(cell)}</mtd>" for cell in row) + "</mtr>" for row in node.rows)
        return f"<mrow><mo>[</mo><mtable>{rows}</mtable><mo>]</mo></mrow>"
    if isinstance(node, nodes.Dots):
        return "<mo>⋮</mo>"
    return f"<mtext>{escape(type(node).__name__)}</mtext>"


def condition_text(condition: nodes.Condition) -> str:
    if condition.relation is None:
        return "<mtext>otherwise</mtext>"
    relation = "=" if condition.relation == "=" else "≠"
    return f"<mrow>{render(condition.left)}<mo>{relation}</mo>{render(condition.right)}</mrow>"  # type: ignore[arg-type]


def to_mathml(node: Node) -> str:
    """A complete <math> element for the tree."""
    return f'<math display="block">{render(node)}</math>'
