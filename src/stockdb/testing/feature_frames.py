"""Synthetic feature frames and an in-memory FeatureSource for tests and benchmarks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from stockdb.errors import NotFound
from stockdb.training.dataset import FeatureFrame

__all__ = ["MemorySource", "feature_frame", "session_minutes"]


def session_minutes(days: int, first: str = "2024-01-02") -> pd.DatetimeIndex:
    """Regular-hours minute stamps (09:30-16:00 New York) of ``days`` weekdays."""
    sessions = pd.bdate_range(first, periods=days)
    stamps = [
        pd.date_range(f"{d:%Y-%m-%d} 09:30", periods=390, freq="1min", tz="America/New_York")
        for d in sessions
    ]
    return pd.DatetimeIndex(
        np.concatenate([s.tz_convert("UTC").to_numpy() for s in stamps]), tz="UTC"
    )


def feature_frame(ts: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """Random-walk bars plus backward-looking features (NaN during warm-up)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, len(ts))))
    open_ = close * (1.0 + rng.normal(0.0, 2e-4, len(ts)))
    c = pd.Series(close)
    logc = pd.Series(np.log(close))
    logret = logc.diff()
    return pd.DataFrame(
        {
            "ts": ts,
            "open": open_,
            "high": np.maximum(open_, close) * 1.0005,
            "low": np.minimum(open_, close) * 0.9995,
            "close": close,
            "volume": rng.integers(100, 10_000, len(ts)),
            "trade_count": rng.integers(1, 100, len(ts)),
            "vwap": (open_ + close) / 2.0,
            "logret_1": logret,
            "logret_2": logc.diff(2),
            "sma_5": c.rolling(5).mean() / c - 1.0,
            "vol_20": logret.rolling(20).std(),
        }
    )


class MemorySource:
    """FeatureSource over frames held in a dict; filters by the UTC date of ``ts``."""

    def __init__(self, frames: dict[str, pd.DataFrame], set_hash: str = "fs-1") -> None:
        self.frames = frames
        self.hashes = {symbol: set_hash for symbol in frames}

    def load(self, symbol: str, start: date | None, end: date | None) -> FeatureFrame:
        if symbol not in self.frames:
            raise NotFound(f"unknown symbol {symbol}")
        frame = self.frames[symbol]
        days = frame["ts"].dt.date
        keep = np.ones(len(frame), dtype=bool)
        if start is not None:
            keep &= (days >= start).to_numpy()
        if end is not None:
            keep &= (days <= end).to_numpy()
        return FeatureFrame(frame.loc[keep].reset_index(drop=True), self.hashes[symbol])
