"""The page's binary frame: a small JSON header followed by raw little-endian arrays.

Point data (coordinates, colour codes, row masks) never travels as JSON numbers: at a
million points per map that would be ~20 bytes a point and seconds of parsing. A frame is

    b"SLB1" | uint32 header length H | H bytes of UTF-8 JSON (space-padded) | buffers

where the header lists each buffer as ``{"name", "dtype", "length", "offset"}`` (offset in
bytes from the end of the header, always a multiple of 8 so the browser can view it as a
typed array without copying). The browser decoder is ``web/src/frame.ts``.
"""

from __future__ import annotations

import json
import struct

import numpy as np

MAGIC = b"SLB1"
MEDIA_TYPE = "application/x-spacelens-frame"
DTYPES = {"float32": "<f4", "uint8": "<u1", "uint16": "<u2", "uint32": "<u4", "int32": "<i4"}


def _pad(n: int, align: int = 8) -> int:
    return (-n) % align


def encode(header: dict, buffers: dict[str, np.ndarray]) -> bytes:
    """One frame holding ``header`` (JSON-ready) and 1-D ``buffers`` (dtypes in DTYPES)."""
    specs, blobs, offset = [], [], 0
    for name, arr in buffers.items():
        dtype = np.dtype(arr.dtype).name
        if dtype not in DTYPES:
            raise TypeError(f"buffer {name!r}: dtype {dtype} cannot be sent to the page")
        data = np.ascontiguousarray(arr, dtype=DTYPES[dtype]).reshape(-1).tobytes()
        specs.append({"name": name, "dtype": dtype, "length": int(arr.size), "offset": offset})
        blobs.append(data + b"\0" * _pad(len(data)))
        offset += len(blobs[-1])
    head = json.dumps({**header, "buffers": specs}, separators=(",", ":"), allow_nan=False).encode()
    head += b" " * _pad(8 + len(head))
    return MAGIC + struct.pack("<I", len(head)) + head + b"".join(blobs)


def decode(frame: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of :func:`encode` (used by tests and benchmarks, as the page does it)."""
    if frame[:4] != MAGIC:
        raise ValueError("not a spacelens frame")
    (n,) = struct.unpack("<I", frame[4:8])
    header = json.loads(frame[8:8 + n])
    base = 8 + n
    arrays = {}
    for spec in header["buffers"]:
        dt = np.dtype(DTYPES[spec["dtype"]])
        start = base + spec["offset"]
        arrays[spec["name"]] = np.frombuffer(frame, dtype=dt, count=spec["length"], offset=start)
    return header, arrays
