"""Zip members, read as bounded streams: a member is never read whole into memory.

A member larger than :data:`MAX_MEMBER_BYTES` once expanded, or expanding more than
:data:`MAX_RATIO` times its compressed size (a zip bomb), is refused before a byte of it is
read; zipfile stops at the declared size, so a member cannot lie its way past the bound.
"""

from __future__ import annotations

import zipfile
from typing import IO

from geopublish.errors import SourceError

MAX_MEMBER_BYTES = 8 * 1024**3
MAX_RATIO = 200
DATASET_SUFFIXES = {
    ".shp",
    ".gpkg",
    ".geojson",
    ".json",
    ".csv",
    ".tab",
    ".mif",
    ".gml",
    ".kml",
    ".fgb",
    ".gdb",
    ".tif",
    ".tiff",
}


def member_info(archive: zipfile.ZipFile, name: str, origin: str) -> zipfile.ZipInfo:
    """The member ``name``; a SourceError listing the members when it is absent or too big."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise SourceError(
            f"member {name!r} not found in {origin!r}; it holds {listing(archive)}"
        ) from None
    check_size(info, origin)
    return info


def check_size(info: zipfile.ZipInfo, origin: str) -> None:
    """Refuse a member whose expanded size is past the bounds."""
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or (info.file_size > 64 * 1024**2 and ratio > MAX_RATIO):
        raise SourceError(
            f"member {info.filename!r} of {origin!r} expands to {info.file_size} bytes "
            f"({ratio:.0f}x its compressed size): refused as a possible zip bomb "
            f"(limits: {MAX_MEMBER_BYTES} bytes, {MAX_RATIO}x)"
        )


def open_member(archive: zipfile.ZipFile, name: str, origin: str) -> IO[bytes]:
    """A stream over one member, after its size was checked."""
    return archive.open(member_info(archive, name, origin))


def listing(archive: zipfile.ZipFile, limit: int = 20) -> str:
    """The archive's file members, at most ``limit``, as a short list."""
    names = [i.filename for i in archive.infolist() if not i.is_dir()]
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"[{shown}{more}]" if names else "no file"


def datasets(archive: zipfile.ZipFile) -> list[str]:
    """Members that look like a dataset GDAL can open (by suffix), at any depth."""
    return [
        i.filename
        for i in archive.infolist()
        if not i.is_dir() and "." + i.filename.rsplit(".", 1)[-1].lower() in DATASET_SUFFIXES
    ]
