"""Higher-timeframe partition records in records.json: round trip, upsert, removal, damage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stockdb.errors import DataIntegrityError
from stockdb.features.file_records import RECORDS_FILE, FileFeatureRecords
from stockdb.features.layout import FeatureLayout
from stockdb.features.records import BuildRecord, PartitionRecord

D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


def _build(n: int) -> BuildRecord:
    at = datetime(2024, 3, 7, tzinfo=UTC)
    return BuildRecord("SPY", "h", at, at, n, n, False, at)


def test_records_round_trip_upsert_and_remove(tmp_path):
    records = FileFeatureRecords(FeatureLayout(tmp_path / "tf=1Day"))
    assert records.partitions("SPY") == {}
    first = [PartitionRecord(D1, "h", "fp1", 1), PartitionRecord(D2, "h", "fp2", 1)]
    records.save_build("spy", first, [], _build(2))
    assert records.partitions("SPY") == {D1: first[0], D2: first[1]}
    changed = PartitionRecord(D2, "h2", "fp2b", 1)
    records.save_build("SPY", [changed, PartitionRecord(D3, "h2", "fp3", 0)], [D1], _build(2))
    assert records.partitions("SPY") == {D2: changed, D3: PartitionRecord(D3, "h2", "fp3", 0)}
    assert not list((tmp_path / "tf=1Day" / "SPY").glob(".records-*"))  # no temp file left


def test_a_damaged_records_file_is_one_clear_error(tmp_path):
    layout = FeatureLayout(tmp_path / "tf=1Hour")
    (layout.symbol_dir("SPY")).mkdir(parents=True)
    (layout.symbol_dir("SPY") / RECORDS_FILE).write_text("{not json")
    with pytest.raises(DataIntegrityError, match="records.json is damaged"):
        FileFeatureRecords(layout).partitions("SPY")
