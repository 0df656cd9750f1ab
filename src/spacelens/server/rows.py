"""Dataset rows sent as a request body: little-endian uint32, 4 bytes a row (the page's selection
export and the shown items' figures). One reader for both: the body is refused once it is longer
than the dataset could need (413, before it is all read), and a body that is not whole rows or
names a row past the dataset's end gets one line saying so (400)."""

from __future__ import annotations

import numpy as np
from fastapi import Request
from starlette.exceptions import HTTPException

from spacelens.errors import SpacelensError


async def read_rows(request: Request, dataset: str, n_rows: int, what: str = "rows") -> np.ndarray:
    """The distinct rows of the body, ascending (int64)."""
    limit = 4 * max(n_rows, 1)     # each row named at most once
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"The {what} are more than dataset {dataset!r} holds ({n_rows} rows, "
                                f"{limit} bytes as uint32)")
        chunks.append(chunk)
    body = b"".join(chunks)
    if len(body) % 4:
        raise SpacelensError(f"The {what} must be little-endian uint32 dataset row numbers",
                             f"Send 4 bytes a row ({len(body)} bytes is not a multiple of 4)")
    rows = np.unique(np.frombuffer(body, dtype="<u4").astype(np.int64))
    if len(rows) and rows[-1] >= n_rows:
        raise SpacelensError(f"Row {int(rows[-1])} is not in dataset {dataset!r} ({n_rows} rows)")
    return rows
