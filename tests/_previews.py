"""A small dataset with an image file per item and a long text column, for the previews tests.

Each item's PNG is one flat grey whose level names the item (``grey_of(row)``), so a test can
tell from the pixels which item's file a page or a route showed. The PNG writer is the stdlib's
(zlib + struct), independent of the code under test.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

HOSTILE = '<img src=x onerror="window.__pwned=1"> & "quoted" \'single\' `tick` </td></tr><script>window.__pwned=2</script>'
WORDS = ("embedding spaces agree when their neighbourhoods overlap and disagree where a model "
         "learned something the other did not notice at all").split()


def grey_of(row: int) -> int:
    return 20 + 3 * row  # distinct levels for up to 70 rows


def png(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` (h, w) uint8."""
    h, w = pixels.shape
    raw = b"".join(b"\0" + pixels[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def long_text(row: int, n_words: int = 60) -> str:
    return " ".join(f"{WORDS[(row + i) % len(WORDS)]}" for i in range(n_words)) + f" (item {row})"


def image_dataset(folder: Path, n: int = 60, d: int = 8, seed: int = 0):
    """(table, vectors A, vectors B): ``folder/pics/img{row}.png`` per item (16x16, grey_of(row)),
    an ``image`` column of relative paths, a ``notes`` column of long text (row 3: hostile text)."""
    rng = np.random.default_rng(seed)
    (folder / "pics").mkdir(parents=True, exist_ok=True)
    for r in range(n):
        (folder / "pics" / f"img{r:03d}.png").write_bytes(png(np.full((16, 16), grey_of(r), dtype=np.uint8)))
    labels = rng.integers(0, 3, n)
    centers = rng.normal(size=(3, d)) * 3
    va = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    vb = (va + 0.8 * rng.normal(size=(n, d))).astype(np.float32)
    notes = [long_text(r) for r in range(n)]
    notes[3] = HOSTILE + " " + long_text(3)
    notes[5] = "short note"
    table = pd.DataFrame({"id": [f"p{r:03d}" for r in range(n)], "label": labels,
                          "image": [f"pics/img{r:03d}.png" for r in range(n)], "notes": notes})
    return table, va, vb
