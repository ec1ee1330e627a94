"""The work of a verify thread: size and digests of partition files.

A module of its own, importing only the integrity helpers, so that a worker process can run it
too (:func:`stockdb.parallel.parallel_map` imports ``fn``'s module in its fork server).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from stockdb.lake.integrity import Algorithm, file_digests

__all__ = ["Checksum", "checksums"]

Checksum = tuple[int, tuple[str, ...]]
"""A file's size and its digest by each hash asked for."""


def checksums(
    _: None, items: Sequence[tuple[str | os.PathLike[str], tuple[Algorithm, ...]]]
) -> list[Checksum | None]:
    """(size, digests) of each ``(path, hashes)``, None for a file that does not exist (a
    worker's task)."""
    out: list[Checksum | None] = []
    for path, algorithms in items:
        try:
            out.append(file_digests(path, algorithms))
        except FileNotFoundError:
            out.append(None)
    return out
