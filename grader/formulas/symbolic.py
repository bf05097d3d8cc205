"""Symbolic equality with sympy, as supporting evidence only (the verdict comes from the cases).

Counts become polynomials in the problem's variables (powers like 2^L kept symbolic); softmax
answers are compared element by element at K = 3, with e_j = exp(z_j) as positive symbols so
that p_j = e_j / (e_1 + e_2 + e_3) is a rational function sympy cancels exactly. Runs in the
formula worker, whose CPU, memory and wall-clock limits time-box it (sympy can take minutes).
"""

from __future__ import annotations

from typing import Any

import sympy

from grader.formulas import nodes
from grader.formulas.grammar import FormulaError
from grader.formulas.nodes import Node
from grader.formulas.reading import Reading
from grader.formulas.symbols import Spec

SIZE = 3  # the vector length of the element-wise comparison


class Translator:
    """A mapped tree as a sympy expression, with index values fixed for one element."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.indices: dict[str, Any] = {}
        self.exponentials = sympy.symbols(f"e1:{SIZE + 1}", positive=True)
        self.logits = sympy.symbols(f"z1:{SIZE + 1}", real=True)
        self.targets = sympy.symbols(f"y1:{SIZE + 1}", real=True)
        total = sum(self.exponentials)
        self.vectors = {"z": self.logits, "y": self.targets, "p": [e / total for e in self.exponentials]}

    def index(self, node: Node) -> int:
        value = self.expression(node)
        if not (value.is_Integer and 1 <= int(value) <= SIZE):
            raise FormulaError("an index outside the vector")
        return int(value)

    def expression(self, node: Node) -> Any:
        if isinstance(node, nodes.Number):
            return sympy.Rational(node.value.numerator, node.value.denominator)
        if isinstance(node, nodes.Symbol):
            if node.name == "K" and self.spec.arrays:
                return sympy.Integer(SIZE)
            if node.name in self.vectors:
                return sympy.Matrix(self.vectors[node.name])
            return sympy.Symbol(node.name, positive=True)
        if isinstance(node, nodes.Index):
            return sympy.Integer(self.indices[node.name]) if node.name in self.indices else sympy.Symbol(node.name, integer=True)
        if isinstance(node, nodes.Indexed):
            return self.vectors[node.vector][self.index(node.index) - 1]
        if isinstance(node, nodes.Add):
            return sympy.Add(*[self.expression(term) for term in node.terms])
        if isinstance(node, nodes.Negate):
            return -self.expression(node.operand)
        if isinstance(node, nodes.Multiply):
            result = self.expression(node.factors[0])
            for factor in node.factors[1:]:
                result = result * self.expression(factor)
            return result
        if isinstance(node, nodes.Divide):
            return self.expression(node.numerator) / self.expression(node.denominator)
        if isinstance(node, nodes.Power):
            return self.expression(node.base) ** self.expression(node.exponent)
        if isinstance(node, nodes.Function):
            return self.function(node)
        if isinstance(node, nodes.Sum):
            return self.sum(node)
        if isinstance(node, nodes.Delta):
            return sympy.KroneckerDelta(self.expression(node.first), self.expression(node.second))
        if isinstance(node, nodes.Cases):
            for value, condition in node.branches:
                assert isinstance(condition, nodes.Condition)
                if condition.relation is None:
                    return self.expression(value)
                equal = self.index(condition.left) == self.index(condition.right)  # type: ignore[arg-type]
                if equal == (condition.relation == "="):
                    return self.expression(value)
        raise FormulaError(f"no symbolic form for a {type(node).__name__.lower()}")

    def function(self, node: nodes.Function) -> Any:
        argument = self.expression(node.argument)
        if node.name == "exp":
            # exp(z_j) is e_j; other exponents stay exponentials of logits.
            return sympy.exp(argument).subs({sympy.exp(z): e for z, e in zip(self.logits, self.exponentials)})
        if node.name == "log":
            return sympy.log(argument)
        if node.name == "sqrt":
            return sympy.sqrt(argument)
        if node.name == "factorial":
            return sympy.factorial(argument)
        if node.name == "transpose":
            return argument.T
        if node.name == "diag":
            return sympy.diag(*list(argument))
        if node.name == "softmax":
            return sympy.Matrix(self.vectors["p"])
        raise FormulaError(f"no symbolic form for {node.name}")

    def sum(self, node: nodes.Sum) -> Any:
        if node.index is None:
            raise FormulaError("a sum without an index")
        lower = self.expression(node.lower) if node.lower is not None else sympy.Integer(1)
        upper = self.expression(node.upper) if node.upper is not None else sympy.Integer(SIZE)
        if self.spec.arrays:
            total = sympy.Integer(0)
            for value in range(int(lower), int(upper) + 1):
                self.indices[node.index] = value
                if node.excluded is not None and value == self.index(node.excluded):
                    continue
                total += self.expression(node.body)
            self.indices.pop(node.index, None)
            return total
        symbol = sympy.Symbol(node.index, integer=True)
        return sympy.summation(self.expression(node.body).subs(sympy.Symbol(node.index, positive=True), symbol),
                               (symbol, lower, upper))

    def elements(self, reading: Reading) -> list[Any]:
        """The answer's elements: one expression for a count, K or K² for arrays."""
        if not self.spec.arrays:
            return [self.expression(reading.tree)]
        if not reading.free:
            value = self.expression(reading.tree)
            return list(value) if isinstance(value, sympy.MatrixBase) else [value]
        found = []
        for row in range(1, SIZE + 1):
            if len(reading.free) == 1:
                self.indices = {reading.free[0]: row}
                found.append(self.expression(reading.tree))
                continue
            for column in range(1, SIZE + 1):
                self.indices = {reading.free[0]: row, reading.free[1]: column}
                found.append(self.expression(reading.tree))
        return found


def compare(student: Reading, reference: Reading, spec: Spec) -> str:
    """sympy's word on whether the student's formula equals the closed form."""
    try:
        mine, theirs = Translator(spec).elements(student), Translator(spec).elements(reference)
    except (FormulaError, TypeError, ValueError, AttributeError) as error:
        return f"sympy: no symbolic comparison ({error})"
    if len(mine) != len(theirs):
        return "sympy: the formula has a different shape from the answer"
    for index, (left, right) in enumerate(zip(mine, theirs)):
        difference = sympy.simplify(sympy.expand(left - right, power_exp=True))
        if difference != 0:
            shown = sympy.sstr(sympy.factor(difference)) if not spec.arrays else ""
            # A short difference teaches ("-h*(h + 1)": one hidden transition too few); a long one is noise.
            detail = f" (formula − answer = {shown})" if shown and len(shown) <= 120 else ""
            return f"sympy: differs from the answer's closed form{detail}"
    return "sympy: equal to the answer's closed form"
