"""Backtest statistics as pure functions of the equity curve, its timestamps and the trades.

Risk and return figures are annualised from DAILY returns, as empyrical, quantstats and
pyfolio do: the equity at each New York session's last bar, the first session measured
against the initial cash, 252 sessions a year. They are never annualised from a bar count
(minute bars are sparse and sessions differ in length). The drawdown is measured over every
bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import EngineResult, Trades

__all__ = [
    "TRADING_DAYS_PER_YEAR",
    "Drawdown",
    "annual_volatility",
    "cagr",
    "calmar",
    "daily_returns",
    "max_drawdown",
    "performance",
    "profit_factor",
    "round_trip_pnl",
    "session_equity",
    "sharpe",
    "sortino",
]

TRADING_DAYS_PER_YEAR = 252
_SESSION_TZ = "America/New_York"
_SQRT_YEAR = math.sqrt(TRADING_DAYS_PER_YEAR)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def session_equity(ts: pd.Series | pd.DatetimeIndex, equity: np.ndarray) -> pd.Series:
    """The equity at each New York session's last bar, indexed by the session date.

    ``ts`` are the bars' UTC stamps in time order. Minute bars lie within a session's
    extended hours (04:00-20:00 New York), so the New York calendar date is the session.
    Raises InvalidInput when the lengths differ or the stamps are not in order.
    """
    stamps = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    values = np.asarray(equity, dtype=np.float64)
    if stamps.shape[0] != values.shape[0]:
        raise InvalidInput(f"{stamps.shape[0]} timestamps for {values.shape[0]} equity values")
    if not stamps.is_monotonic_increasing:
        raise InvalidInput("equity timestamps must be in time order")
    days = stamps.tz_convert(_SESSION_TZ).date
    series = pd.Series(values, index=pd.Index(days, name="session"))
    return series.groupby(level=0, sort=True).last()


def daily_returns(
    ts: pd.Series | pd.DatetimeIndex, equity: np.ndarray, initial_cash: float
) -> pd.Series:
    """Session-to-session returns; the first session is measured against ``initial_cash``."""
    daily = session_equity(ts, equity)
    previous = np.concatenate(([initial_cash], daily.to_numpy()[:-1]))
    returns = np.divide(daily.to_numpy(), previous, out=np.ones(len(daily)), where=previous > 0)
    return pd.Series(returns - 1.0, index=daily.index, name="return")


def sharpe(returns: np.ndarray) -> float | None:
    """mean / std (ddof 1) x sqrt(252), risk-free 0; None under two returns or no spread."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    return _finite(float(np.mean(r)) / sd * _SQRT_YEAR) if sd > 0 else None


def annual_volatility(returns: np.ndarray) -> float | None:
    """std (ddof 1) x sqrt(252); None under two returns."""
    r = np.asarray(returns, dtype=np.float64)
    return _finite(float(np.std(r, ddof=1)) * _SQRT_YEAR) if r.size >= 2 else None


def sortino(returns: np.ndarray) -> float | None:
    """empyrical's definition: mean x 252 over the downside deviation
    sqrt(mean(min(r, 0)^2)) x sqrt(252); None under two returns or without a losing day."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return None
    downside = math.sqrt(float(np.mean(np.square(np.minimum(r, 0.0))))) * _SQRT_YEAR
    if downside <= 0:
        return None
    return _finite(float(np.mean(r)) * TRADING_DAYS_PER_YEAR / downside)


def cagr(ratio: float, sessions: int) -> float | None:
    """(final / initial) ^ (252 / sessions) - 1; -1 when everything is lost."""
    if sessions < 1:
        return None
    if ratio <= 0:
        return -1.0
    try:
        return _finite(math.exp(math.log(ratio) * TRADING_DAYS_PER_YEAR / sessions) - 1.0)
    except OverflowError:
        return None


def calmar(returns: np.ndarray) -> float | None:
    """CAGR over the absolute max drawdown of the DAILY curve (empyrical's calmar_ratio);
    None without a drawdown."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 1:
        return None
    curve = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    depth = max_drawdown(curve).depth
    growth = cagr(float(curve[-1]), int(r.size))
    if depth >= 0 or growth is None:
        return None
    return _finite(growth / abs(depth))


@dataclass(frozen=True)
class Drawdown:
    """The deepest fall from a running peak: ``depth`` (a fraction <= 0); the bar index of
    the peak before it, of the trough and of the recovery to the peak (None while under
    water); ``bars`` from the peak to the recovery or the last bar; ``longest_bars`` the
    longest run of bars spent below a previous peak."""

    depth: float
    peak: int
    trough: int
    recovery: int | None
    bars: int
    longest_bars: int


def max_drawdown(curve: np.ndarray) -> Drawdown:
    """The maximum drawdown of ``curve`` over every point (see :class:`Drawdown`)."""
    values = np.asarray(curve, dtype=np.float64)
    if values.size == 0:
        return Drawdown(0.0, 0, 0, 0, 0, 0)
    peak = np.maximum.accumulate(values)
    depth = np.divide(values, peak, out=np.ones_like(values), where=peak > 0) - 1.0
    trough = int(np.argmin(depth))
    worst = float(depth[trough])
    if worst >= 0:
        return Drawdown(0.0, 0, 0, 0, 0, 0)
    peak_at = int(np.flatnonzero(values[: trough + 1] >= peak[trough])[-1])
    after = np.flatnonzero(values[trough:] >= peak[trough])
    recovery = int(trough + after[0]) if after.size else None
    bars = (recovery if recovery is not None else values.size - 1) - peak_at
    at_peak = np.flatnonzero(depth >= 0.0)
    bounds = np.append(at_peak, values.size)
    longest = int((np.diff(bounds) - 1).max()) if bounds.size > 1 else 0
    return Drawdown(worst, peak_at, trough, recovery, bars, max(0, longest))


def round_trip_pnl(trades: Trades) -> np.ndarray:
    """Net profit of each closed buy-then-sell pair, fees included, in cash."""
    buys = np.flatnonzero(trades.side == 1)
    sells = np.flatnonzero(trades.side == -1)
    closed = sells.size
    if closed == 0:
        return np.empty(0)
    b, s = buys[:closed], sells
    cost = trades.price[b] * trades.shares[b] + trades.fee[b]
    proceeds = trades.price[s] * trades.shares[s] - trades.fee[s]
    return np.asarray(proceeds - cost, dtype=np.float64)


def profit_factor(pnl: np.ndarray) -> float | None:
    """Gross profit over gross loss of the round trips; None without a losing one."""
    loss = float(-pnl[pnl < 0].sum())
    return _finite(float(pnl[pnl > 0].sum()) / loss) if loss > 0 else None


def performance(result: EngineResult, ts: pd.Series | pd.DatetimeIndex) -> dict[str, Any]:
    """Every figure of one simulation whose bars are stamped ``ts``.

    Daily (252 sessions a year, see the module docstring): sharpe, volatility, sortino,
    cagr, calmar. Over every bar, the curve being ``[initial cash, equity...]``: total
    return, max drawdown with its peak, trough, recovery and duration (bars and the peak to
    recovery time in days). Plus fills, round trips, win rate, profit factor, exposure and
    fees. Figures that cannot be computed are None.
    """
    equity = np.asarray(result.equity, np.float64)
    stamps = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    returns = daily_returns(stamps, equity, result.initial_cash).to_numpy()
    curve = np.concatenate(([result.initial_cash], equity))
    ratio = float(curve[-1] / result.initial_cash)
    dd = max_drawdown(curve)

    def stamp(point: int | None) -> str | None:
        # Curve point k > 0 is bar k - 1; point 0 (the initial cash) is before the first bar.
        return None if point is None else stamps[max(point - 1, 0)].isoformat()

    end = dd.recovery if dd.recovery is not None else curve.size - 1
    duration = (stamps[max(end - 1, 0)] - stamps[max(dd.peak - 1, 0)]) if equity.size else None
    pnl = round_trip_pnl(result.trades)
    return {
        "bars": int(equity.size),
        "sessions": int(returns.size),
        "initial_cash": result.initial_cash,
        "final_equity": float(curve[-1]),
        "total_return": ratio - 1.0,
        "cagr": cagr(ratio, int(returns.size)),
        "volatility": annual_volatility(returns),
        "sharpe": sharpe(returns),
        "sortino": sortino(returns),
        "calmar": calmar(returns),
        "max_drawdown": dd.depth,
        "max_drawdown_bars": dd.bars,
        "max_drawdown_days": (
            duration.total_seconds() / 86_400 if duration is not None and dd.depth < 0 else 0.0
        ),
        "max_drawdown_peak": stamp(dd.peak) if dd.depth < 0 else None,
        "max_drawdown_trough": stamp(dd.trough) if dd.depth < 0 else None,
        "max_drawdown_recovery": stamp(dd.recovery) if dd.depth < 0 else None,
        "longest_underwater_bars": dd.longest_bars,
        "trades": len(result.trades),
        "round_trips": int(pnl.size),
        "win_rate": float((pnl > 0).mean()) if pnl.size else None,
        "profit_factor": profit_factor(pnl),
        "exposure": float(np.mean(np.asarray(result.shares) > 0)) if equity.size else 0.0,
        "fees": float(np.sum(result.trades.fee)),
    }
