"""Labels are forward shifts of the close; feature selection by names and globs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.errors import InvalidInput
from stockdb.training.targets import forward_target, label, select_features

prices = st.lists(st.floats(1.0, 1000.0), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(close=prices, horizon=st.integers(1, 5))
def test_targets_match_an_explicit_loop(close: list[float], horizon: int) -> None:
    direction = forward_target(np.array(close), "direction", horizon)
    ret = forward_target(np.array(close), "return", horizon)
    for t in range(len(close)):
        if t + horizon < len(close):
            assert direction[t] == (1.0 if close[t + horizon] > close[t] else 0.0)
            assert ret[t] == pytest.approx(close[t + horizon] / close[t] - 1.0, rel=1e-12)
        else:
            assert np.isnan(direction[t]) and np.isnan(ret[t])


def test_label_drops_the_last_horizon_rows_and_never_shifts_features() -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-02 14:30", periods=6, freq="1min", tz="UTC"),
            "close": [10.0, 11.0, 10.5, 10.5, 12.0, 9.0],
            "f": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    data = label(frame, ["f"], "direction", 2)
    assert len(data.x) == len(data.y) == len(data.ts) == 4
    np.testing.assert_array_equal(data.x["f"], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(data.y, [1.0, 0.0, 1.0, 0.0])
    assert data.ts.iloc[-1] == frame["ts"].iloc[3]
    with pytest.raises(InvalidInput, match="cannot carry"):
        label(frame, ["f"], "direction", 6)
    with pytest.raises(InvalidInput, match="horizon"):
        forward_target(frame["close"].to_numpy(), "direction", 0)
    with pytest.raises(InvalidInput, match="target"):
        forward_target(frame["close"].to_numpy(), "volatility", 1)


def test_select_features_by_names_and_globs() -> None:
    frame = pd.DataFrame(
        columns=["ts", "close", "rsi_14", "logret_1", "logret_2", "close_SPY", "rsi_14_SPY"]
    ).astype(float)
    assert select_features(frame, ["logret_*", "rsi_14"]) == ["rsi_14", "logret_1", "logret_2"]
    assert select_features(frame, ["*_SPY"]) == ["close_SPY", "rsi_14_SPY"]
    assert select_features(frame, None) == [c for c in frame.columns if c != "ts"]
    with pytest.raises(InvalidInput, match="unknown feature 'rsi_99'"):
        select_features(frame, ["rsi_99"])
    with pytest.raises(InvalidInput, match="matches no column"):
        select_features(frame, ["macd*"])
    with pytest.raises(InvalidInput, match="no feature"):
        select_features(frame, [" "])


def test_non_numeric_features_are_refused() -> None:
    frame = pd.DataFrame({"ts": [1, 2, 3], "close": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]})
    assert select_features(frame, None) == ["close"]
    with pytest.raises(InvalidInput, match="not numeric"):
        label(frame, ["name"], "return", 1)
