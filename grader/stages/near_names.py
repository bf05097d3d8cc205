"""Near names: `softmax_fn`, `count_cnn_parameters`, `crossentropy_grad` are the functions a
problem asks for under another name, not missing work.

A name is reduced to its words (split at `_`, camelCase and digits), filler words dropped
(fn, func, compute, calc, get, my, matrix, np, ...) and synonyms made one (num/number/count,
grad/gradient/derivative, parameters/params, ce/crossentropy); two names are near when their
reduced forms are equal, hold the same words in another order, or are one or two edits apart.
Pure functions of strings: the sandbox child matches with them, the grader re-checks the
child's claim with them, and loading uses them to choose the graded file of a folder.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

#: Words that say nothing about which function it is.
FILLER = frozenset({
    "fn", "func", "function", "compute", "computes", "calc", "calculate", "get", "my", "the", "of", "for",
    "a", "do", "impl", "implementation", "matrix", "mat", "np", "numpy", "torch", "pt", "vectorized",
    "vectorised", "vec", "naive", "simple", "basic", "final", "new", "student", "hw", "homework", "problem",
    "count", "counts", "num", "number", "numbers", "nb", "n", "total", "how", "many", "find", "return",
})
#: Words that mean the same thing here, mapped to one spelling.
SYNONYMS = {
    "gradient": "grad", "gradients": "grad", "grads": "grad", "derivative": "grad", "derivatives": "grad",
    "deriv": "grad", "der": "grad", "parameters": "params", "parameter": "params", "param": "params",
    "jac": "jacobian", "crossentropy": "crossentropy", "ce": "crossentropy", "xent": "crossentropy",
    "convnet": "cnn", "conv": "cnn", "cnns": "cnn", "mlps": "mlp",
}
DIFFERENTIATED = frozenset({"softmax", "loss", "crossentropy", "ce", "sigmoid"})
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
MAX_NAME = 100


def words(name: str) -> tuple[str, ...]:
    """The meaningful words of a Python name, synonyms made one, filler and digits dropped."""
    found = [word.lower() for word in WORD.findall(name)]
    joined = "".join(found)
    # "cross_entropy" and "crossentropy" are one word; so are "soft_max" and "softmax".
    found = [word for word in re.sub(r"cross_?entropy", "crossentropy", "_".join(found)).split("_") if word]
    # "dsoftmax" is softmax's derivative, not softmax: d + a known word is that word's gradient.
    found = [part for word in found for part in (
        (word[1:], "grad") if word[:1] == "d" and word[1:] in DIFFERENTIATED else (word,))]
    reduced = [SYNONYMS.get(word, word) for word in found if not word.isdigit() and not re.fullmatch(r"v\d+", word)]
    kept = tuple(word for word in reduced if word not in FILLER)
    return kept or (joined,)


def closeness(candidate: str, wanted: str) -> float:
    """1.0 for the same reduced words in the same order, 0.95 in another order, then the
    similarity of the reduced forms when it is within two edits; 0.0 when not near at all."""
    if candidate == wanted:
        return 1.0
    have, want = words(candidate), words(wanted)
    if have == want:
        return 1.0
    if sorted(have) == sorted(want):
        return 0.95
    left, right = "".join(have), "".join(want)
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    edits = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    allowed = 1 if len(right) <= 6 else 2
    if edits > allowed:
        return 0.0
    return 0.9 * matcher.ratio()


def best_closeness(candidate: str, names: Iterable[str]) -> float:
    return max((closeness(candidate, name) for name in names), default=0.0)


def is_near(candidate: str, names: Sequence[str]) -> bool:
    return candidate.isidentifier() and len(candidate) <= MAX_NAME and best_closeness(candidate, names) > 0.0


def rank(candidates: Iterable[str], names: Sequence[str], other_problems: Sequence[Sequence[str]]) -> list[str]:
    """The candidates near `names` and nearer to them than to any other problem's names, best first."""
    scored = []
    for candidate in candidates:
        if not candidate.isidentifier() or len(candidate) > MAX_NAME:
            continue
        score = best_closeness(candidate, names)
        if score > 0.0 and all(best_closeness(candidate, other) < score for other in other_problems):
            scored.append((-score, candidate))
    return [candidate for _, candidate in sorted(scored)]
