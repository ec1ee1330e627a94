"""The work a verify worker process does: size and digest of partition files.

Kept apart from :mod:`stockdb.lake.verify` so the process pool's fork server imports only
what checksumming needs (hashlib and the integrity helpers), not the lake and the state store.
"""

from __future__ import annotations

from pathlib import Path

from stockdb.lake.integrity import checksum_file

__all__ = ["Checksum", "checksums"]

Checksum = tuple[int, str]


def checksums(_: None, paths: list[Path]) -> list[Checksum | None]:
    """(size, digest) of each file, None for one that does not exist (a worker's task)."""
    out: list[Checksum | None] = []
    for path in paths:
        try:
            out.append(checksum_file(path))
        except FileNotFoundError:
            out.append(None)
    return out
