"""Evaluate a mapped formula on one case, within bounds that hostile formulas cannot pass.

Counts are exact (fractions of Python integers, every intermediate capped at `MAX_BITS`), so
`10^{10^{10}}` is refused before it is computed, not after it fills memory. Softmax answers
are evaluated with 50-digit mpmath numbers: exp(757) is an ordinary number there, so no
float64 overflow is ever blamed on a formula (naive-exp-overflow is about code, not algebra).
Every node costs a step; `MAX_STEPS` bounds the work of one case (nested sums).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import mpmath

from grader.formulas import nodes
from grader.formulas.grammar import FormulaError
from grader.formulas.nodes import Node

#: Largest intermediate of a count, in bits (a count of 2^63 has 63): 10^{10^{10}} stops here.
MAX_BITS = 4_096
MAX_STEPS = 200_000
#: Largest exponent (absolute) of a softmax-problem power: mpmath stores the exponent of
#: 10^(10^9) exactly, but 10^(10^(10^9)) would need a billion-digit exponent.
MAX_EXPONENT = 10**6
MAX_FACTORIAL = 1_000
DIGITS = 50


class CaseError(Exception):
    """The formula has no value on this case (a division by zero, the log of a negative)."""


Matrix = list[list[mpmath.mpf]]


class Evaluator:
    """Evaluates one tree on one case; `steps` counts the work done."""

    def __init__(self, symbols: Mapping[str, int], vectors: Mapping[str, Sequence[mpmath.mpf]]) -> None:
        self.symbols = symbols
        self.vectors = vectors
        self.indices: dict[str, int] = {}
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise FormulaError(f"evaluating the formula took over {MAX_STEPS:,} steps on one case; it is not read further")

    # ------------------------------------------------------------------ counts (exact)

    def count(self, node: Node) -> Fraction:
        self.step()
        if isinstance(node, nodes.Number):
            return Fraction(node.value)
        if isinstance(node, nodes.Symbol):
            return Fraction(self.symbols[node.name])
        if isinstance(node, nodes.Index):
            if node.name in self.indices:
                return Fraction(self.indices[node.name])
            raise FormulaError(f"the index {node.name} is not bound by a sum")
        if isinstance(node, nodes.Add):
            return capped(sum((self.count(term) for term in node.terms), Fraction(0)))
        if isinstance(node, nodes.Negate):
            return -self.count(node.operand)
        if isinstance(node, nodes.Multiply):
            product = Fraction(1)
            for factor in node.factors:
                product = capped(product * self.count(factor))
            return product
        if isinstance(node, nodes.Divide):
            denominator = self.count(node.denominator)
            if denominator == 0:
                raise CaseError("the formula divides by zero on this case")
            return self.count(node.numerator) / denominator
        if isinstance(node, nodes.Power):
            return exact_power(self.count(node.base), self.count(node.exponent))
        if isinstance(node, nodes.Function) and node.name == "factorial":
            argument = self.count(node.argument)
            if argument.denominator != 1 or not 0 <= argument <= MAX_FACTORIAL:
                raise FormulaError(f"a factorial of {describe_number(argument)}; factorials beyond {MAX_FACTORIAL:,}! are not computed")
            result = Fraction(1)
            for multiplier in range(2, int(argument) + 1):
                self.step()
                result = capped(result * multiplier)
            return result
        if isinstance(node, nodes.Sum):
            return self.count_sum(node)
        raise FormulaError(f"a {type(node).__name__.lower()} ({getattr(node, 'name', '')}) has no place in a count")

    def count_sum(self, node: nodes.Sum) -> Fraction:
        if node.index is None or node.lower is None or node.upper is None:
            raise FormulaError("a sum in a count needs its index and both bounds, as in \\sum_{i=1}^{L}")
        low, high = self.count(node.lower), self.count(node.upper)
        if low.denominator != 1 or high.denominator != 1 or high - low > 10_000:
            raise FormulaError(f"a sum from {describe_number(low)} to {describe_number(high)} is not computed")
        total = Fraction(0)
        for value in range(int(low), int(high) + 1):
            self.indices[node.index] = value
            total = capped(total + self.count(node.body))
        self.indices.pop(node.index, None)
        return total

    # ------------------------------------------------------------------ arrays (50 digits)

    def value(self, node: Node) -> mpmath.mpf | Matrix:
        self.step()
        if isinstance(node, nodes.Number):
            return mpmath.mpf(node.value.numerator) / node.value.denominator
        if isinstance(node, nodes.Symbol):
            if node.name in self.vectors:
                return [[element] for element in self.vectors[node.name]]
            return mpmath.mpf(self.symbols[node.name])
        if isinstance(node, (nodes.Index, nodes.Indexed)):
            return self.element(node)
        if isinstance(node, nodes.Add):
            total = self.value(node.terms[0])
            for term in node.terms[1:]:
                total = combine(total, self.value(term), lambda a, b: a + b, "add")
            return total
        if isinstance(node, nodes.Negate):
            return scale(self.value(node.operand), -1)
        if isinstance(node, nodes.Multiply):
            product = self.value(node.factors[0])
            for factor in node.factors[1:]:
                product = multiply(product, self.value(factor))
            return product
        if isinstance(node, nodes.Divide):
            denominator = self.value(node.denominator)
            if isinstance(denominator, list):
                raise FormulaError("a division by a vector or a matrix")
            if denominator == 0:
                raise CaseError("the formula divides by zero on this case")
            return scale(self.value(node.numerator), 1 / denominator)
        if isinstance(node, nodes.Power):
            return self.power(node)
        if isinstance(node, nodes.Function):
            return self.function(node)
        if isinstance(node, nodes.Sum):
            return self.array_sum(node)
        if isinstance(node, nodes.Delta):
            return mpmath.mpf(int(self.index_value(node.first) == self.index_value(node.second)))
        if isinstance(node, nodes.Cases):
            for result, condition in node.branches:
                if self.holds(condition):  # type: ignore[arg-type]
                    return self.value(result)
            raise CaseError("no case of the cases environment applies")
        raise FormulaError(f"a {type(node).__name__.lower()} cannot be evaluated here")

    def index_value(self, node: Node) -> int:
        if isinstance(node, nodes.Index):
            if node.name not in self.indices:
                raise FormulaError(f"the index {node.name} is used but never bound")
            return self.indices[node.name]
        number = self.value(node)
        if isinstance(number, list) or number != int(number):
            raise FormulaError("an index that is not a whole number")
        return int(number)

    def element(self, node: Node) -> mpmath.mpf:
        if isinstance(node, nodes.Index):
            raise FormulaError(f"the index {node.name} stands alone, outside a subscript")
        assert isinstance(node, nodes.Indexed)
        vector = self.vectors[node.vector]
        position = self.index_value(node.index)
        if not 1 <= position <= len(vector):
            raise CaseError(f"{node.vector}_{position} is outside a vector of length {len(vector)}")
        return vector[position - 1]

    def holds(self, condition: nodes.Condition) -> bool:
        if condition.relation is None:
            return True
        equal = self.index_value(condition.left) == self.index_value(condition.right)  # type: ignore[arg-type]
        return equal if condition.relation == "=" else not equal

    def power(self, node: nodes.Power) -> mpmath.mpf:
        base, exponent = self.value(node.base), self.value(node.exponent)
        if isinstance(base, list) or isinstance(exponent, list):
            raise FormulaError("a power of a vector or a matrix")
        if abs(exponent) > MAX_EXPONENT or (abs(base) > 1 and abs(exponent) * mpmath.log(abs(base), 2) > 2**40):
            raise FormulaError(f"a power with an exponent of {mpmath.nstr(exponent, 5)} is beyond the bounds read")
        result = mpmath.power(base, exponent)
        if isinstance(result, mpmath.mpc):
            raise CaseError("a negative number to a fractional power on this case")
        return result

    def function(self, node: nodes.Function) -> mpmath.mpf | Matrix:
        argument = self.value(node.argument)
        if node.name == "transpose":
            return [list(column) for column in zip(*argument)] if isinstance(argument, list) else argument
        if node.name == "diag":
            if not isinstance(argument, list) or min(len(argument), len(argument[0])) != 1:
                raise FormulaError("diag of something that is not a vector")
            flat = [element for row in argument for element in row]
            return [[flat[row] if row == column else mpmath.mpf(0) for column in range(len(flat))] for row in range(len(flat))]
        if node.name == "softmax":
            if not isinstance(argument, list):
                raise FormulaError("softmax of a single number")
            flat = [element for row in argument for element in row]
            return [[element] for element in softmax(flat)]
        if isinstance(argument, list):
            raise FormulaError(f"{node.name} of a vector")
        if node.name == "exp":
            if abs(argument) > 10**15:
                raise FormulaError(f"exp of {mpmath.nstr(argument, 5)} is beyond the bounds read")
            return mpmath.exp(argument)
        if node.name in ("log", "sqrt"):
            if argument < 0 or (node.name == "log" and argument == 0):
                raise CaseError(f"{node.name} of {mpmath.nstr(argument, 5)} on this case")
            return mpmath.log(argument) if node.name == "log" else mpmath.sqrt(argument)
        raise FormulaError(f"{node.name} has no place in this answer")

    def array_sum(self, node: nodes.Sum) -> mpmath.mpf | Matrix:
        if node.index is None:
            raise FormulaError("a sum without an index")
        low = self.index_value(node.lower) if node.lower is not None else 1
        length = len(next(iter(self.vectors.values())))
        high = self.index_value(node.upper) if node.upper is not None else length
        if high - low > 10_000:
            raise FormulaError(f"a sum of {high - low + 1:,} terms is not computed")
        saved = self.indices.get(node.index)
        total: mpmath.mpf | Matrix = mpmath.mpf(0)
        for position in range(low, high + 1):
            self.indices[node.index] = position
            if node.excluded is not None and position == self.index_value(node.excluded):
                continue
            total = combine(total, self.value(node.body), lambda a, b: a + b, "add")
        if saved is None:
            self.indices.pop(node.index, None)
        else:
            self.indices[node.index] = saved
        return total


def capped(number: Fraction) -> Fraction:
    if max(number.numerator.bit_length(), number.denominator.bit_length()) > MAX_BITS:
        raise FormulaError(f"an intermediate value passes 2^{MAX_BITS:,} (over 1,233 digits); no count is that large")
    return number


def exact_power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise FormulaError(f"a count raised to the fractional power {exponent}")
    bits = max(base.numerator.bit_length(), base.denominator.bit_length(), 1)
    if abs(base) > 1 and (abs(exponent) > MAX_BITS or (bits - 1) * abs(exponent) > MAX_BITS):
        raise FormulaError(f"a power of {describe_number(base)} to the {describe_number(exponent)} would pass "
                           f"2^{MAX_BITS:,} (over 1,233 digits); it is not computed")
    if base == 0 and exponent < 0:
        raise CaseError("zero to a negative power on this case")
    return capped(base ** int(exponent)) if abs(base) > 1 or exponent >= 0 else capped(base ** int(exponent))


def describe_number(number: Fraction) -> str:
    """A number for a message, short even when it is huge."""
    if number.denominator == 1 and number.numerator.bit_length() > 60:
        return f"a number of about {int(number.numerator.bit_length() * 0.30103):,} digits"
    return str(number)


def softmax(values: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    top = max(values)
    exponentials = [mpmath.exp(value - top) for value in values]
    total = mpmath.fsum(exponentials)
    return [value / total for value in exponentials]


def scale(value: mpmath.mpf | Matrix, factor: mpmath.mpf) -> mpmath.mpf | Matrix:
    if isinstance(value, list):
        return [[element * factor for element in row] for row in value]
    return value * factor


def combine(left: mpmath.mpf | Matrix, right: mpmath.mpf | Matrix, operation, word: str) -> mpmath.mpf | Matrix:  # type: ignore[no-untyped-def]
    if isinstance(left, list) != isinstance(right, list):
        if not isinstance(left, list) and left == 0:
            return right  # a sum's start
        raise FormulaError(f"cannot {word} a number and a vector or matrix")
    if isinstance(left, list) and isinstance(right, list):
        if (len(left), len(left[0])) != (len(right), len(right[0])):
            raise FormulaError(f"cannot {word} a {len(left)}×{len(left[0])} and a {len(right)}×{len(right[0])} array")
        return [[operation(a, b) for a, b in zip(row_a, row_b)] for row_a, row_b in zip(left, right)]
    return operation(left, right)


def multiply(left: mpmath.mpf | Matrix, right: mpmath.mpf | Matrix) -> mpmath.mpf | Matrix:
    if not isinstance(left, list):
        return scale(right, left)
    if not isinstance(right, list):
        return scale(left, right)
    if len(left[0]) != len(right):
        raise FormulaError(f"cannot multiply a {len(left)}×{len(left[0])} by a {len(right)}×{len(right[0])} array")
    return [[mpmath.fsum(left[row][inner] * right[inner][column] for inner in range(len(right)))
             for column in range(len(right[0]))] for row in range(len(left))]
