"""Builder and service on a real temp lake, SQLite state store and Parquet feature store."""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from stockdb.config import Settings
from stockdb.errors import InvalidInput, NotFound, StorageError
from stockdb.features.definitions import FeatureSet, default_feature_set
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import generate_session


def test_full_build_writes_one_wide_partition_per_session(app, service, sessions, write_bars):
    write_bars("SPY", sessions)
    [result] = service.build(["SPY"])
    assert result.partitions == result.partitions_written == len(sessions)
    parts = service.layout.partitions("SPY")
    assert [d for d, _ in parts] == [s.date for s in sessions]
    day, path = parts[3]
    table = pq.read_table(path)
    bars = app.lake.read_session("SPY", day)
    assert table.column_names[:8] == [
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "trade_count",
        "vwap",
    ]
    assert table.column("ts").equals(bars.column("ts"))
    assert all(str(table.schema.field(c).type) == "double" for c in service.feature_set.columns)
    meta = table.schema.metadata
    assert meta[b"stockdb.feature_set_hash"] == service.set_hash.encode()
    assert service.status()[0].up_to_date
    [again] = service.build(["SPY"])
    assert again.up_to_date


def test_incremental_equals_full_recompute(app, settings, service, sessions, write_bars, digest):
    write_bars("SPY", sessions[:8])
    service.build(["SPY"])
    untouched = {d: p.stat().st_mtime_ns for d, p in service.layout.partitions("SPY")}
    write_bars("SPY", sessions[8:])
    stale = service.status()[0].stale
    assert [s.day for s in stale] == [s.date for s in sessions[8:]]
    assert {s.reason for s in stale} == {"missing"}
    [inc] = service.build(["SPY"])
    assert inc.partitions_written == len(sessions) - 8
    for d, p in service.layout.partitions("SPY", end=sessions[7].date):
        assert p.stat().st_mtime_ns == untouched[d]  # earlier partitions were not rewritten

    other = Settings(data_dir=settings.data_dir, dest_parquet_dir=settings.data_dir / "full")
    full_service = app.feature_service(settings=other)
    full_service.build(["SPY"], full=True)
    inc_parts = service.layout.partitions("SPY")
    full_parts = full_service.layout.partitions("SPY")
    assert [d for d, _ in inc_parts] == [d for d, _ in full_parts]
    for (_, a), (_, b) in zip(inc_parts, full_parts, strict=True):
        ta, tb = pq.read_table(a), pq.read_table(b)
        assert ta.schema.metadata == tb.schema.metadata
        assert ta.schema.equals(tb.schema, check_metadata=True)
        for name in ta.column_names[1:]:
            np.testing.assert_allclose(
                ta.column(name).to_numpy(), tb.column(name).to_numpy(), rtol=1e-9, equal_nan=True
            )
    assert digest(service.layout.root / "SPY") == digest(full_service.layout.root / "SPY")


def test_changed_session_rewrites_it_and_later_ones_only(app, service, sessions, write_bars):
    write_bars("SPY", sessions)
    service.build(["SPY"])
    before = {d: p.stat().st_mtime_ns for d, p in service.layout.partitions("SPY")}
    target = sessions[5]
    bars = generate_session("SPY", target)
    revised = bars.set_column(8, "vwap", bars.column("close"))  # a revised, still valid bar
    with app.lake.writer("SPY"):
        app.lake.write_session(
            "SPY", target.date, revised, Lineage("synthetic", "synthetic"), mode="replace"
        )
    assert service.status()[0].stale[0].reason == "bars_changed"
    [result] = service.build(["SPY"])
    assert result.partitions_written == len(sessions) - 5
    after = {d: p.stat().st_mtime_ns for d, p in service.layout.partitions("SPY")}
    assert all(after[s.date] == before[s.date] for s in sessions[:5])


def test_new_set_hash_marks_everything_stale(app, service, sessions, write_bars):
    write_bars("SPY", sessions[:3])
    service.build(["SPY"])
    base = default_feature_set()
    first = dataclasses.replace(base.definitions[0], version=2)
    newer = app.feature_service(FeatureSet((first, *base.definitions[1:])))
    assert {s.reason for s in newer.status()[0].stale} == {"set_hash"}
    newer.build(["SPY"])
    assert newer.status()[0].up_to_date
    assert not service.status()[0].up_to_date


def test_removed_session_is_an_orphan_and_gets_deleted(app, service, sessions, write_bars):
    write_bars("SPY", sessions[:4])
    service.build(["SPY"])
    app.lake.partition_path("SPY", sessions[3].date).unlink()
    assert service.status()[0].stale[0].reason == "orphan"
    [result] = service.build(["SPY"])
    assert result.partitions_removed == 1
    assert [d for d, _ in service.layout.partitions("SPY")] == [s.date for s in sessions[:3]]


def test_state_store_rows(app, service, sessions, write_bars):
    write_bars("SPY", sessions[:3])
    service.build(["SPY"])
    builds = service.records.builds("SPY")
    assert len(builds) == 1 and builds[0].partitions == 3 and builds[0].rows > 0
    with app.state.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT feature_name, code_ref, set_hash FROM feature_sets")
        rows = rows.fetchall()
    assert {r[0] for r in rows} == {d.name for d in service.definitions()}
    assert all(r[2] == service.set_hash for r in rows)


def test_store_read_prunes_and_validates(service, sessions, write_bars):
    write_bars("SPY", sessions)
    service.build(["SPY"])
    day = sessions[2].date
    df = service.read("SPY", day, day, ["rsi_14", "close"])
    assert list(df.columns) == ["ts", "rsi_14", "close"]
    assert str(df["ts"].dtype) == "datetime64[us, UTC]"
    assert df["ts"].is_monotonic_increasing
    assert len(df) == service.records.partitions("SPY")[day].rows
    assert len(service.read("SPY", limit=7)) == 7
    with pytest.raises(InvalidInput, match="bogus"):
        service.read("SPY", columns=["rsi_14", "bogus"])
    with pytest.raises(NotFound):
        service.read("QQQ")
    with pytest.raises(InvalidInput):
        service.read("../x")


def test_bad_inputs_write_nothing(app, service, sessions, write_bars, digest, tmp_path):
    write_bars("SPY", sessions[:2])
    with pytest.raises(NotFound, match="NOPE"):
        service.build(["SPY", "NOPE"])
    with pytest.raises(InvalidInput):
        service.build(["../etc"])
    assert digest(service.layout.root) == {}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = Settings(data_dir=app.settings.data_dir, dest_parquet_dir=blocker / "features")
    with pytest.raises(StorageError, match="not writable"):
        app.feature_service(settings=bad).build(["SPY"])
    assert digest(service.layout.root) == {}
    assert service.records.builds() == []


def test_duckdb_source_and_destination_view(app, settings, sessions, write_bars, tmp_path):
    write_bars("SPY", sessions[:3])
    source = tmp_path / "source.duckdb"
    glob = str(app.lake.root / "SPY" / "*" / "bars.parquet")
    with duckdb.connect(str(source)) as con:
        con.execute(
            "CREATE TABLE bars_1min AS SELECT * FROM "
            f"read_parquet('{glob}', hive_partitioning = false)"
        )
    other = Settings(
        data_dir=settings.data_dir,
        source_duckdb_path=source,
        dest_duckdb_path=source,
        dest_parquet_dir=tmp_path / "out",
    )
    svc = app.feature_service(settings=other)
    [result] = svc.build()
    assert result.partitions_written == 3
    lake_svc = app.feature_service()
    lake_svc.build(["SPY"])
    a = svc.read("SPY")
    b = lake_svc.read("SPY")
    assert a.equals(b)
    with duckdb.connect(str(source), read_only=True) as con:
        count, symbol = con.execute("SELECT count(*), any_value(symbol) FROM features").fetchone()
        bars = con.execute("SELECT count(*) FROM bars_1min").fetchone()[0]
    assert (count, symbol) == (len(a), "SPY") and bars == len(a)
    assert (
        date.fromisoformat(str(a["ts"].dt.tz_convert("America/New_York").dt.date.iloc[0]))
        == sessions[0].date
    )
