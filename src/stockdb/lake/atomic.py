"""Atomic Parquet writes: temp file in the same folder, fsync, ``os.replace``, fsync the folder."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.errors import StorageError

__all__ = [
    "atomic_write_parquet",
    "commit_temp",
    "discard_temp",
    "fsync_dir",
    "remove_stale_temp_files",
    "sweep_temp_tree",
    "write_temp_parquet",
]

_TEMP_PREFIX = ".tmp-"
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def fsync_dir(path: Path) -> None:
    """Flush a directory entry so a rename survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_parquet(table: pa.Table, dest: Path, compression: str = "zstd") -> None:
    """Write ``table`` to ``dest`` so that readers see the old file or the new one, never half.

    Creates missing parent folders. On any failure the temp file is removed and the old file
    (if any) is untouched; a full or read-only disk raises StorageError.
    """
    tmp = write_temp_parquet(table, dest, compression)
    commit_temp(tmp, dest)


def commit_temp(tmp: Path, dest: Path) -> None:
    """Atomically move a temp file from :func:`write_temp_parquet` into place and sync."""
    tmp.replace(dest)
    fsync_dir(dest.parent)


def discard_temp(tmp: Path) -> None:
    """Remove a temp file, then its partition and symbol folders if now empty (best effort)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        tmp.parent.rmdir()
        tmp.parent.parent.rmdir()


def write_temp_parquet(table: pa.Table, dest: Path, compression: str = "zstd") -> Path:
    """Write ``table`` durably to a temp file beside ``dest`` and return its path.

    Nothing is visible at ``dest`` until :func:`commit_temp`. Raises StorageError on a full or
    read-only disk, leaving no temp file and no newly created folder behind.
    """
    tmp = dest.parent / f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{dest.name}"
    created: list[Path] = []
    try:
        parent = dest.parent
        missing = []
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        with tmp.open("wb") as fh:
            pq.write_table(
                table,
                fh,
                compression=compression,
                use_dictionary=["symbol"] if "symbol" in table.column_names else True,
                write_statistics=True,
                coerce_timestamps="us",
                allow_truncated_timestamps=False,
            )
            fh.flush()
            os.fsync(fh.fileno())
        return tmp
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if exc.errno in _DISK_ERRNOS:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StorageError(f"cannot write {dest.parent}: {reason}") from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a crashed writer left in ``folder``; returns how many."""
    removed = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.startswith(_TEMP_PREFIX):
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
    return removed


def sweep_temp_tree(folder: Path) -> int:
    """Delete the temp files a crashed writer left in ``folder``'s ``dt=`` partitions (call
    while holding the writer lock of the symbol ``folder`` belongs to); returns how many."""
    if not folder.is_dir():
        return 0
    return sum(remove_stale_temp_files(p) for p in folder.glob("dt=*") if p.is_dir())
