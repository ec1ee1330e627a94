"""Partition records of a higher-timeframe feature store, in a JSON file next to its partitions.

The 1-minute features keep their records in the state store (``feature_partitions``, keyed by
symbol and session). A higher timeframe has the same records, one per session partition, in
``{root}/{SYMBOL}/records.json``, written atomically under the builder's symbol lock, so the
same staleness rules (missing, set hash, bars changed, corporate action, orphan) apply to
every timeframe without a second key in the shared tables.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from stockdb.errors import DataIntegrityError, StorageError
from stockdb.features.layout import FeatureLayout
from stockdb.features.records import BuildRecord, PartitionRecord
from stockdb.symbols import normalize_symbol

__all__ = ["RECORDS_FILE", "FileFeatureRecords"]

RECORDS_FILE = "records.json"
_KEEP_BUILDS = 20


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _record_dict(record: Any) -> dict[str, Any]:
    return {f.name: _encode(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _partition(raw: dict[str, Any]) -> PartitionRecord:
    names = {f.name for f in dataclasses.fields(PartitionRecord)}
    values = {k: v for k, v in raw.items() if k in names}
    values["session_date"] = date.fromisoformat(values["session_date"])
    return PartitionRecord(**values)


def _build(raw: dict[str, Any]) -> BuildRecord:
    def instant(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    return BuildRecord(
        raw["symbol"],
        raw["set_hash"],
        instant(raw.get("first_ts")),
        instant(raw.get("last_ts")),
        int(raw["rows"]),
        int(raw["partitions"]),
        bool(raw["full"]),
        datetime.fromisoformat(raw["built_at"]),
    )


class FileFeatureRecords:
    """``partitions``/``save_build``/``builds`` of :class:`FeatureRecords`, kept in files."""

    def __init__(self, layout: FeatureLayout) -> None:
        self.layout = layout

    def _path(self, symbol: str) -> Path:
        return self.layout.symbol_dir(symbol) / RECORDS_FILE

    def _load(self, symbol: str) -> dict[str, Any]:
        path = self._path(symbol)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"partitions": [], "builds": []}
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            loaded: dict[str, Any] = json.loads(text)
        except ValueError as exc:
            raise DataIntegrityError(
                f"{path} is damaged; delete it and run `stockdb features build`"
            ) from exc
        return loaded

    def partitions(self, symbol: str) -> dict[date, PartitionRecord]:
        """The partition records of ``symbol`` by session date."""
        records = (_partition(r) for r in self._load(normalize_symbol(symbol))["partitions"])
        return {r.session_date: r for r in records}

    def symbols(self) -> list[str]:
        """Every symbol with a records file, sorted."""
        if not self.layout.root.is_dir():
            return []
        return sorted(p.name for p in self.layout.root.iterdir() if (p / RECORDS_FILE).is_file())

    def save_build(
        self,
        symbol: str,
        written: Iterable[PartitionRecord],
        removed: Iterable[date],
        build: BuildRecord,
    ) -> None:
        """Upsert the written partitions, drop the removed ones and append the build, in one
        atomic replace of the records file. Raises StorageError."""
        symbol = normalize_symbol(symbol)
        doc = self._load(symbol)
        current = {r.session_date: r for r in (_partition(x) for x in doc["partitions"])}
        for record in written:
            current[record.session_date] = record
        for day in removed:
            current.pop(day, None)
        builds = [*doc.get("builds", []), _record_dict(build)][-_KEEP_BUILDS:]
        body = {
            "partitions": [_record_dict(current[d]) for d in sorted(current)],
            "builds": builds,
        }
        self._write(self._path(symbol), json.dumps(body, sort_keys=True))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".records-", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(tmp).replace(path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc

    def builds(self, symbol: str, limit: int = 100) -> list[BuildRecord]:
        """The latest builds of ``symbol``, newest first."""
        raw = self._load(normalize_symbol(symbol)).get("builds", [])
        return [_build(b) for b in reversed(raw)][:limit]
