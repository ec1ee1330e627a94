"""Derived bars equal an independent pandas aggregation of the stored minutes.

The reference groups on New York wall-clock floors (pandas tz conversion) and takes the
regular session from exchange_calendars directly, so it shares no code with the reader.
"""

from __future__ import annotations

from datetime import date

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.lake.reader import BarQuery

# Both 2024 DST switches, two early closes, and the holidays around them.
RANGES = [
    (date(2024, 3, 7), date(2024, 3, 12)),
    (date(2024, 7, 1), date(2024, 7, 8)),
    (date(2024, 10, 31), date(2024, 11, 5)),
    (date(2024, 11, 26), date(2024, 12, 2)),
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, pd.DataFrame]:
    from stockdb.config import Settings

    root = tmp_path_factory.mktemp("derived")
    stockdb = App(Settings(data_dir=root / "data"))
    provider = stockdb.provider("synthetic")
    for start, end in RANGES:
        stockdb.backfill.run(["SPY"], start, end, provider)
    files = sorted((root / "data" / "parquet" / "SPY").glob("dt=*/bars.parquet"))
    minutes = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    return stockdb, minutes.sort_values("ts", ignore_index=True)


def reference(minutes: pd.DataFrame, rule: str | None, regular: bool) -> pd.DataFrame:
    df = minutes.copy()
    ny = df["ts"].dt.tz_convert("America/New_York")
    if regular:
        cal = xcals.get_calendar("XNYS", start="2024-01-02")
        sched = cal.schedule.loc[ny.dt.date.min().isoformat() : ny.dt.date.max().isoformat()]
        opens = sched["open"].reindex(pd.to_datetime(ny.dt.date)).to_numpy()
        closes = sched["close"].reindex(pd.to_datetime(ny.dt.date)).to_numpy()
        ts = df["ts"].to_numpy()
        keep = (ts >= opens) & (ts < closes)
        df, ny = df[keep], ny[keep]
    if rule is None:  # one bar per session, labelled at New York midnight
        key = ny.dt.normalize()
    else:
        key = ny.dt.floor(rule)
    df = df.assign(key=key.dt.tz_convert("UTC"), pv=df["vwap"] * df["volume"])
    g = df.groupby("key", sort=True)
    out = pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
            "volume": g["volume"].sum(),
            "trade_count": g["trade_count"].sum(),
            "vwap": g["pv"].sum() / g["volume"].sum(),
        }
    )
    out.index.name = "ts"
    return out.reset_index()


@pytest.mark.parametrize(
    ("timeframe", "rule", "session"),
    [
        ("5Min", "5min", None),
        ("15Min", "15min", None),
        ("30Min", "30min", None),
        ("1Hour", "1h", None),
        ("5Min", "5min", "regular"),
        ("1Hour", "1h", "regular"),
        ("1Day", None, None),  # regular hours by default
        ("1Day", None, "all"),
    ],
)
def test_derived_equals_pandas(
    loaded: tuple[App, pd.DataFrame], timeframe: str, rule: str | None, session: str | None
) -> None:
    stockdb, minutes = loaded
    got = stockdb.reader.bars(BarQuery.parse("SPY", timeframe, session=session)).to_pandas()
    regular = session == "regular" or (timeframe == "1Day" and session is None)
    want = reference(minutes, rule, regular)
    assert len(got) == len(want)
    assert (got["ts"].to_numpy() == want["ts"].to_numpy()).all()
    for col in ("open", "high", "low", "close", "vwap"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12, err_msg=col)
    for col in ("volume", "trade_count"):
        assert (got[col].to_numpy() == want[col].to_numpy()).all(), col


def test_sessions_and_holidays(loaded: tuple[App, pd.DataFrame]) -> None:
    stockdb, _ = loaded
    daily = stockdb.reader.bars(BarQuery.parse("SPY", "1Day")).to_pandas()
    days = set(daily["ts"].dt.tz_convert("America/New_York").dt.date)
    assert date(2024, 7, 4) not in days and date(2024, 11, 28) not in days
    assert {date(2024, 3, 8), date(2024, 3, 11), date(2024, 7, 3), date(2024, 11, 29)} <= days
    # The early-close session's regular bars end at 13:00 New York.
    hours = stockdb.reader.bars(
        BarQuery.parse("SPY", "1Hour", date(2024, 11, 29), date(2024, 11, 29), session="regular")
    ).to_pandas()
    last = hours["ts"].iloc[-1].tz_convert("America/New_York")
    assert (last.hour, last.minute) == (12, 0)


def test_limit_gives_latest_in_ascending_order(loaded: tuple[App, pd.DataFrame]) -> None:
    stockdb, minutes = loaded
    latest = stockdb.reader.bars(BarQuery.parse("SPY", "1Min", limit=5)).to_pandas()
    assert list(latest["ts"]) == list(minutes["ts"].iloc[-5:])
    five = stockdb.reader.bars(BarQuery.parse("SPY", "5Min", limit=500)).to_pandas()
    full = stockdb.reader.bars(BarQuery.parse("SPY", "5Min")).to_pandas()
    pd.testing.assert_frame_equal(
        five.reset_index(drop=True), full.iloc[-500:].reset_index(drop=True)
    )
    days = stockdb.reader.bars(BarQuery.parse("SPY", "1Day", limit=3)).to_pandas()
    assert days["ts"].is_monotonic_increasing and len(days) == 3
