"""The multi-ticker join: renames, exact-ts inner join, drop report and clear errors."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound
from stockdb.training.dataset import build_dataset


def test_primary_keeps_names_and_context_columns_are_suffixed(make_source) -> None:
    source = make_source(("GOOGL", "VIX", "SPY"), days=1)
    ds = build_dataset(source, ["googl", "VIX", "SPY"])
    assert ds.tickers == ("GOOGL", "VIX", "SPY")
    base = [c for c in source.frames["GOOGL"].columns if c != "ts"]
    assert list(ds.frame.columns) == [
        "ts",
        *base,
        *[f"{c}_VIX" for c in base],
        *[f"{c}_SPY" for c in base],
    ]
    assert "close_SPY" in ds.frame.columns and "sma_5_VIX" in ds.frame.columns
    np.testing.assert_array_equal(ds.frame["close_SPY"], source.frames["SPY"]["close"])
    np.testing.assert_array_equal(ds.frame["close"], source.frames["GOOGL"]["close"])
    assert ds.dropped == {"VIX": 0, "SPY": 0}
    assert ds.set_hash == "fs-1"


def test_inner_join_drops_minutes_missing_in_any_context_ticker(make_source) -> None:
    source = make_source(("AAA", "VIX", "SPY"), days=1)
    vix, spy = source.frames["VIX"], source.frames["SPY"]
    source.frames["VIX"] = vix.drop(index=[3, 4, 10]).reset_index(drop=True)
    source.frames["SPY"] = spy.drop(index=[4, 20]).reset_index(drop=True)
    ds = build_dataset(source, ["AAA", "VIX", "SPY"])
    assert ds.dropped == {"VIX": 3, "SPY": 2}
    assert ds.primary_rows == 390
    assert ds.rows == 390 - 4 and ds.dropped_total == 4
    primary = source.frames["AAA"]
    expected_ts = primary["ts"].drop(index=[3, 4, 10, 20]).reset_index(drop=True)
    pd.testing.assert_series_equal(ds.frame["ts"], expected_ts, check_names=False)
    # Every joined row carries the context ticker's values of that very minute.
    merged = ds.frame.merge(source.frames["SPY"], on="ts", suffixes=("", "_ref"))
    np.testing.assert_array_equal(merged["close_SPY"], merged["close_ref"])


def test_context_ticker_without_data_is_a_clear_error(make_source) -> None:
    source = make_source(("AAA", "SPY"), days=1)
    with pytest.raises(NotFound, match="QQQ"):
        build_dataset(source, ["AAA", "QQQ"])
    source.frames["SPY"] = source.frames["SPY"].iloc[0:0]
    with pytest.raises(NotFound, match="no feature rows for SPY"):
        build_dataset(source, ["AAA", "SPY"])


def test_no_common_minute_is_refused(make_source) -> None:
    source = make_source(("AAA", "SPY"), days=1)
    source.frames["SPY"] = source.frames["SPY"].assign(
        ts=source.frames["SPY"]["ts"] + pd.Timedelta(seconds=30)
    )
    with pytest.raises(InvalidInput, match="shares no timestamp"):
        build_dataset(source, ["AAA", "SPY"])


def test_different_feature_sets_conflict(make_source) -> None:
    source = make_source(("AAA", "SPY"), days=1)
    source.hashes["SPY"] = "fs-2"
    with pytest.raises(Conflict, match="feature set"):
        build_dataset(source, ["AAA", "SPY"])


@pytest.mark.parametrize("tickers", [[], ["AAA", "aaa"], ["../x"], ["AAA", "1BAD"]])
def test_bad_ticker_lists(make_source, tickers: list[str]) -> None:
    with pytest.raises(InvalidInput):
        build_dataset(make_source(), tickers)


def test_period_and_integrity_checks(make_source) -> None:
    source = make_source(("AAA",), days=3)
    ds = build_dataset(source, ["AAA"], date(2024, 1, 3), date(2024, 1, 3))
    assert ds.rows == 390 and set(ds.frame["ts"].dt.date) == {date(2024, 1, 3)}
    with pytest.raises(InvalidInput, match="after"):
        build_dataset(source, ["AAA"], date(2024, 1, 4), date(2024, 1, 3))
    frame = source.frames["AAA"]
    source.frames["AAA"] = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(DataIntegrityError, match="repeat"):
        build_dataset(source, ["AAA"])
    source.frames["AAA"] = frame.iloc[::-1].assign(ts=frame["ts"].iloc[::-1].dt.tz_localize(None))
    shuffled = build_dataset(source, ["AAA"])
    assert shuffled.frame["ts"].is_monotonic_increasing
    assert str(shuffled.frame["ts"].dt.tz) == "UTC"
    np.testing.assert_array_equal(shuffled.frame["close"], frame["close"])
