"""Problem 2 in PyTorch: build the network, count `sum(p.numel())`, run a forward pass.

`verify` proves the closed form of `reference.cnn` against torch itself on many
configurations: parameter counts from modules built on the meta device (no memory, no weight
initialisation), the flatten size from torch's own shape inference, and a real forward pass of
a batch on the chosen device for every network small enough to be worth running.
The optional problem `p2-torch` lives in `reference.cnn_module`, which does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reference.cnn import NAMES, PROBLEM as COUNT_PROBLEM, padding_of, sizes_after_blocks
from reference.cnn_module import BATCH  # images per forward pass: one value for reference and sandbox
from reference.problem import Arguments, Conventions, Domain

#: Networks above this many parameters are verified by shape inference only, not run for real.
FORWARD_PARAMETER_LIMIT = 5_000_000


class DeviceUnavailable(RuntimeError):
    """"cuda" was asked for on a machine without CUDA."""


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" is CUDA when present, else the CPU; "cuda" without CUDA is an error, not a fallback."""
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailable(f'device "{device}" was asked for, but torch sees no CUDA device; '
                                'use "cpu" or "auto"')
    return torch.device(device)


def configuration(arguments: Arguments) -> dict[str, int]:
    return {name: int(arguments[name]) for name in NAMES}  # type: ignore[call-overload]


def build_features(arguments: Arguments, conventions: Conventions, relu: bool = True) -> nn.Sequential:
    """L blocks of Conv2d(k, d filters, padding per convention) [-> ReLU] -> MaxPool2d(2)."""
    values = configuration(arguments)
    layers: list[nn.Module] = []
    channels = 3
    for _block in range(values["L"]):
        layers.append(nn.Conv2d(channels, values["d"], values["k"], padding=int(padding_of(values["k"], conventions))))
        if relu:
            layers.append(nn.ReLU())
        layers.append(nn.MaxPool2d(2))
        channels = values["d"]
    return nn.Sequential(*layers)


def flatten_size(features: nn.Module, side: int, device: str | torch.device) -> int:
    """The flattened feature size as torch computes it: one image through the features."""
    with torch.no_grad():
        return int(features(torch.zeros(1, 3, side, side, device=device)).flatten(1).shape[1])


def build_network(arguments: Arguments, conventions: Conventions, relu: bool = True,
                  device: str | torch.device = "cpu") -> nn.Sequential:
    """features -> Flatten -> F × [Linear(., h) (-> ReLU)] -> Linear(., n_out), on `device`.

    The first Linear's input size comes from a probe through the features (torch's own shape
    arithmetic), never from the closed form, so a forward pass checks the formula rather than
    assuming it. On the "meta" device nothing is allocated: counting a VGG-sized net is free.
    """
    values = configuration(arguments)
    with torch.device(device):
        features = build_features(values, conventions, relu)
    flat = flatten_size(features, values["N"], device)
    with torch.device(device):
        classifier: list[nn.Module] = []
        width = flat
        for _layer in range(values["F"]):
            classifier.append(nn.Linear(width, values["h"]))
            if relu:
                classifier.append(nn.ReLU())
            width = values["h"]
        classifier.append(nn.Linear(width, values["n_out"]))
    return nn.Sequential(features, nn.Flatten(), *classifier)


def count_parameters(module: nn.Module) -> int:
    return sum(int(parameter.numel()) for parameter in module.parameters())


def forward_shape(module: nn.Module, side: int, device: str | torch.device, batch: int = BATCH) -> tuple[int, ...]:
    """The output shape of a forward pass of a random (batch, 3, side, side) input on `device`."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, side, side, generator=generator).to(device)
    with torch.no_grad():
        return tuple(int(size) for size in module(images).shape)


@dataclass(frozen=True)
class Check:
    """One configuration: the closed form against torch."""

    arguments: dict[str, int]
    closed_form: int
    torch_parameters: int
    closed_flatten: int
    torch_flatten: int
    output_shape: tuple[int, ...]  # from the real forward pass; () when only shapes were inferred

    @property
    def ok(self) -> bool:
        shape_ok = self.output_shape in ((), (BATCH, self.arguments["n_out"]))
        return self.closed_form == self.torch_parameters and self.closed_flatten == self.torch_flatten and shape_ok


@dataclass(frozen=True)
class Verification:
    """The result of `verify`: every check, and which ran a real forward pass on which device."""

    device: str
    checks: tuple[Check, ...]
    forward_passes: int

    @property
    def mismatches(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def closed_flatten(values: dict[str, int], conventions: Conventions) -> int:
    if values["L"] == 0:
        return 3 * values["N"] ** 2
    side = sizes_after_blocks(values["N"], values["L"], values["k"], conventions)[-1][1]
    return values["d"] * side * side


def verify(configurations: Sequence[Arguments], conventions: Conventions, device: str | torch.device = "auto") -> Verification:
    """Closed form == torch count and flatten size for each configuration, with a real forward
    pass on `device` for networks up to FORWARD_PARAMETER_LIMIT parameters (larger ones are
    built on the meta device: counted and shape-checked without allocating their weights)."""
    target = resolve_device(device)
    valid = [configuration(arguments) for arguments in configurations]
    for values in valid:
        COUNT_PROBLEM.validate(values, conventions)
    closed = COUNT_PROBLEM.variant_table(valid, conventions, max_size=0).outputs[0]  # type: ignore[index]
    checks: list[Check] = []
    forward_passes = 0
    with single_cpu_thread():
        for values, closed_form in zip(valid, np.asarray(closed)):
            # The closed form only picks the path here; both paths count with torch itself.
            real = int(closed_form) <= FORWARD_PARAMETER_LIMIT
            network = build_network(values, conventions, device=target if real else "meta")
            shape: tuple[int, ...] = ()
            if real:
                generator = torch.Generator().manual_seed(0)
                images = torch.randn(BATCH, 3, values["N"], values["N"], generator=generator).to(target)
                with torch.no_grad():
                    features = network[0](images)
                    shape = tuple(int(size) for size in network[1:](features).shape)
                torch_flat = int(features.flatten(1).shape[1])
                forward_passes += 1
            else:
                torch_flat = flatten_size(network[0], values["N"], "meta")
            checks.append(Check(values, int(closed_form), count_parameters(network),
                                closed_flatten(values, conventions), torch_flat, shape))
    return Verification(device=str(target), checks=tuple(checks), forward_passes=forward_passes)


@contextmanager
def single_cpu_thread() -> Iterator[None]:
    """One intra-op thread while verifying: on tiny tensors torch's thread pool costs 40× the
    work itself (6.5 ms against 0.14 ms per convolution, measured on a 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Small networks for random verification: the formula is about structure, not width.
VERIFY_DOMAIN: Domain = {"N": (1, 40), "L": (1, 4), "k": (1, 7), "d": (1, 4), "F": (1, 3), "h": (1, 6),
                         "n_out": (1, 5)}


def random_configurations(rng: np.random.Generator, count: int, conventions: Conventions,
                          domain: Domain = VERIFY_DOMAIN) -> list[dict[str, int]]:
    """`count` valid random configurations, odd sizes included (pooling floors them)."""
    found: list[dict[str, int]] = []
    while len(found) < count:
        values = {name: int(rng.integers(int(low), int(high) + 1)) for name, (low, high) in domain.items()}
        if conventions.allow_degenerate and rng.random() < 0.1:
            values[("L", "F")[int(rng.integers(2))]] = 0
        if COUNT_PROBLEM.is_valid(values, conventions):
            found.append(values)
    return found

