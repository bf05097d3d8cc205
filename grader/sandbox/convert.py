"""Strict conversion of a student's return value to plain data, run inside the child.

This is not a security boundary (student code can patch it); it turns honest answers into
clean ints, floats and float64 arrays and names the type of anything else. The parent's
checks on the frame are the boundary: a student type never survives `np.save(allow_pickle=False)`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .protocol import MAX_ARRAY_ELEMENTS, array_bytes

INTEGER_TYPES = (int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
FLOAT_TYPES = (float, np.float16, np.float32, np.float64)
MAX_NESTING = 4


class InvalidOutput(Exception):
    """A return value that is not a number, a list of numbers, an array or a tensor."""


def type_name(value: object) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def encode(value: Any) -> tuple[dict, list[bytes], str]:
    """A JSON-ready description of `value`, its `.npy` blobs, and a note for the report."""
    # Exact types only: an int or float *subclass* can rig __eq__ (the always-equal attack).
    kind = type(value)
    if value is None:
        return {"type": "none"}, [], ""
    if kind is bool or kind is np.bool_:
        raise InvalidOutput("returned a bool; return a number")
    if kind in INTEGER_TYPES:
        return {"type": "int", "value": int(value)}, [], ""
    if kind in FLOAT_TYPES:
        return {"type": "float", "value": float(value)}, [], ""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        # Unbound methods: a Tensor subclass cannot substitute its own detach or numpy.
        plain = torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(value)))
        return encode_array(plain, "returned a torch tensor; converted")
    if isinstance(value, np.ndarray):
        note = "" if kind is np.ndarray else f"returned a {type_name(value)} (an ndarray subclass); read its data as a plain array"
        return encode_array(np.ndarray.view(value, np.ndarray), note)
    if kind is list or kind is tuple:
        return encode_array(nested_array(value, 0), "")
    raise InvalidOutput(f"returned a {type_name(value)}; expected a number, a list of numbers, "
                        "a NumPy array or a torch tensor")


def encode_array(array: np.ndarray, note: str) -> tuple[dict, list[bytes], str]:
    """A plain ndarray as float64 (0-d arrays become a Python int or float)."""
    if array.dtype.kind not in "iuf":
        raise InvalidOutput(f"returned an array of dtype {array.dtype}; expected numbers")
    if array.size > MAX_ARRAY_ELEMENTS:
        raise InvalidOutput(f"returned an array of {array.size} elements, over the cap")
    if array.ndim == 0:
        scalar = array.item()
        return {"type": "int" if array.dtype.kind in "iu" else "float", "value": scalar}, [], note
    return {"type": "array", "blob": 0}, [array_bytes(np.ascontiguousarray(array, dtype=np.float64))], note


def nested_array(value: list | tuple, depth: int) -> np.ndarray:
    """A list (of lists) of exact numbers as float64; ragged or non-numeric lists are invalid."""
    if depth > MAX_NESTING:
        raise InvalidOutput("returned lists nested too deeply")
    items: list[np.ndarray | float] = []
    for item in value:
        kind = type(item)
        if kind is list or kind is tuple:
            items.append(nested_array(item, depth + 1))
        elif kind in INTEGER_TYPES or kind in FLOAT_TYPES:
            items.append(float(item))
        elif isinstance(item, np.ndarray) and type(item) is np.ndarray and item.dtype.kind in "iuf":
            items.append(item.astype(np.float64))
        else:
            raise InvalidOutput(f"returned a list holding a {type_name(item)}; expected numbers")
    try:
        return np.array(items, dtype=np.float64)
    except ValueError:
        raise InvalidOutput("returned a ragged list (rows of different lengths)") from None


def describe_module(module: Any, size: int, device: str) -> dict:
    """Parameter count and output shape of a student's torch module on a random batch."""
    import torch

    if not isinstance(module, torch.nn.Module):
        raise InvalidOutput(f"returned a {type_name(module)}; expected a torch.nn.Module")
    parameters = sum(int(parameter.numel()) for parameter in module.parameters())
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(2, 3, size, size, generator=generator).to(device)
    with torch.no_grad():
        output = module.to(device)(batch)
    if not isinstance(output, torch.Tensor):
        raise InvalidOutput(f"the module's forward returned a {type_name(output)}; expected a tensor")
    return {"type": "module", "parameters": parameters, "output_shape": [int(side) for side in output.shape]}
