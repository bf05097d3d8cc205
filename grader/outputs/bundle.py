"""The public bundle: what `grader check` needs to grade a student repository, as data.

It holds the public cases with their expected values, every misconception combination's
outputs on them, the feedback texts and the scoring policy. It never holds the rubric's seed
(with it a student could draw everyone's hidden cases) nor any code: reading it imports
nothing of the answer key. Arrays travel as base64 float64 bytes so NaN and inf survive
strict JSON exactly.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from grader.errors import BundleError
from grader.formulas.settings import default_settings
from grader.models import Case, CatalogEntry, Footprint, Limits, ParameterInfo, ProblemKey
from grader.rubric import LIMIT_MAXIMUMS, CaseCounts, ManualRubric, MisconceptionPolicy, ProblemRubric, Rubric

FORMAT = "grader-public-bundle"
VERSION = 1


@dataclass(frozen=True)
class Bundle:
    """A public bundle read back: policies and keys in the rubric's order."""

    title: str
    policies: tuple[ProblemRubric, ...]
    keys: tuple[ProblemKey, ...]
    manual: tuple[ManualRubric, ...]
    limits: Limits
    device: str
    packages: tuple[str, ...] = ()  # the rubric's `packages`, offered to the student's code too
    path: Path = Path("public.json")  # where it was read from; replay commands name it


def encode_value(value: object) -> object:
    """A value as strict JSON: arrays as base64 bytes, mappings and tuples as JSON containers."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        kind = "int64" if array.dtype.kind in "iu" else "float64"
        data = array.astype(kind).tobytes()
        return {"array": base64.b64encode(data).decode("ascii"), "dtype": kind, "shape": list(array.shape)}
    if isinstance(value, Mapping):
        return {"mapping": {str(k): encode_value(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"tuple": [encode_value(v) for v in value]}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"float": repr(float(value))} if not np.isfinite(value) else float(value)
    if value is None:
        return None
    raise TypeError(f"cannot encode {type(value).__name__} in a bundle")


def decode_value(data: Any) -> Any:
    if isinstance(data, dict):
        if "array" in data:
            raw = base64.b64decode(data["array"])
            return np.frombuffer(raw, dtype=data["dtype"]).reshape(data["shape"]).copy()
        if "mapping" in data:
            return {k: decode_value(v) for k, v in data["mapping"].items()}
        if "tuple" in data:
            return tuple(decode_value(v) for v in data["tuple"])
        if "float" in data:
            return float(data["float"])
    return data


def _encode_case(case: Case) -> dict[str, object]:
    return {"arguments": {name: encode_value(v) for name, v in case.arguments.items()},
            "tag": case.tag, "varied": case.varied, "base_index": case.base_index,
            "footprint": asdict(case.footprint) if case.footprint else None}


def _encode_key(key: ProblemKey) -> dict[str, object]:
    outputs = key.variant_outputs
    encoded_outputs = (encode_value(outputs) if isinstance(outputs, np.ndarray)
                       else [[encode_value(v) for v in row] for row in outputs])  # type: ignore[union-attr, attr-defined]
    return {
        "problem_id": key.problem_id, "title": key.title, "kind": key.kind,
        "function": key.function, "aliases": list(key.aliases),
        "parameters": [asdict(p) for p in key.parameters],
        "cases": [_encode_case(c) for c in key.cases],
        "expected": [encode_value(v) for v in key.expected],
        "combinations": [list(c) for c in key.combinations],
        "variant_outputs": encoded_outputs,
        "catalog": [asdict(entry) for entry in key.catalog],
        "tolerance": list(key.tolerance), "precision": key.precision,
    }


def _decode_key(data: dict[str, Any]) -> ProblemKey:
    raw_outputs = data["variant_outputs"]
    outputs = (decode_value(raw_outputs) if isinstance(raw_outputs, dict)
               else [[decode_value(v) for v in row] for row in raw_outputs])
    return ProblemKey(
        problem_id=data["problem_id"], title=data["title"], kind=data["kind"],
        function=data["function"], aliases=tuple(data["aliases"]),
        parameters=tuple(ParameterInfo(**p) for p in data["parameters"]),
        cases=tuple(Case(problem_id=data["problem_id"],
                         arguments={k: decode_value(v) for k, v in c["arguments"].items()},
                         tag=c["tag"], varied=c["varied"], base_index=c["base_index"],
                         footprint=Footprint(**c["footprint"]) if c.get("footprint") else None)
                    for c in data["cases"]),
        expected=tuple(decode_value(v) for v in data["expected"]),
        combinations=tuple(tuple(c) for c in data["combinations"]),
        variant_outputs=outputs,
        catalog=tuple(CatalogEntry(**entry) for entry in data["catalog"]),
        tolerance=(float(data["tolerance"][0]), float(data["tolerance"][1])),
        precision=str(data.get("precision", "custom")),
    )


def _encode_policy(policy: ProblemRubric) -> dict[str, object]:
    return {
        "problem_id": policy.problem_id, "points": policy.points, "function": policy.function,
        "aliases": list(policy.aliases), "cases": asdict(policy.cases),
        "misconceptions": {k: asdict(v) for k, v in policy.misconceptions.items()},
        "tolerance": list(policy.tolerance), "unexplained_credit": policy.unexplained_credit,
        "error_credit": policy.error_credit, "note_credit": policy.note_credit,
        "near_name_deduction": policy.near_name_deduction, "imported_deduction": policy.imported_deduction,
        "precision": policy.precision, "resource_credit": policy.resource_credit,
    }


def _decode_policy(data: dict[str, Any]) -> ProblemRubric:
    return ProblemRubric(
        problem_id=data["problem_id"], points=float(data["points"]), function=data["function"],
        aliases=tuple(data["aliases"]), domain={}, cases=CaseCounts(**data["cases"]),
        misconceptions={k: MisconceptionPolicy(**v) for k, v in data["misconceptions"].items()},
        tolerance=(float(data["tolerance"][0]), float(data["tolerance"][1])),
        unexplained_credit=float(data["unexplained_credit"]), error_credit=float(data["error_credit"]),
        note_credit=float(data["note_credit"]), precision=str(data.get("precision", "custom")),
        resource_credit=float(data.get("resource_credit", 0.9)),
        # Formula answers are read with the default settings (no closed form travels in a
        # bundle: it would hand students the answer).
        formula=default_settings(data["problem_id"]),
        near_name_deduction=float(data.get("near_name_deduction", 0.0)),
        imported_deduction=float(data.get("imported_deduction", 0.0)),
    )


def write_bundle(rubric: Rubric, path: Path) -> Path:
    """Write the public bundle of a rubric (imports the answer key; instructors only)."""
    from grader.stages import cases
    import reference

    keys = [cases.public_key(reference.PROBLEMS[p.problem_id], p, rubric.conventions) for p in rubric.problems]
    data = {
        "format": FORMAT, "version": VERSION, "title": rubric.title, "device": rubric.device,
        "limits": asdict(rubric.limits), "packages": list(rubric.packages),
        "manual": [asdict(item) for item in rubric.manual],
        "problems": [{"policy": _encode_policy(p), "key": _encode_key(k)} for p, k in zip(rubric.problems, keys)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    return path


MAX_BUNDLE_BYTES = 64 << 20


def read_bundle(path: Path) -> Bundle:
    """Read a public bundle; a missing, damaged or foreign file is a `BundleError` that says why."""
    try:
        # A regular file of sane size: a public.json linked to /dev/zero, or a FIFO, was read forever.
        if path.exists() and (not path.is_file() or path.stat().st_size > MAX_BUNDLE_BYTES):
            raise BundleError(f"{path}: not a bundle file (a special file, or over {MAX_BUNDLE_BYTES >> 20} MB)",
                              hint="download public.json again")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: no such bundle",
                          hint="ask your instructor for public.json, or pass --bundle FILE") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: not a readable bundle ({error})",
                          hint="download public.json again; it may be truncated") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"{path}: not a grader public bundle (no \"format\": \"{FORMAT}\")",
                          hint="make one with `grader bundle --rubric RUBRIC -o public.json`")
    if data.get("version") != VERSION:
        raise BundleError(f"{path}: bundle version {data.get('version')!r}, this grader reads {VERSION}",
                          hint="upgrade the grader, or ask for a bundle made by this version")
    try:
        bundle = Bundle(
            title=str(data["title"]),
            policies=tuple(_decode_policy(p["policy"]) for p in data["problems"]),
            keys=tuple(_decode_key(p["key"]) for p in data["problems"]),
            manual=tuple(ManualRubric(**item) for item in data["manual"]),
            limits=Limits(**data["limits"]),
            device=str(data.get("device", "cpu")),
            packages=tuple(str(name) for name in data.get("packages", []) if str(name).isidentifier()),
            path=path,
        )
        _check(bundle)
    except (KeyError, TypeError, ValueError, re.error) as error:
        raise BundleError(f"{path}: damaged bundle ({type(error).__name__}: {error})",
                          hint="make it again with `grader bundle`") from None
    return bundle


def _check(bundle: Bundle) -> None:
    """What a rubric guarantees and a hand-edited bundle may not: problems, limits a child can
    apply (a limit of "fast" told every student they had called sys.exit), regexes that compile."""
    if not bundle.keys:
        raise ValueError("it holds no problem")
    for limit in fields(Limits):
        value = getattr(bundle.limits, limit.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not \
                0 <= value <= LIMIT_MAXIMUMS[limit.name]:
            raise ValueError(f"limits.{limit.name} = {value!r} is not a number within its range")
    for item in bundle.manual:
        re.compile(item.heading)
