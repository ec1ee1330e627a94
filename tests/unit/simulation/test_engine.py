"""The compiled engine against a plain Python loop of the spec's trading rules, to the cent."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import buy_and_hold, simulate
from stockdb.simulation.signals import signals_from_predictions

GUARD = 1e-9  # DESIGN §8: floor(cash / unit + 1e-9) so exact multiples buy the exact count


def reference(close, open_, signal, cash, fill, fee_bps, slippage_bps):
    """The spec, spelled out: all-in on buy while flat, all-out on sell while holding."""
    fee_rate, slip = fee_bps / 10_000, slippage_bps / 10_000
    shares, equity, trades = 0, [], []
    for i in range(len(close)):
        if fill == "close":
            sig, px = signal[i], close[i]
        else:  # next_open: yesterday's signal fills at today's open
            sig, px = (signal[i - 1] if i > 0 else 0), open_[i]
        if sig == 1 and shares == 0:
            price = px * (1 + slip)
            count = math.floor(cash / (price * (1 + fee_rate)) + GUARD)
            if count > 0:
                fee = count * price * fee_rate
                cash = max(cash - count * price - fee, 0.0)
                shares = count
                trades.append((i, 1, price, count, fee, cash))
        elif sig == -1 and shares > 0:
            price = px * (1 - slip)
            fee = shares * price * fee_rate
            cash = cash + shares * price - fee
            trades.append((i, -1, price, shares, fee, cash))
            shares = 0
        equity.append(cash + shares * close[i])
    return equity, trades


@st.composite
def markets(draw):
    n = draw(st.integers(1, 60))
    cents = st.integers(100, 50_000).map(lambda c: c / 100)
    close = draw(st.lists(cents, min_size=n, max_size=n))
    open_ = draw(st.lists(cents, min_size=n, max_size=n))
    signal = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n, max_size=n))
    return close, open_, signal


@settings(max_examples=150, deadline=None)
@given(
    market=markets(),
    cash=st.floats(50.0, 100_000.0),
    fill=st.sampled_from(["close", "next_open"]),
    costs=st.sampled_from([(0.0, 0.0), (10.0, 0.0), (0.0, 5.0), (25.0, 12.5)]),
)
def test_engine_equals_the_reference_loop(market, cash, fill, costs) -> None:
    close, open_, signal = market
    fee_bps, slippage_bps = costs
    got = simulate(
        np.array(close), np.array(signal, dtype=np.int8), np.array(open_), cash, fill, *costs
    )
    equity, trades = reference(close, open_, signal, cash, fill, fee_bps, slippage_bps)
    assert np.max(np.abs(got.equity - np.array(equity))) < 0.005
    assert len(got.trades) == len(trades)
    for k, (i, side, price, count, fee, after) in enumerate(trades):
        assert got.trades.index[k] == i and got.trades.side[k] == side
        assert got.trades.shares[k] == count
        assert got.trades.price[k] == pytest.approx(price, abs=1e-9)
        assert (
            abs(got.trades.fee[k] - fee) < 0.005 and abs(got.trades.cash_after[k] - after) < 0.005
        )
    np.testing.assert_allclose(got.equity, got.cash + got.shares * np.array(close))


def test_exact_multiples_buy_the_exact_count() -> None:
    # 0.3 / 0.1 is 2.9999999999999996 in floats; the guard still buys 3 shares.
    result = simulate(np.array([0.1, 0.1]), np.array([1, -1], dtype=np.int8), cash=0.3)
    assert result.trades.shares[0] == 3
    assert result.cash[0] == 0.0
    exact = simulate(np.array([25.0]), np.array([1], dtype=np.int8), cash=100.0)
    assert exact.shares[0] == 4 and exact.cash[0] == 0.0
    short = simulate(np.array([25.0]), np.array([1], dtype=np.int8), cash=99.99)
    assert short.shares[0] == 3


def test_costs_and_next_open_by_hand() -> None:
    close = np.array([10.0, 11.0, 12.0, 9.0])
    open_ = np.array([9.5, 10.5, 12.5, 9.5])
    signal = np.array([1, 1, -1, 1], dtype=np.int8)
    r = simulate(close, signal, open_, cash=1000.0, fill="next_open", fee_bps=100, slippage_bps=0)
    # Buy at bar 1's open 10.5: floor(1000 / 10.605) = 94 shares, fee 9.87.
    # Sell at bar 3's open 9.5: proceeds 893, fee 8.93. The signal on the last bar is ignored.
    assert list(r.trades.index) == [1, 3] and list(r.trades.shares) == [94, 94]
    assert r.trades.fee[0] == pytest.approx(9.87) and r.trades.fee[1] == pytest.approx(8.93)
    cash_after_buy = 1000.0 - 987.0 - 9.87
    assert r.equity[1] == pytest.approx(cash_after_buy + 94 * 11.0)
    assert r.equity[-1] == pytest.approx(cash_after_buy + 893.0 - 8.93)
    assert list(r.shares) == [0, 94, 94, 0]


def test_buy_and_hold_buys_at_the_first_close() -> None:
    close = np.array([20.0, 25.0, 10.0])
    bench = buy_and_hold(close, cash=1010.0)
    assert list(bench.shares) == [50, 50, 50]
    np.testing.assert_allclose(bench.equity, [1010.0, 1260.0, 510.0])
    assert len(bench.trades) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"close": np.array([1.0, -1.0])}, "positive"),
        ({"close": np.array([1.0, np.nan])}, "finite"),
        ({"signal": np.array([2, 0])}, "signal"),
        ({"signal": np.array([0.5, 0.0])}, "signal"),
        ({"fill": "open"}, "fill"),
        ({"fill": "next_open"}, "open prices"),
        ({"cash": 0.0}, "cash"),
        ({"fee_bps": -1.0}, "fee_bps"),
        ({"slippage_bps": 10_000.0}, "slippage_bps"),
        ({"close": np.array([1.0])}, "one-dimensional"),
    ],
)
def test_bad_inputs(kwargs, message: str) -> None:
    args = {"close": np.array([1.0, 2.0]), "signal": np.array([1, -1], dtype=np.int8)}
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=message):
        simulate(**args)


def test_signals_follow_the_spec() -> None:
    np.testing.assert_array_equal(
        signals_from_predictions(np.array([1, 0, 1]), "classification"), [1, -1, 1]
    )
    np.testing.assert_array_equal(
        signals_from_predictions(np.array([0.2, 0.0, -1e-9]), "regression"), [1, -1, -1]
    )
    with pytest.raises(InvalidInput):
        signals_from_predictions(np.array([2]), "classification")
    with pytest.raises(InvalidInput):
        signals_from_predictions(np.array([np.nan]), "regression")
