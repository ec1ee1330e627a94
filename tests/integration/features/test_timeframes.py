"""Feature sets at 5Min, 15Min, 1Hour and 1Day: same definitions over the derived bars,
their own partitions, records and staleness, kept current by every later build."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import talib

from stockdb.errors import InvalidInput, NotFound
from stockdb.lake.reader import BarQuery


def _bars(app, symbol: str, timeframe: str) -> pd.DataFrame:
    return app.reader.bars(BarQuery.parse(symbol, timeframe)).to_pandas()


@pytest.mark.parametrize("timeframe", ["5Min", "15Min", "1Hour", "1Day"])
def test_timeframe_rows_are_the_derived_bars(app, service, sessions, write_bars, timeframe):
    write_bars("SPY", sessions)
    [result] = service.build(["SPY"], timeframe=timeframe)
    assert result.partitions_written == len(sessions)
    feats = service.read("SPY", timeframe=timeframe)
    bars = _bars(app, "SPY", timeframe)
    assert len(feats) == len(bars)
    for column in ("ts", "open", "high", "low", "close", "volume", "trade_count"):
        assert feats[column].tolist() == bars[column].tolist(), column
    np.testing.assert_allclose(feats["vwap"], bars["vwap"], rtol=1e-12)
    close = bars["close"].to_numpy()
    # same definitions, computed on this timeframe's bars (pandas and TA-Lib as references)
    np.testing.assert_allclose(feats["sma_5"], bars["close"].rolling(5).mean(), rtol=1e-9)
    np.testing.assert_allclose(feats["rsi_14"], talib.RSI(close, 14), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(
        feats["log_ret_2"], np.log(bars["close"]).diff().shift(1), rtol=1e-9, equal_nan=True
    )
    assert not service.layout.partitions("SPY")  # the 1Min store was not touched
    meta = pq.read_schema(service.at(timeframe).layout.partitions("SPY")[0][1]).metadata
    assert meta[b"stockdb.feature_set_hash"] == service.at(timeframe).feature_set.set_hash.encode()
    assert service.at(timeframe).feature_set.set_hash != service.set_hash


def test_daily_features_see_the_session_open_and_weekday(service, sessions, write_bars):
    write_bars("SPY", sessions)
    service.build(["SPY"], timeframe="1Day")
    feats = service.read("SPY", timeframe="1D")
    ny = feats["ts"].dt.tz_convert("America/New_York")
    assert (ny.dt.hour == 0).all() and (ny.dt.minute == 0).all()  # labelled like Alpaca's
    assert [d.date() for d in ny] == [s.date for s in sessions]
    assert feats["day_of_week"].tolist() == [float(s.date.weekday()) for s in sessions]
    assert (feats["minute_of_session"] == 0.0).all()


def test_timeframe_staleness_and_incremental_build(app, service, sessions, write_bars, digest):
    write_bars("SPY", sessions[:8])
    service.build(["SPY"])
    service.build(["SPY"], timeframe="1Hour")
    assert [(s.timeframe, s.up_to_date) for s in service.status(["SPY"])] == [
        ("1Min", True),
        ("1Hour", True),
    ]
    write_bars("SPY", sessions[8:])
    stale = {s.timeframe: s.stale for s in service.status(["SPY"])}
    assert [p.day for p in stale["1Hour"]] == [s.date for s in sessions[8:]]
    assert {p.reason for p in stale["1Hour"]} == {"missing"}
    # a build without a timeframe keeps every built timeframe current, incrementally
    results = service.build(["SPY"])
    assert [r.partitions_written for r in results] == [4, 4]
    assert all(s.up_to_date for s in service.status(["SPY"]))
    incremental = digest(service.at("1Hour").layout.root / "SPY")
    service.build(["SPY"], full=True, timeframe="1Hour")
    full = digest(service.at("1Hour").layout.root / "SPY")
    incremental.pop("records.json"), full.pop("records.json")
    assert incremental == full


def test_timeframe_changed_bars_are_stale_then_rebuilt(app, service, sessions, write_bars):
    write_bars("SPY", sessions)
    service.build(["SPY"], timeframe="1Day")
    changed = sessions[3]
    path = app.lake.session_paths("SPY", changed.date, changed.date)[0][1]
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 10), path)
    [status] = service.status(["SPY"], timeframe="1Day")
    assert [(p.day, p.reason) for p in status.stale] == [(changed.date, "bars_changed")]
    service.build(["SPY"])
    assert service.status(["SPY"], timeframe="1Day")[0].up_to_date


def test_bad_timeframes_and_missing_ones(service, sessions, write_bars):
    write_bars("SPY", sessions[:3])
    for bad in ("30Min", "2Day", "weekly"):
        with pytest.raises(InvalidInput):
            service.build(["SPY"], timeframe=bad)
    with pytest.raises(NotFound, match="--timeframe 1Day"):
        service.read("SPY", timeframe="1Day")
