"""The grammar of the notation students write, and the tree it builds (no evaluation here).

A LALR grammar (lark): linear time, no ambiguity, so a hostile formula cannot make the parser
explore exponentially many readings. Implicit multiplication (`Pi (δik − Pk)`, `dk^2`) is a
product of adjacent factors; `\\sum` takes the product that follows it as its body, as a
reader does. Static guards run before the parser (length, bracket depth) and after it (node
count, literal size), each failure a `FormulaError` with a reason a person understands.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import lark

from grader.formulas import nodes
from grader.formulas.nodes import Node

GRAMMAR = r"""
?start: expr

?expr: expr "+" term          -> add
     | expr "-" term          -> subtract
     | term

?term: "-" term               -> negate
     | "+" term
     | product

?product: plain
        | plain bigsum        -> multiply
        | plain "/" bigsum    -> divide
        | bigsum

?plain: plain TIMES factor    -> multiply
      | plain "/" factor      -> divide
      | plain factor          -> multiply
      | factor

bigsum: SUM sub? upper? product
upper: "^" sup

?factor: postfix
       | postfix "^" sup      -> power

?postfix: atom
        | postfix "!"         -> factorial

?atom: NUMBER                 -> number
     | word
     | "(" expr ")"
     | "{" expr "}"
     | FRAC "{" expr "}" "{" expr "}"   -> fraction
     | fname atom             -> function
     | fname bigsum           -> function
     | DELTA sub              -> delta
     | DELTA WORD             -> delta_word
     | cases
     | matrix
     | DOTS                   -> dots

fname: EXP | LOG | DIAG | SOFTMAX | SQRT

word: WORD sub?
    | HAT "{" WORD "}" sub?   -> hat_word
    | HAT WORD sub?           -> hat_word

sub: "_" "{" subbody "}"
   | "_" WORD
   | "_" NUMBER

?subbody: expr
        | expr "=" expr       -> equation
        | expr NEQ expr       -> inequation
        | expr ("," expr)+    -> sequence

?sup: "{" expr "}"
    | WORD                    -> word
    | NUMBER                  -> number

cases: CASES_BEGIN branch (ROWS branch)* ROWS? CASES_END
branch: expr ","? "&" condition
      | expr "," condition
condition: (IF | FOR)? expr "=" expr      -> equal
         | (IF | FOR)? expr NEQ expr      -> unequal
         | (OTHERWISE | ELSE)             -> otherwise

matrix: MATRIX_BEGIN row (ROWS row)* ROWS? MATRIX_END
row: expr ("&" expr)*

TIMES: "*" | "\\times" | "\\cdot"
SUM: "\\sum"
FRAC: "\\frac"
DELTA: "\\delta"
HAT: "\\hat" | "\\bar" | "\\tilde"
DOTS: "\\dots" | "\\cdots" | "\\vdots" | "\\ldots" | "\\ddots"
NEQ: "\\neq"
ROWS: "\\\\"
CASES_BEGIN: "\\begin{cases}"
CASES_END: "\\end{cases}"
MATRIX_BEGIN: "\\begin{matrix}"
MATRIX_END: "\\end{matrix}"
EXP: "exp"
LOG: "log"
DIAG: "diag"
SOFTMAX: "softmax"
SQRT: "sqrt"
IF: "if"
FOR: "for"
OTHERWISE: "otherwise"
ELSE: "else"
NUMBER: /\d+(\.\d+)?/
WORD: /[A-Za-z]+[0-9]*/

%import common.WS
%ignore WS
"""


class FormulaError(Exception):
    """A formula that cannot be read or evaluated within bounds; the message says why."""


#: Bounds before and after parsing (research/formulas.md: a page-long answer is ~2,000 characters).
MAX_DEPTH = 40
MAX_NODES = 1_000
MAX_LITERAL_DIGITS = 30


def check_depth(text: str) -> None:
    depth = deepest = 0
    for character in text:
        if character in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif character in ")}]":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise FormulaError(f"brackets are nested {deepest:,} deep; formulas nested deeper than {MAX_DEPTH} are not read")


class Builder(lark.Transformer[lark.Token, Node]):
    """The parse tree as `nodes` records: structure only, no arithmetic."""

    def number(self, items: list[lark.Token]) -> Node:
        text = str(items[0])
        if len(text.replace(".", "")) > MAX_LITERAL_DIGITS:
            raise FormulaError(f"a number of {len(text):,} digits; numbers longer than {MAX_LITERAL_DIGITS} digits are not read")
        return nodes.Number(Fraction(text), text)

    def word(self, items: list[object]) -> Node:
        subscript = items[1] if len(items) > 1 else None
        return nodes.Word(str(items[0]), subscript=subscript)  # type: ignore[arg-type]

    def hat_word(self, items: list[object]) -> Node:
        subscript = items[2] if len(items) > 2 else None
        return nodes.Word(str(items[1]), subscript=subscript, hat=True)  # type: ignore[arg-type]

    def sub(self, items: list[object]) -> Node:
        item = items[0]
        if isinstance(item, lark.Token):
            return self.number([item]) if item.type == "NUMBER" else nodes.Word(str(item))
        return item  # type: ignore[return-value]

    # Chains are flattened (a + b + c is one Add of three terms): 900 terms stay one level deep.
    def add(self, items: list[Node]) -> Node:
        left = items[0].terms if isinstance(items[0], nodes.Add) else (items[0],)
        return nodes.Add(left + (items[1],))

    def subtract(self, items: list[Node]) -> Node:
        return self.add([items[0], nodes.Negate(items[1])])

    def negate(self, items: list[Node]) -> Node:
        return nodes.Negate(items[0])

    def multiply(self, items: list[object]) -> Node:
        factors = [item for item in items if not isinstance(item, lark.Token)]
        left = factors[0].factors if isinstance(factors[0], nodes.Multiply) else (factors[0],)  # type: ignore[union-attr]
        return nodes.Multiply(left + tuple(factors[1:]))  # type: ignore[arg-type, operator]

    def divide(self, items: list[Node]) -> Node:
        return nodes.Divide(items[0], items[1])

    def fraction(self, items: list[object]) -> Node:
        return nodes.Divide(items[1], items[2])  # type: ignore[arg-type]

    def power(self, items: list[Node]) -> Node:
        base, exponent = items
        if isinstance(base, nodes.Word) and base.superscript is None:
            return nodes.Word(base.text, base.subscript, exponent, base.hat)
        return nodes.Power(base, exponent)

    def factorial(self, items: list[Node]) -> Node:
        return nodes.Function("factorial", items[0])

    def function(self, items: list[object]) -> Node:
        name = items[0]
        assert isinstance(name, lark.Tree)
        return nodes.Function(str(name.children[0]), items[1])  # type: ignore[arg-type]

    def delta(self, items: list[object]) -> Node:
        indices = items[1]
        if isinstance(indices, nodes.Sequence) and len(indices.items) == 2:
            return nodes.Delta(*indices.items)
        if isinstance(indices, nodes.Multiply) and len(indices.factors) == 2:
            return nodes.Delta(*indices.factors)
        if isinstance(indices, nodes.Word) and indices.superscript is None:
            return self.delta_word([lark.Token("DELTA", "\\delta"), lark.Token("WORD", indices.text)])
        raise FormulaError("a Kronecker delta needs two indices, as in \\delta_{ik}")

    def delta_word(self, items: list[lark.Token]) -> Node:
        letters = str(items[1])
        if len(letters) != 2:
            raise FormulaError(f"a Kronecker delta needs two indices; read {letters!r}")
        return nodes.Delta(nodes.Word(letters[0]), nodes.Word(letters[1]))

    def equation(self, items: list[Node]) -> Node:
        return nodes.Condition("=", items[0], items[1])

    def inequation(self, items: list[object]) -> Node:
        return nodes.Condition("!=", items[0], items[2])  # type: ignore[arg-type]

    def sequence(self, items: list[Node]) -> Node:
        return nodes.Sequence(tuple(items))

    def bigsum(self, items: list[object]) -> Node:
        body = items[-1]
        upper = next((item[1] for item in items[1:-1] if isinstance(item, tuple)), None)
        subscript = next((item for item in items[1:-1] if not isinstance(item, tuple)), None)
        index, lower, excluded = None, None, None
        if isinstance(subscript, nodes.Condition) and isinstance(subscript.left, nodes.Word):
            index = subscript.left.text
            lower, excluded = (subscript.right, None) if subscript.relation == "=" else (None, subscript.right)
        elif isinstance(subscript, nodes.Word) and subscript.superscript is None:
            index = subscript.text
        elif subscript is not None:
            raise FormulaError("a sum's subscript names its index, as in \\sum_{j=1}^{K}")
        return nodes.Sum(index, lower, upper, body, excluded)  # type: ignore[arg-type]

    def upper(self, items: list[Node]) -> tuple[str, Node]:  # type: ignore[override]
        return ("upper", items[0])

    def equal(self, items: list[object]) -> Node:
        sides = [item for item in items if not isinstance(item, lark.Token)]
        return nodes.Condition("=", sides[0], sides[1])  # type: ignore[arg-type]

    def unequal(self, items: list[object]) -> Node:
        sides = [item for item in items if not isinstance(item, lark.Token)]
        return nodes.Condition("!=", sides[0], sides[1])  # type: ignore[arg-type]

    def otherwise(self, items: list[object]) -> Node:
        return nodes.Condition(None)

    def branch(self, items: list[Node]) -> tuple[Node, Node]:  # type: ignore[override]
        return (items[0], items[-1])

    def cases(self, items: list[object]) -> Node:
        branches = tuple(item for item in items if isinstance(item, tuple))
        return nodes.Cases(branches)  # type: ignore[arg-type]

    def row(self, items: list[Node]) -> tuple[Node, ...]:  # type: ignore[override]
        return tuple(items)

    def matrix(self, items: list[object]) -> Node:
        return nodes.Matrix(tuple(item for item in items if isinstance(item, tuple)))  # type: ignore[misc]

    def dots(self, items: list[object]) -> Node:
        return nodes.Dots()

@lru_cache(maxsize=1)
def parser() -> lark.Lark:
    # The tree is built while parsing (LALR reductions), not by a recursive walk afterwards: a
    # chain of 700 subtractions is 700 levels of parse tree, past Python's recursion limit.
    return lark.Lark(GRAMMAR, parser="lalr", maybe_placeholders=False, transformer=Builder())


def parse(text: str) -> Node:
    """The tree of a prepared formula text, or FormulaError saying why it cannot be read."""
    if len(text) > 2_000:
        raise FormulaError(f"the formula is {len(text):,} characters long; formulas over 2,000 characters are not read")
    if not text.strip():
        raise FormulaError("no formula was written here")
    check_depth(text)
    try:
        result: Node = parser().parse(text)  # type: ignore[assignment]
    except lark.exceptions.UnexpectedCharacters as error:
        position = error.pos_in_stream or 0
        raise FormulaError(f"cannot read {text[position:position + 12]!r} "
                           f"(character {error.column})") from None
    except lark.exceptions.UnexpectedToken as error:
        token = error.token
        shown = "the end of the formula" if token.type == "$END" else repr(str(token))
        raise FormulaError(f"did not expect {shown} at character {token.column}") from None
    except lark.exceptions.UnexpectedInput as error:
        raise FormulaError(f"cannot read the formula: {str(error).splitlines()[0][:80]}") from None
    count = nodes.node_count(result)
    if count > MAX_NODES:
        raise FormulaError(f"the formula has {count:,} parts; formulas over {MAX_NODES:,} are not read")
    return result
