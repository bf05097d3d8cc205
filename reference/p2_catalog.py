"""The misconception catalog of Problem 2, shared by `p2` (a count) and `p2-torch` (a module).

Ids are the public contract of PROBLEMS.md; the feedback says what went wrong and how to fix it.
"""

from __future__ import annotations

from reference.problem import Conventions, Misconception

# A known tie (docs/answer-key.md): with fc-weights-linear-in-h, fc-F-minus-2 and fc-no-bias
# each remove h parameters, so {fc-F-minus-2, fc-weights-linear-in-h, ...} and
# {fc-no-bias, fc-weights-linear-in-h, ...} agree on every case. Catalog order puts
# fc-F-minus-2 first, so the first of the tie is PROBLEMS.md's own named combination.

FLATTEN_VARIANTS = ("flatten-is-filter-params", "flatten-ignores-pooling", "same-size-for-any-k")


def literal_padding(conventions: Conventions) -> bool:
    """`same-size-for-any-k` is a mistake only where padding 1 does not keep the size for k ≠ 3."""
    return conventions.padding == "literal"


def other_flatten_variants(identifier: str) -> tuple[str, ...]:
    """Each flatten variant replaces the same quantity, so no two of them combine."""
    return tuple(other for other in FLATTEN_VARIANTS if other != identifier)


CATALOG = (
    Misconception(
        "conv-ignores-input-channels", "Kernels that read one channel only",
        "Each k × k kernel spans every input channel: the first convolution's kernels are "
        "3 × k × k (RGB) and later ones d × k × k, so T_conv1 = (3k² + 1)·d and "
        "T_conv = (L − 1)·(d·k² + 1)·d, not (k² + 1)·d per layer.",
        excludes=("first-conv-uses-d",)),
    Misconception(
        "first-conv-uses-d", "First convolution reads d channels",
        "The first convolution reads the 3 channels of the RGB image, not d: "
        "T_conv1 = (3k² + 1)·d. Only the later convolutions read d channels.",
        excludes=("conv-ignores-input-channels",)),
    Misconception(
        "conv-no-bias", "Forgot the convolutions' biases",
        "Every filter has one bias: each convolution has d biases besides its weights "
        "(3k²·d + d for the first, d·k²·d + d for the others)."),
    Misconception(
        "flatten-is-filter-params", "Used the filter parameter count as the flatten size",
        "The first fully connected layer reads the flattened feature map, d·s_L² values (s_L is "
        "the side after the last pooling), not the d·(k² + 1) parameters of a convolution.",
        excludes=other_flatten_variants("flatten-is-filter-params")),
    Misconception(
        "flatten-ignores-pooling", "Forgot that pooling shrinks the feature map",
        "Each 2 × 2 max-pool halves the side (rounding down), so after L blocks the flattened "
        "size is d·s_L² with s_L ≈ N / 2^L, not the side after the convolutions alone.",
        excludes=other_flatten_variants("flatten-ignores-pooling")),
    Misconception(
        "same-size-for-any-k", "Assumed padding 1 keeps the size for every k",
        "Padding 1 keeps the side only for k = 3: a convolution changes the side by 3 − k. "
        "Track s_i = floor((s_{i−1} + 3 − k) / 2) through the blocks before flattening.",
        excludes=other_flatten_variants("same-size-for-any-k"), applies=literal_padding),
    Misconception(
        "fc-F-minus-2", "Two FC transitions short",
        "The F hidden FC layers have F − 1 transitions between them (the output layer comes "
        "after the F and is counted separately), so T_fc = (F − 1)·(h² + h)."),
    Misconception(
        "fc-weights-linear-in-h", "One weight per FC unit",
        "A fully connected layer of h units fed by h units has h² weights (every unit sees every "
        "input) plus h biases: h² + h per transition, not h."),
    Misconception(
        "fc-no-bias", "Forgot the fully connected layers' biases",
        "Every fully connected unit has a bias: the first FC layer has (flat + 1)·h parameters "
        "and each later one h² + h."),
    Misconception(
        "output-no-bias", "Forgot the output layer's biases",
        "The output layer has h·n_out weights and n_out biases: (h + 1)·n_out."),
)
