"""Paths of the feature store: ``{root}/{SYMBOL}/dt={YYYY-MM-DD}/features.parquet``."""

from __future__ import annotations

import bisect
import contextlib
import os
from datetime import date
from pathlib import Path

from stockdb.errors import StorageError
from stockdb.symbols import normalize_symbol

__all__ = ["FEATURE_COMPRESSION", "FEATURE_FILE", "FeatureLayout"]

FEATURE_FILE = "features.parquet"
FEATURE_COMPRESSION = "lz4"
"""Feature partitions are near-unique floats: zstd made them only 13 % smaller than LZ4 (125
against 143 KiB for a session of 36 columns) at 2.3x the encoding time (2.0 against 0.85 ms a
file), so the derived, rebuildable feature store trades that space for build speed. The bars,
the source of truth, stay zstd (46 % smaller than LZ4)."""


class FeatureLayout:
    """Lists and names the wide feature partitions under ``root`` (like the bars lake)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def symbol_dir(self, symbol: str) -> Path:
        return self.root / normalize_symbol(symbol)

    def partition_path(self, symbol: str, day: date) -> Path:
        return self.symbol_dir(symbol) / f"dt={day.isoformat()}" / FEATURE_FILE

    def symbols(self) -> list[str]:
        """Every symbol with at least one feature partition, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._names(p))

    def _names(self, folder: Path) -> list[str]:
        try:
            names = [
                e.name
                for e in folder.iterdir()
                if e.name.startswith("dt=") and (e / FEATURE_FILE).exists()
            ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        names.sort()
        return names

    def partitions(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> list[tuple[date, Path]]:
        """Partitions with ``start <= dt <= end`` (inclusive), pruned from the sorted listing."""
        folder = self.symbol_dir(symbol)
        names = self._names(folder)
        lo = 0 if start is None else bisect.bisect_left(names, f"dt={start.isoformat()}")
        hi = len(names) if end is None else bisect.bisect_right(names, f"dt={end.isoformat()}")
        return [(date.fromisoformat(n[3:]), folder / n / FEATURE_FILE) for n in names[lo:hi]]

    def check_writable(self) -> None:
        """Raise StorageError unless ``root`` exists writable or could be created."""
        probe = self.root
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise StorageError(f"cannot write features under {self.root}: not writable")

    def ensure_symbol_dir(self, symbol: str) -> Path:
        """Create the symbol's folder; StorageError when the disk refuses."""
        folder = self.symbol_dir(symbol)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {folder}: {exc.strerror}") from exc
        return folder

    def remove_partition(self, symbol: str, day: date) -> None:
        """Delete one partition's file and folder (no error when already gone)."""
        path = self.partition_path(symbol, day)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror}") from exc
        with contextlib.suppress(OSError):
            path.parent.rmdir()
