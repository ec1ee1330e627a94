"""The work of a verify thread: size and digest of partition files.

A module of its own, importing only hashlib and the integrity helpers, so that a worker
process can run it too (:func:`stockdb.parallel.parallel_map` imports ``fn``'s module in its
fork server).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from stockdb.lake.integrity import checksum_file

__all__ = ["Checksum", "checksums"]

Checksum = tuple[int, str]


def checksums(_: None, paths: Sequence[str | os.PathLike[str]]) -> list[Checksum | None]:
    """(size, digest) of each file, None for one that does not exist (a worker's task)."""
    out: list[Checksum | None] = []
    for path in paths:
        try:
            out.append(checksum_file(path))
        except FileNotFoundError:
            out.append(None)
    return out
