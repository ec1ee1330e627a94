"""Multi-symbol reads through the Python API: one long frame with a symbol column, checked
against the per-symbol reads and against pandas aggregating the stored minute files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stockdb
from stockdb.app import App
from stockdb.client import StockDB
from stockdb.errors import InvalidInput, NotFound

START, END = date(2024, 3, 4), date(2024, 3, 6)
NAMES = ["MSFT", "AAPL", "SPY"]


@pytest.fixture
def db(app: App) -> Iterator[StockDB]:
    source = app.provider("synthetic")
    try:
        app.backfill.run(NAMES, START, END, source)
    finally:
        source.close()
    handle = StockDB(app)
    yield handle


def _regular_daily_reference(folder: Path, symbol: str) -> pd.DataFrame:
    """Daily bars of the regular session from the raw Parquet files, by pandas alone."""
    frames = [pq.read_table(f).to_pandas() for f in sorted(folder.glob(f"{symbol}/dt=*/*.parquet"))]
    minutes = pd.concat(frames, ignore_index=True)
    local = minutes["ts"].dt.tz_convert("America/New_York")
    clock = local.dt.hour * 60 + local.dt.minute
    regular = minutes[(clock >= 9 * 60 + 30) & (clock < 16 * 60)].copy()
    regular["day"] = local[regular.index].dt.date
    grouped = regular.sort_values("ts").groupby("day")
    out = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    return out.reset_index()


def test_daily_bars_of_a_list_are_one_long_frame(db: StockDB, settings: object) -> None:
    frame = db.bars(["msft", "AAPL"], "1Day", start=START, end=END)
    assert list(frame.columns[:2]) == ["symbol", "ts"]
    assert list(frame["symbol"]) == ["MSFT"] * 3 + ["AAPL"] * 3  # the order given
    folder = db.app.settings.data_dir / "parquet"
    for symbol in ("MSFT", "AAPL"):
        got = frame[frame["symbol"] == symbol].reset_index(drop=True)
        want = _regular_daily_reference(folder, symbol)
        assert [t.date() for t in got["ts"].dt.tz_convert("America/New_York")] == list(want["day"])
        for column in ("open", "high", "low", "close", "volume"):
            assert got[column].tolist() == pytest.approx(want[column].tolist())


def test_each_symbol_equals_its_single_read_in_every_output(db: StockDB) -> None:
    arrow = db.bars(NAMES, "15Min", start="2024-03-05", end="2024-03-06", output="arrow")
    assert isinstance(arrow, pa.Table)
    singles = [
        db.bars(s, "15Min", start="2024-03-05", end="2024-03-06", output="arrow") for s in NAMES
    ]
    assert arrow.equals(pa.concat_tables(singles))
    polars = db.bars(NAMES, "15Min", start="2024-03-05", end="2024-03-06", output="polars")
    assert isinstance(polars, pl.DataFrame) and polars.equals(pl.from_arrow(arrow))
    by_comma = db.bars("MSFT,AAPL,SPY", "15Min", start="2024-03-05", end="2024-03-06")
    assert by_comma.equals(arrow.to_pandas())


def test_limit_is_per_symbol_and_a_single_symbol_is_unchanged(db: StockDB) -> None:
    frame = db.bars(["AAPL", "SPY"], limit=4)
    assert frame.groupby("symbol").size().to_dict() == {"AAPL": 4, "SPY": 4}
    for symbol in ("AAPL", "SPY"):
        alone = db.bars(symbol, limit=4)
        part = frame[frame["symbol"] == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone)
    single = db.bars("SPY", "1Hour", output="arrow")
    assert single.equals(db.bars(["SPY"], "1Hour", output="arrow"))


def test_bad_and_unknown_symbols_are_named_in_one_error(db: StockDB) -> None:
    with pytest.raises(InvalidInput) as bad:
        db.bars(["AAPL", "a b", "SPY", "../x", "1ABC"], "1Day")
    message = str(bad.value)
    assert "'a b'" in message and "'../x'" in message and "'1ABC'" in message
    assert "\n" not in message and "AAPL" not in message
    with pytest.raises(NotFound) as missing:
        db.bars(["AAPL", "ZZZ", "SPY", "QQQ"], "1Day")
    assert str(missing.value) == "no bars stored for ZZZ, QQQ"
    with pytest.raises(InvalidInput, match="no symbol given"):
        db.bars([], "1Day")


def test_features_of_a_list_carry_the_symbol(db: StockDB) -> None:
    db.build_features(["AAPL", "SPY"])
    frame = db.features(["SPY", "AAPL"], start="2024-03-05", end="2024-03-06")
    assert list(frame.columns[:2]) == ["symbol", "ts"]
    for symbol in ("SPY", "AAPL"):
        alone = db.features(symbol, start="2024-03-05", end="2024-03-06")
        part = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone)
    assert frame["symbol"].iloc[0] == "SPY" and frame["symbol"].iloc[-1] == "AAPL"
    with pytest.raises(NotFound, match="no features stored for MSFT"):
        db.features(["SPY", "MSFT"])


def test_universe_drives_python_reads_and_ingest(db: StockDB) -> None:
    universe = db.universes.create("pair", ["aapl", "MSFT"])
    assert universe.symbols == ("AAPL", "MSFT") and universe.source == "manual"
    frame = db.bars(universe="pair", timeframe="1Day", output="arrow")
    assert frame.equals(db.bars(["AAPL", "MSFT"], "1Day", output="arrow"))
    db.universes.add("pair", ["QQQ"])
    summary = db.ingest(universe="pair", start="2024-03-04", end="2024-03-04")
    assert summary.rows_written > 0  # only QQQ was new
    assert set(db.symbols()["symbol"]) == {"AAPL", "MSFT", "SPY", "QQQ"}
    with stockdb.open(db.app.settings.data_dir) as reopened:
        assert reopened.universes.get("pair").symbols == ("AAPL", "MSFT", "QQQ")


def test_train_on_a_universe_uses_its_symbols_in_order(db: StockDB) -> None:
    db.build_features(["AAPL", "SPY"])
    db.universes.create("duo", ["SPY", "AAPL"])
    record = db.train(universe="duo", target="direction", horizon=5)
    assert list(record.tickers) == ["SPY", "AAPL"]
    with pytest.raises(NotFound, match="no universe named 'nope'"):
        db.train(universe="nope")
