"""GET /bars at 1Day and 1Hour answers from the maintained rollups, equal to derive-on-read."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.app import App
from stockdb.lake.reader import BarQuery, BarReader
from stockdb.lake.rollups import ROLLUPS

from .test_bars_api import iso


def test_daily_and_hourly_bars_come_from_the_rollups(seeded: App, client: Any) -> None:
    names = seeded.lake.partition_names("SPY")
    for rollup in ROLLUPS:
        _, fallback = seeded.lake.rollups.read(rollup, "SPY", names, None, None)
        assert fallback == []  # every year has a current rollup file
    derived = BarReader(seeded.lake, seeded.calendar, use_rollups=False)
    try:
        for timeframe, session in (("1Day", "regular"), ("1Day", "all"), ("1Hour", "all")):
            url = f"/bars/SPY?timeframe={timeframe}&session={session}&limit=100000"
            response = client.get(url)
            assert response.status_code == 200, response.text
            body = response.json()
            want = derived.bars(BarQuery.parse("SPY", timeframe, session=session))
            assert want.num_rows > 0
            assert [b["ts"] for b in body] == iso(want)
            for name in ("open", "high", "low", "close", "volume", "trade_count", "vwap"):
                assert [b[name] for b in body] == want.column(name).to_pylist(), name
        parquet = client.get("/bars/SPY?timeframe=1Day&format=parquet&limit=100000")
        got = pq.read_table(pa.BufferReader(parquet.content))
        want = derived.bars(BarQuery.parse("SPY", "1Day"))
        assert got.column("close").to_pylist() == want.column("close").to_pylist()
    finally:
        derived.close()
