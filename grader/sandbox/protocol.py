"""Framing between grader, zygote and child: a JSON header plus raw `.npy` blobs, size-capped.

A frame is `>II` (header length, blob count), the UTF-8 JSON header, then per blob `>Q`
length and the bytes. The reader never unpickles or evaluates anything: the child owns every
byte it sends (it can forge frames on any fd it finds), so sizes are capped before buffering
and arrays are read with `np.load(allow_pickle=False)` and must be float64.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

PREFIX = struct.Struct(">II")
BLOB_LENGTH = struct.Struct(">Q")
MAX_HEADER_BYTES = 1 << 20
#: A job's header carries the student's code (5 MB a file, 20 MB a folder, up to 6 bytes a
#: character once JSON-escaped): 1 MiB stopped the zygote on a 1.1 MB module, and with it
#: every later student of its worker.
TRUSTED_MAX_HEADER_BYTES = 256 << 20
#: Blobs in one frame from a child (one case's answer); requests from the grader carry every
#: case's arguments and use `TRUSTED_MAX_BLOBS`.
MAX_BLOBS = 64
TRUSTED_MAX_BLOBS = 1 << 16
MAX_BLOB_BYTES = 64 << 20
#: Largest array a student's answer may be: a K x K Jacobian of K = 2048 is 4 M elements.
MAX_ARRAY_ELEMENTS = 8 << 20
MAX_ARRAY_DIMENSIONS = 4


class ProtocolViolation(Exception):
    """Bytes on a channel that are not a well-formed frame (a forged or corrupted message)."""


@dataclass
class Frame:
    """One decoded message: its JSON header and its raw blobs (not yet turned into arrays)."""

    header: dict
    blobs: list[bytes] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)


def encode_frame(header: dict, blobs: Sequence[bytes] = ()) -> bytes:
    """The bytes of one frame; `allow_nan` keeps a student's NaN answer a NaN."""
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    parts = [PREFIX.pack(len(text), len(blobs)), text]
    for blob in blobs:
        parts.append(BLOB_LENGTH.pack(len(blob)))
        parts.append(blob)
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking fd (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


#: The one `.npy` layout numpy itself writes for a C-ordered little-endian float64 array.
#: Reading it takes microseconds where `np.load` takes ~80 (it evaluates the header with
#: `ast.literal_eval`); a grader reads tens of thousands of answers a minute. Sides have at
#: most 18 digits: `int()` of a forged 5,000-digit side raised past every check.
NPY_MAGIC = b"\x93NUMPY\x01\x00"
NPY_HEADER = re.compile(rb"\{'descr': '<f8', 'fortran_order': False, 'shape': \(((?:\d{1,18}, )*\d{1,18},?|)\), \} *\n")


def array_bytes(array: np.ndarray) -> bytes:
    """An array as `.npy` bytes, refusing object arrays (no pickles cross any channel)."""
    if array.dtype == np.float64 and array.dtype.byteorder in "=<" and array.ndim <= MAX_ARRAY_DIMENSIONS:
        shape = repr(tuple(int(side) for side in array.shape))
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % shape
        padding = 63 - (len(NPY_MAGIC) + 2 + len(header)) % 64  # numpy aligns data to 64 bytes
        text = (header + " " * padding + "\n").encode("latin1")
        return NPY_MAGIC + struct.pack("<H", len(text)) + text + np.ascontiguousarray(array).tobytes()
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _fast_float64(blob: bytes) -> np.ndarray | None:
    """The array of a blob in numpy's own float64 layout, or None for any other layout."""
    if not blob.startswith(NPY_MAGIC) or len(blob) < len(NPY_MAGIC) + 2:
        return None
    (length,) = struct.unpack_from("<H", blob, len(NPY_MAGIC))
    start = len(NPY_MAGIC) + 2
    match = NPY_HEADER.fullmatch(blob, start, start + length)
    if match is None:
        return None
    shape = tuple(int(side) for side in match.group(1).split(b",") if side.strip())
    elements = math.prod(shape)  # math, not np.prod: ~0.2 us against ~5, twice per answer
    if len(shape) > MAX_ARRAY_DIMENSIONS or elements > MAX_ARRAY_ELEMENTS:
        raise ProtocolViolation(f"array of shape {shape} exceeds the size cap")
    data = memoryview(blob)[start + length:]
    if len(data) != 8 * elements:
        raise ProtocolViolation("array data does not match its shape")
    return np.frombuffer(data, dtype="<f8").reshape(shape).copy()  # owned and writable


def load_array(blob: bytes, *, float64_only: bool = True) -> np.ndarray:
    """Parse `.npy` bytes from an untrusted sender: no pickles, float64, bounded shape."""
    fast = _fast_float64(blob)
    if fast is not None:
        return fast
    try:
        array = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception as error:  # a forged blob: any parse failure is a violation, not a crash
        raise ProtocolViolation(f"unreadable array: {error}") from None
    if not isinstance(array, np.ndarray) or type(array) is not np.ndarray:
        raise ProtocolViolation("blob is not a plain array")
    if float64_only and array.dtype != np.float64:
        raise ProtocolViolation(f"array dtype {array.dtype} is not float64")
    if array.ndim > MAX_ARRAY_DIMENSIONS or array.size > MAX_ARRAY_ELEMENTS:
        raise ProtocolViolation(f"array of shape {array.shape} exceeds the size cap")
    return array


class FrameReader:
    """Incremental parser: feed it bytes as they arrive, take out complete frames."""

    def __init__(self, max_total_bytes: int = 256 << 20, max_blobs: int = MAX_BLOBS,
                 max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self.buffer = bytearray()
        self.max_total_bytes = max_total_bytes
        self.max_blobs = max_blobs
        self.max_header_bytes = max_header_bytes
        self.received = 0
        self.pending: list[Frame] = []

    def feed(self, data: bytes) -> list[Frame]:
        """Append bytes; return every frame now complete. Raises ProtocolViolation."""
        self.received += len(data)
        if self.received > self.max_total_bytes:
            raise ProtocolViolation("more result data than any honest submission sends")
        self.buffer.extend(data)
        frames = []
        while (frame := self._take()) is not None:
            frames.append(frame)
        return frames

    def _take(self) -> Frame | None:
        if len(self.buffer) < PREFIX.size:
            return None
        header_length, blob_count = PREFIX.unpack_from(self.buffer)
        if header_length > self.max_header_bytes or blob_count > self.max_blobs:
            raise ProtocolViolation("frame header or blob count over the cap")
        position = PREFIX.size + header_length
        if len(self.buffer) < position:
            return None
        lengths = []
        for _ in range(blob_count):
            if len(self.buffer) < position + BLOB_LENGTH.size:
                return None
            (length,) = BLOB_LENGTH.unpack_from(self.buffer, position)
            if length > MAX_BLOB_BYTES:
                raise ProtocolViolation("blob over the size cap")
            position += BLOB_LENGTH.size
            if len(self.buffer) < position + length:
                return None
            lengths.append((position, length))
            position += length
        try:
            header = json.loads(bytes(self.buffer[PREFIX.size:PREFIX.size + header_length]))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolViolation("frame header is not JSON") from None
        if not isinstance(header, dict):
            raise ProtocolViolation("frame header is not an object")
        blobs = [bytes(self.buffer[start:start + length]) for start, length in lengths]
        del self.buffer[:position]
        return Frame(header=header, blobs=blobs)


def trusted_reader() -> FrameReader:
    """A reader for the channel between grader and zygote, which no child can write to."""
    return FrameReader(max_total_bytes=1 << 62, max_blobs=TRUSTED_MAX_BLOBS, max_header_bytes=TRUSTED_MAX_HEADER_BYTES)


def read_frame_blocking(fd: int, reader: FrameReader) -> Frame | None:
    """Read one frame from a blocking fd (trusted channels only); None at end of file."""
    while not reader.pending:
        data = os.read(fd, 1 << 16)
        if not data:
            return None
        reader.pending.extend(reader.feed(data))
    return reader.pending.pop(0)
