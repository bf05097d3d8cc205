"""Answer-key tools for instructors: a count term by term, and the CNN closed form vs torch."""

from __future__ import annotations

from collections.abc import Mapping

from grader.errors import UsageError, did_you_mean
from grader.stages.pipeline import resolve_device


def count_breakdown(problem_id: str, arguments: Mapping[str, int], padding: str, verify: bool,
                    device: str) -> list[str]:
    """Lines: each term with its formula and value, the total, and (p2) the torch model's count."""
    import reference
    from reference.problem import Conventions, CountProblem, InvalidConfiguration

    counts = [pid for pid, problem in reference.PROBLEMS.items() if isinstance(problem, CountProblem)]
    if problem_id not in counts:
        raise UsageError(f"{problem_id}: not a counting problem",
                         hint=did_you_mean(problem_id, counts) or f"choose from {', '.join(counts)}")
    problem = reference.PROBLEMS[problem_id]
    expected = problem.parameter_names
    if set(arguments) != set(expected):
        missing = [name for name in expected if name not in arguments]
        unknown = [name for name in arguments if name not in expected]
        raise UsageError(f"{problem_id} takes {' '.join(f'{n}=...' for n in expected)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    assert isinstance(problem, CountProblem)  # checked above: a counting problem
    conventions = Conventions(padding=padding, allow_degenerate=True)  # type: ignore[arg-type]
    try:
        terms = problem.terms(arguments, conventions)
        total = problem.reference(arguments, conventions)
    except InvalidConfiguration as error:
        raise UsageError(f"not a valid {problem_id} configuration: {error}") from None
    width = max(len(name) for name, _, _ in terms)
    lines = [f"{problem.title} ({problem_id}), {', '.join(f'{k}={v}' for k, v in arguments.items())}"]
    lines += [f"  {name:<{width}}  {formula:<34} {value:>14,}" for name, formula, value in terms]
    lines.append(f"  {'total':<{width}}  {'':<34} {total:>14,}")
    if verify and problem_id == "p2":
        from reference import cnn_torch

        check = cnn_torch.verify([arguments], conventions, resolve_device(device))
        (result,) = check.checks
        ran = f"forward pass of shape {result.output_shape}" if result.output_shape else "built on the meta device"
        verdict = "agrees" if result.ok else "DISAGREES"
        lines.append(f"  torch model on {check.device}: {result.torch_parameters:,} parameters, "
                     f"flatten {result.torch_flatten:,}, {ran}; closed form {verdict}")
    return lines


def verify_closed_form(count: int, device: str, seed: int) -> tuple[list[str], bool]:
    """Check the p2 closed form against torch on `count` random architectures per padding."""
    import time

    import numpy as np

    from reference import cnn_torch
    from reference.problem import Conventions

    chosen = resolve_device(device)
    rng = np.random.default_rng(seed)
    lines, all_agree = [], True
    for padding in ("same", "literal"):
        conventions = Conventions(padding=padding, allow_degenerate=True)  # type: ignore[arg-type]
        started = time.perf_counter()
        report = cnn_torch.verify(cnn_torch.random_configurations(rng, count, conventions), conventions, chosen)
        agreed = len(report.checks) - len(report.mismatches)
        all_agree = all_agree and report.ok
        lines.append(f"{padding:>7} padding: {agreed}/{len(report.checks)} architectures agree on "
                     f"{report.device}, {report.forward_passes} forward passes "
                     f"({time.perf_counter() - started:.1f} s)")
        lines.extend(f"  disagrees: {check}" for check in report.mismatches[:10])
    return lines, all_agree
