"""Bars-page overlays come from features built at the chart's own timeframe, read through
the real API (uvicorn on loopback): a daily chart's SMA 5 is a 5-day average of daily closes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockdb.api import create_app
from stockdb.app import App
from stockdb.ui.charts import to_frame
from stockdb.ui.client import ApiClient
from stockdb.ui.overlays import match_overlays, overlay_note, read_overlays

from .conftest import live_server  # type: ignore[import-not-found]


def test_overlays_use_the_chart_timeframe(seeded: App) -> None:
    seeded.features.build(["SPY"])
    with live_server(create_app(app=seeded, run_runtime=False)) as url, ApiClient(url) as api:
        daily = to_frame(api.bars("SPY", timeframe="1Day"))
        overlays, note = read_overlays(api, "SPY", daily, ["sma_5", "ema_12"], "1Day")
        assert overlays is None and note is not None and "--timeframe 1Day" in note
        seeded.features.build(["SPY"], timeframe="1Day")
        seeded.features.build(["SPY"], timeframe="15Min")
        overlays, note = read_overlays(api, "SPY", daily, ["sma_5"], "1Day")
        assert note is None and overlays is not None
        # five sessions seeded: the 5-day SMA exists on the fifth bar only, and is the mean
        # of the five daily closes the chart shows (not a 5-minute average)
        expected = daily["close"].rolling(5).mean()
        np.testing.assert_allclose(overlays["sma_5"], expected, rtol=1e-12, equal_nan=True)
        assert overlays["sma_5"].notna().sum() == 1
        quarter = to_frame(api.bars("SPY", timeframe="15Min", limit=300))
        overlays, _ = read_overlays(api, "SPY", quarter, ["sma_20"], "15Min")
        assert overlays is not None
        np.testing.assert_allclose(
            overlays["sma_20"].iloc[-50:], quarter["close"].rolling(20).mean().iloc[-50:], rtol=1e-9
        )
        thirty = to_frame(api.bars("SPY", timeframe="30Min", limit=20))
        assert read_overlays(api, "SPY", thirty, ["sma_5"], "30Min") == (
            None,
            overlay_note("30Min", "SPY"),
        )


def test_match_overlays_takes_the_row_of_the_same_bar_only() -> None:
    ts = pd.to_datetime(pd.Series(["2024-03-05T05:00Z", "2024-03-06T05:00Z"]), utc=True)
    features = pd.DataFrame({"ts": ts.iloc[:1], "sma_5": [3.0]})
    got = match_overlays(pd.DataFrame({"ts": ts}), features, ["sma_5", "unknown"])
    assert got["sma_5"].iloc[0] == 3.0 and np.isnan(got["sma_5"].iloc[1])
    assert list(got.columns) == ["sma_5"]
