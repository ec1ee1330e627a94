"""One rule for the session in progress in every timeframe, bars and features alike: a bar
exists as soon as one of its minutes is stored and holds the minutes stored so far; the next
build rewrites it when more minutes arrive. 1Day covers the regular session only."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stockdb.lake.parquet_lake import Lineage
from stockdb.lake.reader import BarQuery
from stockdb.providers.synthetic import generate_session

TIMEFRAMES = ("5Min", "15Min", "1Hour", "1Day")


def _write(app, symbol, session, table):
    with app.lake.writer(symbol):
        app.lake.write_session(symbol, session.date, table, Lineage("synthetic", "synthetic"))


def _until(table: pa.Table, instant) -> pa.Table:
    return table.filter(
        pc.less(table.column("ts"), pa.scalar(instant, table.schema.field("ts").type))
    )


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_the_bar_in_progress_is_there_and_rewritten_as_minutes_arrive(
    app, service, sessions, write_bars, timeframe
):
    write_bars("SPY", sessions[:-1])
    today = sessions[-1]
    whole = generate_session("SPY", today)
    noon = today.open.replace(hour=today.open.hour + 2)  # 11:30 New York
    _write(app, "SPY", today, _until(whole, noon))
    service.build(["SPY"], timeframe=timeframe)
    bars = app.reader.bars(BarQuery.parse("SPY", timeframe)).to_pandas()
    partial_rows = len(bars)
    feats = service.read("SPY", timeframe=timeframe)
    assert feats["ts"].tolist() == bars["ts"].tolist()
    assert feats["close"].iloc[-1] == bars["close"].iloc[-1]  # the provisional last bar
    last_minute = _until(whole, noon).column("close")[-1].as_py()
    assert bars["close"].iloc[-1] == last_minute
    _write(app, "SPY", today, whole)  # the rest of the session arrives
    [status] = service.status(["SPY"], timeframe=timeframe)
    assert [(p.day, p.reason) for p in status.stale] == [(today.date, "bars_changed")]
    service.build(["SPY"])
    bars = app.reader.bars(BarQuery.parse("SPY", timeframe)).to_pandas()
    feats = service.read("SPY", timeframe=timeframe)
    assert feats["close"].tolist() == bars["close"].tolist()
    # intraday: later buckets appear; 1Day: the same bar, now the whole session
    assert len(bars) > partial_rows if timeframe != "1Day" else len(bars) == partial_rows


def test_before_the_open_there_is_no_daily_bar_yet(app, service, sessions, write_bars):
    write_bars("SPY", sessions[:-1])
    today = sessions[-1]
    premarket = _until(generate_session("SPY", today), today.open)
    assert premarket.num_rows > 0
    _write(app, "SPY", today, premarket)
    for timeframe in ("1Hour", "1Day"):
        service.build(["SPY"], timeframe=timeframe)
    hourly = service.read("SPY", timeframe="1Hour")
    daily = service.read("SPY", timeframe="1Day")
    ny = hourly["ts"].dt.tz_convert("America/New_York").dt.date
    assert (ny == today.date).any()
    assert daily["ts"].dt.tz_convert("America/New_York").dt.date.max() == sessions[-2].date
    assert len(daily) == len(app.reader.bars(BarQuery.parse("SPY", "1Day")))
    assert service.status(["SPY"], timeframe="1Day")[0].up_to_date
