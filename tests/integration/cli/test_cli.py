"""The CLI end to end on a temp data dir: ingest, bars, gaps, db refresh, and every bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockdb.cli.main import main

from ...conftest import snapshot  # type: ignore[import-not-found]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ingested(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out, err = run(
        capsys, "ingest", "SPY", "QQQ", "--start", "2024-03-04", "--end", "2024-03-15"
    )
    assert code == 0, err
    assert err.count("SYNTHETIC") == 1, err  # said loudly, once, on every ingest
    assert "sessions fetched 20" in out and "complete 20" in out
    return data_dir


def test_ingest_is_idempotent_byte_for_byte(
    ingested: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(ingested / "parquet")
    assert len([k for k in before if k.endswith("bars.parquet")]) == 20
    code, out, _ = run(
        capsys, "ingest", "SPY", "QQQ", "--start", "2024-03-04", "--end", "2024-03-15"
    )
    assert code == 0 and "skipped 20" in out and "rows written 0" in out
    assert snapshot(ingested / "parquet") == before


def test_bars_csv_matches_the_lake(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bars", "spy", "--limit", "5", "--format", "csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == '"ts","open","high","low","close","volume","trade_count","vwap"'
    last = pq.read_table(
        ingested / "parquet" / "SPY" / "dt=2024-03-15" / "bars.parquet"
    ).to_pandas()
    want = last.tail(5)
    got = pd.read_csv(pd.io.common.StringIO(out))
    assert list(got["ts"]) == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in want["ts"]]
    assert list(got["close"]) == list(want["close"])


def test_bars_json_and_daily(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bars", "QQQ", "--timeframe", "1Day", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["ts"][:10] for r in rows] == [
        f"2024-03-{d:02d}" for d in (4, 5, 6, 7, 8, 11, 12, 13, 14, 15)
    ]


def test_bars_parquet_output_file(
    ingested: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out.parquet"
    code, _, _ = run(
        capsys, "bars", "SPY", "--timeframe", "5Min", "--format", "parquet", "--output", str(dest)
    )
    assert code == 0 and pq.read_table(dest).num_rows > 0


def test_gaps_report(ingested: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gaps", "SPY", "--start", "2024-03-01", "--end", "2024-03-19")
    assert code == 0
    assert "complete 10" in out and "missing 3" in out  # 03-01, 03-18, 03-19 never fetched


def test_db_refresh_creates_browsable_views(
    ingested: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "db", "refresh")
    assert code == 0 and "bars_1min" in out
    con = duckdb.connect(str(ingested / "duckdb" / "market.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT count(*) FROM bars_1min").fetchone()
        files = list((ingested / "parquet").rglob("bars.parquet"))
        assert rows is not None and rows[0] == sum(pq.read_metadata(f).num_rows for f in files)
        five = con.execute("SELECT count(*) FROM bars_5min WHERE symbol = 'SPY'").fetchone()
        assert five is not None and five[0] > 0
    finally:
        con.close()


def test_python_api(ingested: Path) -> None:
    import polars as pl
    import pyarrow as pa

    import stockdb

    with stockdb.open(ingested) as db:
        frame = db.bars("SPY", "5Min", start="2024-03-11", end="2024-03-11")
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
        assert frame["ts"].dt.tz_convert("America/New_York").dt.date.nunique() == 1
        assert isinstance(db.bars("SPY", limit=3, output="arrow"), pa.Table)
        assert isinstance(db.bars("SPY", limit=3, output="polars"), pl.DataFrame)
        assert set(db.symbols()["symbol"]) == {"SPY", "QQQ"}
        assert (db.gaps("SPY", end="2024-03-15")["status"] == "complete").all()


BAD_INPUTS = [
    ("bars", "SPY", "--timeframe", "7Min"),
    ("bars", "../x"),
    ("bars", "SPY;DROP"),
    ("bars", "SPY", "--start", "2024-02-30"),
    ("bars", "SPY", "--start", "2024-03-10", "--end", "2024-03-01"),
    ("bars", "SPY", "--limit", "100000000"),
    ("bars", "SPY", "--session", "overnight"),
    ("bars", "SPY", "--format", "xml"),
    ("bars", "NOPE"),
    ("ingest", "../x", "--start", "2024-03-01", "--end", "2024-03-05"),
    ("ingest", "SPY;DROP", "--start", "2024-03-01", "--end", "2024-03-05"),
    ("ingest", "SPY", "--start", "2024-13-01", "--end", "2024-12-05"),
    ("ingest", "SPY", "--start", "2024-03-10", "--end", "2024-03-01"),
    ("ingest", "SPY", "--start", "2024-12-25", "--end", "2024-12-25"),
    ("ingest", "SPY", "--start", "1960-01-04", "--end", "1960-01-05"),
    ("ingest", "SPY", "--start", "2024-03-01", "--end", "2024-03-05", "--provider", "yahoo"),
    ("ingest", "SPY", "--start", "2024-03-01", "--end", "2024-03-05", "--provider", "alpaca"),
    ("gaps", "SPY", "--start", "2024-03-10", "--end", "2024-03-01"),
    ("gaps", "x/../../etc"),
    ("nope",),
    ("bars",),
]


@pytest.mark.parametrize("argv", BAD_INPUTS, ids=lambda a: " ".join(a))
def test_bad_input_one_line_and_nothing_changed(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    before = snapshot(data_dir.parent)
    code, out, err = run(capsys, *argv)
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert snapshot(data_dir.parent) == before


def test_bad_input_on_an_existing_lake_changes_nothing(
    ingested: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(ingested)
    for argv in BAD_INPUTS:
        code, _, err = run(capsys, *argv)
        assert code != 0 and len(err.strip().splitlines()) == 1, (argv, err)
    assert snapshot(ingested) == before


def test_unwritable_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STOCKDB_DATA_DIR", str(blocker / "data"))
    code, _, err = run(capsys, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-05")
    assert code != 0 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_another_provider_is_refused_without_replace(
    ingested: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockdb.providers.synthetic import SyntheticProvider

    monkeypatch.setattr(SyntheticProvider, "feed", "other-feed")
    before = snapshot(ingested / "parquet")
    code, _, err = run(capsys, "ingest", "SPY", "--start", "2024-03-18", "--end", "2024-03-19")
    assert code == 4 and "refusing to mix" in err
    assert snapshot(ingested / "parquet") == before
    # --replace over a range that leaves stored sessions outside would mix two providers.
    code, _, err = run(
        capsys, "ingest", "SPY", "--start", "2024-03-18", "--end", "2024-03-19", "--replace"
    )
    assert code == 4 and "10 sessions outside" in err and "2024-03-04..2024-03-15" in err
    assert snapshot(ingested / "parquet") == before
    # Asking for every stored session switches the symbol, and nothing else.
    code, out, err = run(
        capsys, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-19", "--replace"
    )
    assert code == 0, err
    assert "replaced sessions: SPY 10 (2024-03-04..2024-03-15)" in out
    assert len(list((ingested / "parquet" / "SPY").iterdir())) == 12
    con = sqlite3.connect(ingested / "state" / "stockdb.sqlite")
    feeds = con.execute("SELECT DISTINCT feed FROM coverage WHERE symbol='SPY'").fetchall()
    con.close()
    assert feeds == [("other-feed",)]
    after = snapshot(ingested / "parquet")
    assert {k: v for k, v in after.items() if k.startswith("QQQ")} == {
        k: v for k, v in before.items() if k.startswith("QQQ")
    }
