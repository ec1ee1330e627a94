"""All-in/all-out walk-forward trading of whole shares over bar arrays (numba-compiled)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from stockdb.errors import InvalidInput

__all__ = [
    "BUY",
    "HOLD",
    "SELL",
    "SHARE_GUARD",
    "EngineResult",
    "Fill",
    "Trades",
    "buy_and_hold",
    "simulate",
]

BUY = 1
SELL = -1
HOLD = 0
# "Most whole shares the cash affords": floor(cash / unit_cost + SHARE_GUARD), so an exact
# multiple buys the exact count despite float error; cash is clamped at 0 afterwards.
SHARE_GUARD = 1e-9

Fill = Literal["close", "next_open"]


@dataclass(frozen=True)
class Trades:
    """Fills in time order: bar index, side (+1 buy, -1 sell), price, shares, fee, cash after."""

    index: np.ndarray
    side: np.ndarray
    price: np.ndarray
    shares: np.ndarray
    fee: np.ndarray
    cash_after: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])


@dataclass(frozen=True)
class EngineResult:
    """Per-bar position after the bar's fills (shares, cash) and equity marked at the close."""

    shares: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    trades: Trades
    initial_cash: float


@numba.njit(cache=True, nogil=True)
def _walk(
    close: np.ndarray,
    open_: np.ndarray,
    signal: np.ndarray,
    cash0: float,
    next_open: bool,
    fee_rate: float,
    slip: float,
    guard: float,
) -> tuple[np.ndarray, ...]:
    n = close.shape[0]
    shares = np.empty(n, np.int64)
    cash_out = np.empty(n, np.float64)
    equity = np.empty(n, np.float64)
    t_index = np.empty(n, np.int64)
    t_side = np.empty(n, np.int8)
    t_price = np.empty(n, np.float64)
    t_shares = np.empty(n, np.int64)
    t_fee = np.empty(n, np.float64)
    t_cash = np.empty(n, np.float64)
    cash = cash0
    held = 0
    nt = 0
    for i in range(n):
        if next_open:
            sig = signal[i - 1] if i > 0 else 0
            px = open_[i]
        else:
            sig = signal[i]
            px = close[i]
        if sig == 1 and held == 0:
            price = px * (1.0 + slip)
            count = math.floor(cash / (price * (1.0 + fee_rate)) + guard)
            if count > 0:
                notional = count * price
                fee = notional * fee_rate
                cash = cash - notional - fee
                if cash < 0.0:
                    cash = 0.0
                held = count
                t_index[nt] = i
                t_side[nt] = 1
                t_price[nt] = price
                t_shares[nt] = count
                t_fee[nt] = fee
                t_cash[nt] = cash
                nt += 1
        elif sig == -1 and held > 0:
            price = px * (1.0 - slip)
            notional = held * price
            fee = notional * fee_rate
            cash = cash + notional - fee
            t_index[nt] = i
            t_side[nt] = -1
            t_price[nt] = price
            t_shares[nt] = held
            t_fee[nt] = fee
            t_cash[nt] = cash
            nt += 1
            held = 0
        shares[i] = held
        cash_out[i] = cash
        equity[i] = cash + held * close[i]
    return (
        shares,
        cash_out,
        equity,
        t_index[:nt].copy(),
        t_side[:nt].copy(),
        t_price[:nt].copy(),
        t_shares[:nt].copy(),
        t_fee[:nt].copy(),
        t_cash[:nt].copy(),
    )


def _prices(values: np.ndarray, name: str, n: int) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InvalidInput(f"{name} must be one-dimensional with {n} values")
    if not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise InvalidInput(f"{name} prices must be finite and positive")
    return arr


def _bps(value: float, name: str) -> float:
    if not math.isfinite(value) or not 0.0 <= value < 10_000.0:
        raise InvalidInput(f"{name} must be between 0 and 10000 basis points, not {value}")
    return value / 10_000.0


def simulate(
    close: np.ndarray,
    signal: np.ndarray,
    open_: np.ndarray | None = None,
    cash: float = 10_000.0,
    fill: Fill = "close",
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
) -> EngineResult:
    """Trade whole shares all-in/all-out on ``signal`` (BUY 1, SELL -1, HOLD 0) bar by bar.

    A buy while flat spends the cash on the most whole shares it affords at the fill price
    ``px * (1 + slippage)`` plus a fee of ``fee_bps`` of the notional; a sell while holding
    sells every share at ``px * (1 - slippage)`` less the fee. ``fill="close"`` fills at the
    signal bar's close; ``"next_open"`` at the next bar's open (a signal on the last bar does
    nothing). Equity is cash plus shares at each bar's close. Raises InvalidInput for
    mismatched or non-positive prices, unknown signal values or out-of-range costs.
    """
    sig = np.asarray(signal)
    n = sig.shape[0] if sig.ndim == 1 else -1
    if n < 1:
        raise InvalidInput("signal must be a non-empty one-dimensional array")
    if sig.dtype.kind not in "biu" or int(sig.min()) < SELL or int(sig.max()) > BUY:
        raise InvalidInput("signal values must be 1 (buy), -1 (sell) or 0 (hold)")
    close_arr = _prices(close, "close", n)
    if fill == "next_open":
        if open_ is None:
            raise InvalidInput("fill 'next_open' needs open prices")
        open_arr = _prices(open_, "open", n)
    elif fill == "close":
        open_arr = close_arr
    else:
        raise InvalidInput(f"fill must be 'close' or 'next_open', not {fill!r}")
    if not math.isfinite(cash) or cash <= 0:
        raise InvalidInput(f"starting cash must be positive, not {cash}")
    shares, cash_arr, equity, index, side, price, count, fee, after = _walk(
        close_arr,
        open_arr,
        np.ascontiguousarray(sig, dtype=np.int8),
        float(cash),
        fill == "next_open",
        _bps(fee_bps, "fee_bps"),
        _bps(slippage_bps, "slippage_bps"),
        SHARE_GUARD,
    )
    trades = Trades(index=index, side=side, price=price, shares=count, fee=fee, cash_after=after)
    return EngineResult(
        shares=shares, cash=cash_arr, equity=equity, trades=trades, initial_cash=float(cash)
    )


def buy_and_hold(
    close: np.ndarray, cash: float = 10_000.0, fee_bps: float = 0.0, slippage_bps: float = 0.0
) -> EngineResult:
    """The benchmark: the most whole shares at the first close (same costs), held to the end."""
    signal = np.zeros(np.asarray(close).shape[0], dtype=np.int8)
    if signal.shape[0]:
        signal[0] = BUY
    return simulate(close, signal, cash=cash, fee_bps=fee_bps, slippage_bps=slippage_bps)
