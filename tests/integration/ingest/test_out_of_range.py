"""Bars Alpaca serves outside the requested range are counted as rejected and logged, not stored."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.config import Settings
from stockdb.providers.alpaca import AlpacaProvider

DAY = date(2024, 3, 5)


def _bar(ts: datetime, price: float) -> dict[str, object]:
    return {
        "t": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": price,
        "h": price + 1,
        "l": price - 1,
        "c": price,
        "v": 100,
        "n": 3,
        "vw": price,
    }


def test_out_of_range_bars_count_as_rejected_and_are_logged(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = datetime.fromisoformat(request.url.params["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(request.url.params["end"].replace("Z", "+00:00"))
        inside = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
        bars = [
            _bar(start - timedelta(minutes=1), 10.0),
            _bar(inside, 11.0),
            _bar(end + timedelta(minutes=2), 12.0),
        ]
        return httpx.Response(200, json={"bars": bars, "symbol": "SPY", "next_page_token": None})

    monkeypatch.setenv("ALPACA_API_KEY_ID", "KEYID")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "SECRET")
    monkeypatch.setenv("ALPACA_FEED", "iex")
    client = httpx.Client(transport=httpx.MockTransport(handler))
    provider = AlpacaProvider(Settings(), client=client, clock=app.clock)
    with caplog.at_level(logging.WARNING, logger="stockdb.ingest"):
        summary = app.backfill.run(["SPY"], DAY, DAY, provider)
    client.close()
    requests = summary.requests
    assert requests >= 1
    # Every answer carried one bar before and one after the asked range.
    assert summary.rejections == {
        "ts before requested range": requests,
        "ts after requested range": requests,
    }
    assert summary.rows_rejected == 2 * requests
    logged = [r for r in caplog.records if r.getMessage() == "rejected bars"]
    assert {getattr(r, "reason", None) for r in logged} == {
        "ts before requested range",
        "ts after requested range",
    }
    stored = pq.read_table(app.lake.partition_path("SPY", DAY)).to_pydict()
    assert stored["close"] == [11.0]
