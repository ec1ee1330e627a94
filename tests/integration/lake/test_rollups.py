"""Maintained rollups end to end: the real CLI ingests, replaces, verifies and rebuilds; the
Python API reads 1Day/1Hour from the rollup files, equal to derive-on-read (the reader's
aggregate of the stored minute files) and to a pandas groupby reference for daily closes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.client import open_db
from stockdb.lake.reader import BarQuery
from stockdb.lake.rollups import ROLLUPS, derive_bars

from .test_verify import run

START, END = "2023-12-27", "2024-01-05"  # two years' rollup files


def rollup_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "rollups").glob("tf=*/SPY/year=*/bars.parquet"))


def derived(data_dir: Path, timeframe: str, session: str, calendar: TradingCalendar) -> pa.Table:
    files = sorted((data_dir / "parquet" / "SPY").glob("dt=*/bars.parquet"))
    minutes = pa.concat_tables([pq.read_table(f) for f in files]).replace_schema_metadata(None)
    query = BarQuery.parse("SPY", timeframe, session=session)
    return derive_bars(minutes, query.timeframe, query.regular_only, calendar)


def assert_rollups_current(data_dir: Path, calendar: TradingCalendar) -> None:
    with open_db(data_dir) as db:
        for rollup in ROLLUPS:
            session = "regular" if rollup.regular_only else "all"
            got = db.bars("SPY", rollup.timeframe.name, session=session, output="arrow")
            assert got.equals(derived(data_dir, rollup.timeframe.name, session, calendar))
            names = db.app.lake.partition_names("SPY")
            _, fallback = db.app.lake.rollups.read(rollup, "SPY", names, None, None)
            assert fallback == []  # served by the rollup files, not derived on read


def test_ingest_replace_verify_and_rebuild_keep_rollups_exact(
    data_dir: Path, capsys: pytest.CaptureFixture[str], calendar: TradingCalendar
) -> None:
    code, _, err = run(capsys, "ingest", "SPY", "--start", START, "--end", END)
    assert code == 0, err
    files = rollup_files(data_dir)
    assert [f.relative_to(data_dir / "rollups").as_posix() for f in files] == [
        f"tf={name}/SPY/year={year}/bars.parquet"
        for name in ("1Day", "1Day-all", "1Hour")
        for year in (2023, 2024)
    ]
    assert_rollups_current(data_dir, calendar)

    # Daily closes against pandas: the last regular-hours minute of each session.
    with open_db(data_dir) as db:
        daily = db.bars("SPY", "1Day")
        minutes = db.bars("SPY", "1Min", session="regular")
    ny = minutes["ts"].dt.tz_convert("America/New_York")
    closes = minutes.groupby(ny.dt.date)["close"].last()
    assert list(daily["close"]) == list(closes)
    assert len(daily) == len(
        calendar.sessions(pd.Timestamp(START).date(), pd.Timestamp(END).date())
    )

    # --replace rewrites sessions: rollups follow (same bars served, files rewritten).
    code, _, err = run(capsys, "ingest", "SPY", "--start", "2024-01-02", "--end", END, "--replace")
    assert code == 0, err
    assert_rollups_current(data_dir, calendar)
    code, out, _ = run(capsys, "verify")
    assert code == 0 and "all intact" in out, out

    # A damaged rollup: readers derive instead (still exact), verify names it, rebuild fixes it.
    damaged = data_dir / "rollups" / "tf=1Day" / "SPY" / "year=2024" / "bars.parquet"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with open_db(data_dir) as db:
        got = db.bars("SPY", "1Day", output="arrow")
    assert got.equals(derived(data_dir, "1Day", "regular", calendar))
    code, out, _ = run(capsys, "verify")
    assert code == 8 and "damaged rollups SPY year=2024" in out and str(damaged) in out, out
    code, out, err = run(capsys, "rollups", "rebuild", "SPY")
    assert code == 0 and "rebuilt 6 rollup files for 1 symbols" in out, err
    assert_rollups_current(data_dir, calendar)
    code, out, _ = run(capsys, "verify")
    assert code == 0 and "all intact" in out, out

    # A deleted rollup is reported missing; verify --repair rebuilds it.
    damaged.unlink()
    code, out, _ = run(capsys, "verify")
    assert code == 8 and "missing rollups SPY year=2024" in out, out
    code, out, _ = run(capsys, "verify", "--repair")
    assert code == 0, out
    assert damaged.exists()
    assert_rollups_current(data_dir, calendar)


def test_rebuild_of_an_unknown_symbol_is_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", "SPY", "--start", "2024-01-02", "--end", "2024-01-03")
    assert code == 0, err
    before = {f: f.read_bytes() for f in rollup_files(data_dir)}
    assert len(before) == 3
    code, out, err = run(capsys, "rollups", "rebuild", "SPY", "NOPE")
    assert code != 0 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "NOPE" in err
    assert {f: f.read_bytes() for f in rollup_files(data_dir)} == before


def test_duckdb_views_read_the_rollups(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    code, _, err = run(capsys, "ingest", "SPY", "QQQ", "--start", START, "--end", END)
    assert code == 0, err
    code, out, err = run(capsys, "db", "refresh")
    assert code == 0, err
    assert all(v in out for v in ("bars_1day", "bars_1day_all", "bars_1hour", "bars_5min"))
    con = duckdb.connect(str(data_dir / "duckdb" / "market.duckdb"), read_only=True)
    try:
        with open_db(data_dir) as db:
            for view, timeframe, session in (
                ("bars_1day", "1Day", "regular"),
                ("bars_1day_all", "1Day", "all"),
                ("bars_1hour", "1Hour", "all"),
            ):
                sql = f"SELECT * FROM {view} WHERE symbol = 'QQQ' ORDER BY ts"
                got = con.sql(sql).to_arrow_table()
                want = db.bars("QQQ", timeframe, session=session, output="arrow")
                assert got.num_rows == want.num_rows > 0
                assert got.select(want.column_names).cast(want.schema).equals(want), view
    finally:
        con.close()
