"""Item images: what a dataset's image column points at, and the one rule for showing files.

A value that is an http(s) or ``data:image/`` URL is shown as it is (the browser fetches it).
A file path is shown only when it resolves (symlinks followed) to a file with an image suffix
under an allowed folder: the dataset's own image folder (recorded with ``spacelens add
--images DIR``) or one the server was started with (``spacelens ui --images DIR``). A relative
path is read against each folder in turn; an absolute one must lie under one of them; a path
that leads out (``../``) is refused. A request names a dataset row and a column, never a path.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from urllib.parse import quote

from spacelens.errors import NotFoundError
from spacelens.views.colors import IMAGE_SUFFIXES

URL_PREFIXES = ("http://", "https://", "data:image/")
# a kernel inlines image files up to this size (the widget has no file route)
INLINE_BYTES = 256 * 1024


def image_columns(columns: list[dict]) -> list[str]:
    """Names of the columns whose kind is 'image' (spacelens.views.colors.describe_columns)."""
    return [c["name"] for c in columns if c["kind"] == "image"]


def is_url(value) -> bool:
    return isinstance(value, str) and value.lower().startswith(URL_PREFIXES)


def image_roots(reg, dataset: str, extra=()) -> list[Path]:
    """The folders files of ``dataset`` may be served from: its own, then the server's."""
    own = reg.image_folder(dataset)
    return ([own] if own is not None else []) + [Path(r) for r in extra]


def image_file(value, roots: list[Path], what: str = "The image") -> Path:
    """The image file ``value`` names, resolved under one of ``roots`` (resolved folders).

    Raises NotFoundError naming why: no folders, not an image path, outside every folder
    (``../`` or an absolute path elsewhere), or no such file.
    """
    if not roots:
        raise NotFoundError("Image files are not served",
                            "Register the dataset's image folder with 'spacelens add ... --images DIR', "
                            "or start 'spacelens ui --images DIR' to show images under DIR")
    if not isinstance(value, str) or "\0" in value or not value.lower().endswith(IMAGE_SUFFIXES):
        raise NotFoundError(f"{what} is not an image file path (one of {', '.join(IMAGE_SUFFIXES)})")
    inside = False
    for root in roots:
        try:
            p = Path(root, value).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            continue
        if not p.is_relative_to(root):
            continue
        inside = True
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            return p
    if not inside:
        raise NotFoundError(f"{what} leads outside the image folders",
                            "Image files are served only from under the dataset's image folder "
                            "('spacelens add --images DIR') or a 'spacelens ui --images DIR' folder")
    raise NotFoundError(f"{what} is not a file under the image folders")


def file_url(dataset: str, row: int, column: str) -> str:
    """The page's address of a row's image file (relative, like every API path the page asks)."""
    return f"api/datasets/{quote(dataset, safe='')}/items/{int(row)}/image?column={quote(column, safe='')}"


def inline_url(path: Path, limit: int = INLINE_BYTES) -> str | None:
    """A small image file as a ``data:`` URL (for the notebook widget), None when too large."""
    try:
        if path.stat().st_size > limit:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def row_images(e: dict, dataset: str, row: int, roots: list[Path], inline: bool = False,
               first: bool = False) -> list[dict]:
    """``[{"column", "url"}]`` of a row's images that can be shown: URLs as they are; files that
    the rule above allows, as the file route's address (``inline``: as data: URLs). ``e``: the
    dataset's cached table entry (``table``, ``columns``). ``first``: stop at the first one."""
    out = []
    for col in image_columns(e["columns"]):
        v = e["table"][col].iloc[row]
        if not isinstance(v, str) or not v:
            continue
        if is_url(v):
            url = v
        elif roots:
            try:
                p = image_file(v, roots)
            except NotFoundError:
                continue
            url = inline_url(p) if inline else file_url(dataset, row, col)
            if url is None:
                continue
        else:
            continue
        out.append({"column": col, "url": url})
        if first:
            break
    return out


def thumbnails(e: dict, dataset: str, rows, roots: list[Path], inline: bool = False) -> dict[str, str]:
    """``{str(row): url}``: each row's first image that can be shown (the neighbour tables)."""
    out = {}
    for r in dict.fromkeys(int(r) for r in rows):
        got = row_images(e, dataset, r, roots, inline=inline, first=True)
        if got:
            out[str(r)] = got[0]["url"]
    return out


def query_previews(res: dict, e: dict, dataset: str, roots: list[Path], inline: bool = False) -> dict:
    """What a kNN query answer (``res``: spacelens.api.query) carries for the neighbour tables:
    ``images`` (each neighbour's thumbnail, ``{str(row): url}``, every space's) and
    ``image_column`` (the dataset's first image column, which the thumbnails stand for; None
    when no neighbour has an image to show)."""
    rows = [n["row"] for lst in res.get("spaces", {}).values() for n in lst]
    images = thumbnails(e, dataset, rows, roots, inline=inline)
    cols = image_columns(e["columns"])
    return {"images": images, "image_column": cols[0] if images and cols else None}
