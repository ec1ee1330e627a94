"""Pure adjustment factors: splits, dividends, cutoffs, combination, and what applies when."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from stockdb.corporate.adjust import (
    AdjustmentStep,
    adjust_table,
    applicable,
    cumulative_factors,
    day_price_factors,
    dividend_factor,
    ex_cutoff_us,
    split_step,
)
from stockdb.corporate.model import make_action, parse_adjustment
from stockdb.errors import InvalidInput


def _us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


def test_cutoff_is_new_york_midnight_of_the_ex_date() -> None:
    assert ex_cutoff_us(date(2024, 1, 16)) == _us("2024-01-16T05:00:00")  # EST
    assert ex_cutoff_us(date(2024, 3, 11)) == _us("2024-03-11T04:00:00")  # EDT since 03-10


def test_forward_and_reverse_split_steps() -> None:
    forward = split_step(make_action("AAPL", "forward_split", date(2020, 8, 31), ratio=4.0))
    assert (forward.price_factor, forward.volume_factor) == (0.25, 4.0)
    reverse = split_step(make_action("GE", "reverse_split", date(2021, 8, 2), ratio=0.125))
    assert (reverse.price_factor, reverse.volume_factor) == (8.0, 0.125)
    with pytest.raises(ValueError):
        split_step(make_action("GE", "cash_dividend", date(2021, 8, 2), cash=0.08))


def test_dividend_factor_is_one_minus_cash_over_previous_close() -> None:
    assert dividend_factor(0.5, 100.0) == pytest.approx(0.995, abs=1e-15)
    assert dividend_factor(0.24, 48.0) == pytest.approx(0.995, abs=1e-15)
    assert dividend_factor(1.0, 0.0) is None
    assert dividend_factor(5.0, 5.0) is None
    assert dividend_factor(0.0, 5.0) is None


def _bars(ts: list[str]) -> pa.Table:
    n = len(ts)
    return pa.table(
        {
            "ts": pa.array([_us(t) for t in ts], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "open": [100.0] * n,
            "high": [104.0] * n,
            "low": [96.0] * n,
            "close": [100.0] * n,
            "volume": pa.array([1001] * n, pa.int64()),
            "trade_count": pa.array([7] * n, pa.int64()),
            "vwap": [101.0] * n,
        }
    )


def test_split_adjusts_only_bars_before_the_ex_date() -> None:
    bars = _bars(["2024-03-08T20:59:00", "2024-03-11T03:59:00", "2024-03-11T13:30:00"])
    step = split_step(make_action("X", "forward_split", date(2024, 3, 11), ratio=4.0))
    out = adjust_table(bars, [step])
    assert out.column("close").to_pylist() == [25.0, 25.0, 100.0]
    assert out.column("high").to_pylist() == [26.0, 26.0, 104.0]
    assert out.column("vwap").to_pylist() == [25.25, 25.25, 101.0]
    assert out.column("volume").to_pylist() == [4004, 4004, 1001]
    assert out.column("trade_count").to_pylist() == [7, 7, 7]
    assert out.schema == bars.schema


def test_reverse_split_volume_is_rounded_to_whole_shares() -> None:
    bars = _bars(["2024-03-08T15:00:00"])
    step = split_step(make_action("X", "reverse_split", date(2024, 3, 11), ratio=0.1))
    out = adjust_table(bars, [step])
    assert out.column("volume").to_pylist() == [100]  # 1001 / 10 = 100.1
    assert out.column("close").to_pylist() == [1000.0]


def test_factors_of_several_actions_multiply() -> None:
    ts = np.array([_us("2024-01-02T15:00:00"), _us("2024-02-02T15:00:00")], np.int64)
    steps = [
        AdjustmentStep(_us("2024-01-10T05:00:00"), 0.5, 2.0, date(2024, 1, 10)),
        AdjustmentStep(_us("2024-03-01T05:00:00"), 0.99, 1.0, date(2024, 3, 1)),
    ]
    price, volume = cumulative_factors(ts, steps)
    assert price.tolist() == [0.5 * 0.99, 0.99]
    assert volume.tolist() == [2.0, 1.0]
    unsorted_price, _ = cumulative_factors(ts[::-1].copy(), steps)
    assert unsorted_price.tolist() == [0.99, 0.5 * 0.99]
    factors = day_price_factors([date(2024, 1, 9), date(2024, 1, 10), date(2024, 3, 1)], steps)
    assert factors == {date(2024, 1, 9): 0.5 * 0.99, date(2024, 1, 10): 0.99, date(2024, 3, 1): 1}


def test_applicable_filters_by_adjustment_and_effective_date() -> None:
    split = make_action("X", "forward_split", date(2024, 5, 1), ratio=2.0)
    dividend = make_action("X", "cash_dividend", date(2024, 4, 1), cash=0.2)
    future = make_action("X", "forward_split", date(2024, 9, 1), ratio=3.0)
    every = [future, split, dividend]
    as_of = date(2024, 6, 1)
    assert applicable(every, "raw", as_of) == []
    assert applicable(every, "split", as_of) == [split]
    assert applicable(every, "dividend", as_of) == [dividend]
    assert applicable(every, "all", as_of) == [dividend, split]
    assert applicable(every, "all", date(2024, 9, 1)) == [dividend, split, future]


def test_actions_are_validated() -> None:
    for bad in (
        lambda: make_action("X", "forward_split", date(2024, 1, 2), ratio=0.5),
        lambda: make_action("X", "reverse_split", date(2024, 1, 2), ratio=2.0),
        lambda: make_action("X", "forward_split", date(2024, 1, 2)),
        lambda: make_action("X", "cash_dividend", date(2024, 1, 2), cash=-1.0),
        lambda: make_action("X", "cash_dividend", date(2024, 1, 2), ratio=2.0, cash=1.0),
        lambda: make_action("X", "spin_off", date(2024, 1, 2), ratio=2.0),
        lambda: make_action("../x", "forward_split", date(2024, 1, 2), ratio=2.0),
    ):
        with pytest.raises(InvalidInput):
            bad()
    assert parse_adjustment(None) == "raw"
    assert parse_adjustment("ALL") == "all"
    with pytest.raises(InvalidInput):
        parse_adjustment("spin-off")
