"""Problem 2: the parameters of a CNN (PROBLEMS.md, Problem 2).

L blocks of [conv k×k, d filters -> 2×2 max-pool], flatten, F hidden FC layers of width h, an
output layer of n_out. The count is written once with every catalogued mistake as a flag:
T_conv1 = (3k²+1)·d, T_conv = (L−1)·(d·k²+1)·d, T_fc1 = (flat+1)·h with flat = d·s_L²,
T_fc = (F−1)·(h²+h), T_out = (h+1)·n_out. L = 0 means no convolution (flat = 3N²); F = 0
means the output layer reads the flattened features directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference.domains import (domain_neighbours, draw_integer, integer_range, lowest_values,
                               require_at_least, shrink_candidates, whole_arguments)
from reference.p2_catalog import CATALOG
from reference.problem import (Arguments, Conventions, CountProblem, Domain, Footprint, InvalidConfiguration,
                               Parameter, largest_layer)

NAMES = ("N", "L", "k", "d", "F", "h", "n_out")
DEGENERATE = ("L", "F")
#: Draws retried before a domain is declared too narrow for whole sizes at every pooling.
DRAW_ATTEMPTS = 200


def padding_of(k: np.ndarray | int, conventions: Conventions) -> np.ndarray | int:
    """The padding each convolution uses: (k−1)/2 for "same" (k odd), 1 for "literal"."""
    return (k - 1) // 2 if conventions.padding == "same" else 1 + 0 * k


def convolution_growth(k: np.ndarray | int, conventions: Conventions) -> np.ndarray | int:
    """How much one convolution changes the side: 2p − k + 1 (0 under "same" padding)."""
    return 2 * padding_of(k, conventions) - k + 1


def sizes_after_blocks(N: int, L: int, k: int, conventions: Conventions) -> list[tuple[int, int]]:
    """(side after the convolution, side after the pooling) for each block, in order."""
    sizes = []
    side = N
    for _ in range(L):
        convolved = side + int(convolution_growth(k, conventions))
        side = convolved // 2
        sizes.append((convolved, side))
    return sizes


def final_side(N: np.ndarray, L: np.ndarray, k: np.ndarray, conventions: Conventions) -> np.ndarray:
    """s_L for every case at once (arguments broadcast; blocks beyond a case's L leave it alone)."""
    side = np.array(N, dtype=np.int64, copy=True)
    growth = convolution_growth(k, conventions)
    for block in range(int(np.max(L, initial=0))):
        side = np.where(block < L, (side + growth) // 2, side)
    return side


def whole_at_every_pooling(values: Mapping[str, int], conventions: Conventions) -> bool:
    """Whether every pooling halves an even side (no floor), as the default domain promises."""
    return all(convolved % 2 == 0 for convolved, _ in
               sizes_after_blocks(int(values["N"]), int(values["L"]), int(values["k"]), conventions))


class ConvolutionalNetworkProblem(CountProblem):
    """P2(N, L, k, d, F, h, n_out): conv + fc + out, each term as PROBLEMS.md writes it."""

    id = "p2"
    title = "Parameters of a CNN"
    function = "cnn_params"
    aliases = ("count_cnn_params", "cnn_parameters", "cnn_param_count", "num_cnn_params",
               "count_parameters_cnn", "cnn_num_params")
    parameters = (
        Parameter("N", "image side in pixels", "making the image one pixel wider and taller"),
        Parameter("L", "convolution blocks", "adding one convolution block"),
        Parameter("k", "kernel side", "making every kernel one pixel wider and taller"),
        Parameter("d", "filters per convolution", "adding one filter to every convolution"),
        Parameter("F", "hidden fully connected layers", "adding one hidden fully connected layer"),
        Parameter("h", "units per fully connected layer", "adding one unit to every fully connected layer"),
        Parameter("n_out", "output nodes", "adding one output node"),
    )
    catalog = CATALOG
    default_domain: Domain = {"N": (4, 96), "L": (1, 4), "k": (1, 7), "d": (1, 64),
                              "F": (1, 4), "h": (1, 256), "n_out": (1, 20)}

    def count(self, arguments: Mapping[str, np.ndarray], mistakes: Mapping[str, np.ndarray],
              conventions: Conventions) -> np.ndarray:
        N, L, k, d, F, h, n_out = (arguments[name] for name in NAMES)
        kernel = k * k
        # Convolutions: how many channels each kernel reads, and whether it has a bias.
        ignores_channels = mistakes["conv-ignores-input-channels"]
        first_channels = np.where(ignores_channels, 1, np.where(mistakes["first-conv-uses-d"], d, 3))
        later_channels = np.where(ignores_channels, 1, d)
        conv_bias = np.where(mistakes["conv-no-bias"], 0, 1)
        t_conv1 = (first_channels * kernel + conv_bias) * d
        t_conv = (L - 1) * (later_channels * kernel + conv_bias) * d
        convolutions = np.where(L >= 1, t_conv1 + t_conv, 0)
        # Flatten: d·s_L² by default; each flatten mistake replaces the side (or the whole size).
        side = final_side(N, L, k, conventions)
        unpooled_side = N + L * convolution_growth(k, conventions)
        halved_side = np.right_shift(N, np.minimum(L, 62))  # floor(N / 2^L): "same" for any k
        side = np.where(mistakes["flatten-ignores-pooling"], unpooled_side,
                        np.where(mistakes["same-size-for-any-k"], halved_side, side))
        flat = np.where(mistakes["flatten-is-filter-params"], d * (kernel + 1), d * side * side)
        flat = np.where(L >= 1, flat, 3 * N * N)  # no convolution: the image itself is flattened
        # Fully connected layers and the output layer.
        fc_bias = np.where(mistakes["fc-no-bias"], 0, 1)
        t_fc1 = (flat + fc_bias) * h
        fc_transitions = np.where(mistakes["fc-F-minus-2"], F - 2, F - 1)
        per_transition = np.where(mistakes["fc-weights-linear-in-h"], h, h * h + fc_bias * h)
        t_fc = fc_transitions * per_transition
        output_bias = np.where(mistakes["output-no-bias"], 0, 1)
        with_hidden = t_fc1 + t_fc + (h + output_bias) * n_out
        without_hidden = (flat + output_bias) * n_out
        return convolutions + np.where(F >= 1, with_hidden, without_hidden)

    def validate(self, arguments: Arguments, conventions: Conventions) -> None:
        values = whole_arguments(arguments, NAMES)
        require_at_least(values, {"N": 1, "L": 0, "k": 1, "d": 1, "F": 0, "h": 1, "n_out": 1})
        if conventions.padding == "same" and values["k"] % 2 == 0:
            raise InvalidConfiguration(f"k = {values['k']} is even, but \"same\" padding needs an odd "
                                       "kernel (padding (k − 1)/2); use an odd k or literal padding")
        for block, (convolved, pooled) in enumerate(sizes_after_blocks(values["N"], values["L"], values["k"],
                                                                        conventions), start=1):
            if convolved < 1 or pooled < 1:
                raise InvalidConfiguration(
                    f"N = {values['N']}, L = {values['L']}, k = {values['k']} ({conventions.padding} padding): "
                    f"block {block} shrinks the feature map to {convolved} after its convolution and "
                    f"{pooled} after pooling; a side of 0 is no network. Use a larger N or fewer blocks")

    def is_valid(self, values: Mapping[str, int], conventions: Conventions) -> bool:
        try:
            self.validate(values, conventions)
        except InvalidConfiguration:
            return False
        lowest = lowest_values(conventions, DEGENERATE, NAMES)
        return all(values[name] >= lowest[name] for name in NAMES)

    def terms(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, str, int]]:
        """The reference count term by term: (name, formula, value), the flatten size included."""
        self.validate(arguments, conventions)
        N, L, k, d, F, h, n_out = (int(arguments[name]) for name in NAMES)  # type: ignore[call-overload]
        side = N if L == 0 else sizes_after_blocks(N, L, k, conventions)[-1][1]
        flat = 3 * N * N if L == 0 else d * side * side
        rows: list[tuple[str, str, int]] = []
        if L >= 1:
            rows.append(("first convolution", "(3k² + 1)·d", (3 * k * k + 1) * d))
            rows.append(("later convolutions", "(L − 1)·(d·k² + 1)·d", (L - 1) * (d * k * k + 1) * d))
            rows.append(("flatten size (no parameters)", f"d·s_L² with s_L = {side}", flat))
        else:
            rows.append(("flatten size (no parameters)", "3·N² (no convolution)", flat))
        if F >= 1:
            rows.append(("flatten->first FC", "(flat + 1)·h", (flat + 1) * h))
            rows.append(("FC->FC", "(F − 1)·(h² + h)", (F - 1) * (h * h + h)))
            rows.append(("FC->output", "(h + 1)·n_out", (h + 1) * n_out))
        else:
            rows.append(("flatten->output", "(flat + 1)·n_out", (flat + 1) * n_out))
        return rows

    def draw(self, rng: np.random.Generator, domain: Domain, conventions: Conventions) -> Arguments:
        """A valid case whose feature map is whole at every pooling (no floor hides a mistake)."""
        lowest = lowest_values(conventions, DEGENERATE, NAMES)
        n_low, n_high = integer_range(domain, "N", lowest["N"])
        for _ in range(DRAW_ATTEMPTS):
            values = {name: draw_integer(rng, domain, name, lowest[name]) for name in NAMES if name != "N"}
            if conventions.padding == "same" and values["k"] % 2 == 0:
                k_low, k_high = integer_range(domain, "k", 1)
                if values["k"] + 1 <= k_high:
                    values["k"] += 1
                elif values["k"] - 1 >= k_low:
                    values["k"] -= 1
                else:  # k = [2, 2] holds no odd k: no draw may leave the instructor's domain
                    continue
            # Build N backwards from the final side so that every pooling halves an even side.
            growth = int(convolution_growth(values["k"], conventions))
            side_high = max(1, n_high >> values["L"])
            side = int(rng.integers(1, side_high + 1))
            for _block in range(values["L"]):
                side = 2 * side - growth
            candidate = {"N": side, **values}
            if n_low <= side <= n_high and self.is_valid(candidate, conventions):
                return {name: candidate[name] for name in NAMES}
        raise InvalidConfiguration(f"no valid case with sizes whole at every pooling in {DRAW_ATTEMPTS} "
                                   f"draws from the domain {dict(domain)}; widen N or lower L")

    def public_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        if conventions.padding == "same":
            cases = ((8, 1, 3, 4, 1, 8, 3), (32, 2, 3, 16, 2, 64, 10), (28, 2, 5, 8, 3, 32, 10))
        else:
            cases = ((8, 1, 3, 4, 1, 8, 3), (32, 2, 3, 16, 2, 64, 10), (30, 2, 5, 8, 3, 32, 10))
        return tuple(dict(zip(NAMES, case)) for case in cases)

    def stress_cases(self, conventions: Conventions) -> tuple[Arguments, ...]:
        """Extreme sizes, still whole at every pooling: the domain promises whole sizes, so a
        student's N / 2^L is right on every case (odd sizes are checked against torch instead)."""
        cases = [
            (224, 5, 3, 512, 3, 4096, 1000),  # VGG-sized: int64 must not overflow
            (2, 1, 1, 1, 1, 1, 1),  # everything minimal, 1×1 kernels
            (64, 6, 1, 1, 1, 1, 1),  # pooled down to a single pixel (same padding)
            (30, 2, 5, 3, 2, 7, 4),  # a 5×5 kernel: literal padding 1 shrinks the side by 2
        ]
        if conventions.allow_degenerate:
            cases += [(6, 0, 3, 4, 2, 5, 3), (8, 2, 3, 4, 0, 5, 3)]
        found = [dict(zip(NAMES, case)) for case in cases]
        return tuple(case for case in found if self.is_valid(case, conventions) and whole_at_every_pooling(case, conventions))

    def simpler(self, arguments: Arguments, domain: Domain, conventions: Conventions) -> list[Arguments]:
        return shrink_candidates(arguments, domain, lowest_values(conventions, DEGENERATE, NAMES),
                                 lambda values: self.is_valid(values, conventions))

    def neighbours(self, arguments: Arguments, conventions: Conventions) -> list[tuple[str, Arguments]]:
        return domain_neighbours(arguments, NAMES, lambda values: self.is_valid(values, conventions)
                                 and whole_at_every_pooling(values, conventions))

    def footprint(self, arguments: Arguments, conventions: Conventions) -> Footprint | None:
        N, L, k, d, F, h, n_out = (int(arguments[name]) for name in NAMES)  # type: ignore[call-overload]
        blocks = sizes_after_blocks(N, L, k, conventions)  # Python ints: 0.5 µs, not numpy's 100
        side = blocks[-1][1] if blocks else N
        flat, flat_formula = (d * side * side, "{}·{}²·{}") if L else (3 * N * N, "3·{}²·{}")
        flat_arguments = (d, side) if L else (N,)
        width = h if F else n_out
        return largest_layer([(3 * k * k * d if L else 0, "3·{}²·{}", (k, d), "weights of the first convolution"),
                              (d * d * k * k if L > 1 else 0, "{}²·{}²", (d, k), "weights of each later convolution"),
                              (flat * width, flat_formula, (*flat_arguments, width),
                               "weights of the first fully connected layer"),
                              (h * h if F > 1 else 0, "{}²", (h,), "weights of each hidden fully connected layer"),
                              (h * n_out if F else 0, "{}·{}", (h, n_out), "weights of the output layer")])


PROBLEM = ConvolutionalNetworkProblem()
