"""Backtest statistics as pure functions of the equity curve, the position and the trades."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import EngineResult, Trades

__all__ = [
    "EXTENDED_SESSION_MINUTES",
    "REGULAR_SESSION_MINUTES",
    "TRADING_DAYS_PER_YEAR",
    "Annualisation",
    "annualisation",
    "infer_annualisation",
    "max_drawdown",
    "performance",
    "round_trip_pnl",
]

TRADING_DAYS_PER_YEAR = 252
REGULAR_SESSION_MINUTES = 390
EXTENDED_SESSION_MINUTES = 960
_SESSION_TZ = "America/New_York"


@dataclass(frozen=True)
class Annualisation:
    """How per-bar figures become yearly: ``bars_per_year = 252 * bars_per_session``."""

    bar_minutes: float
    session_minutes: float
    bars_per_session: float
    bars_per_year: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def annualisation(
    bar_minutes: float = 1.0, session_minutes: float = REGULAR_SESSION_MINUTES
) -> Annualisation:
    """The factor for bars of ``bar_minutes`` in sessions of ``session_minutes``.

    Raises InvalidInput unless both are positive and a bar fits in a session.
    """
    if not bar_minutes > 0 or not session_minutes >= bar_minutes:
        raise InvalidInput(
            f"bar of {bar_minutes} min and session of {session_minutes} min make no year"
        )
    per_session = session_minutes / bar_minutes
    return Annualisation(
        bar_minutes=float(bar_minutes),
        session_minutes=float(session_minutes),
        bars_per_session=per_session,
        bars_per_year=TRADING_DAYS_PER_YEAR * per_session,
    )


def infer_annualisation(ts: pd.Series) -> Annualisation:
    """The factor for bars stamped ``ts`` (UTC): bar size from the median step, in whole
    minutes; session length 390 minutes, or 960 when any bar lies outside regular hours."""
    stamps = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    steps = np.diff(stamps.tz_convert(None).to_numpy()) / np.timedelta64(1, "m")
    positive = steps[steps > 0]
    bar = max(1.0, float(round(np.median(positive)))) if positive.size else 1.0
    local = stamps.tz_convert(_SESSION_TZ)
    minute = local.hour * 60 + local.minute
    regular = bool(np.all((minute >= 9 * 60 + 30) & (minute < 16 * 60)))
    session = REGULAR_SESSION_MINUTES if regular else EXTENDED_SESSION_MINUTES
    return annualisation(min(bar, float(session)), session)


def max_drawdown(curve: np.ndarray) -> tuple[float, int]:
    """The deepest fall from a running peak (a fraction <= 0) and the longest run of bars
    spent below a previous peak."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.size == 0:
        return 0.0, 0
    peak = np.maximum.accumulate(curve)
    depth = np.divide(curve, peak, out=np.ones_like(curve), where=peak > 0) - 1.0
    at_peak = np.flatnonzero(depth >= 0.0)
    bounds = np.append(at_peak, curve.size) if at_peak.size else np.array([-1, curve.size])
    longest = int((np.diff(bounds) - 1).max()) if bounds.size > 1 else 0
    return float(depth.min()), max(0, longest)


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


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def performance(result: EngineResult, factor: Annualisation) -> dict[str, Any]:
    """Total return, CAGR, annualised volatility and Sharpe (risk-free 0), max drawdown and
    its duration in bars, fills, round trips, win rate and exposure of one simulation.

    Returns start from the initial cash (the curve is ``[cash, equity...]``); years are
    ``bars / bars_per_year``. Figures that cannot be computed are None.
    """
    curve = np.concatenate(([result.initial_cash], np.asarray(result.equity, np.float64)))
    bars = curve.size - 1
    prev = curve[:-1]
    returns = np.divide(curve[1:], prev, out=np.ones(bars), where=prev > 0) - 1.0
    ratio = curve[-1] / result.initial_cash
    years = bars / factor.bars_per_year
    cagr: float | None
    if ratio <= 0:
        cagr = -1.0
    else:
        try:
            cagr = _finite(math.exp(math.log(ratio) / years) - 1.0)
        except OverflowError:
            cagr = None
    volatility = sharpe = None
    if bars >= 2:
        sd = float(np.std(returns, ddof=1))
        volatility = _finite(sd * math.sqrt(factor.bars_per_year))
        if sd > 0:
            sharpe = _finite(float(np.mean(returns)) / sd * math.sqrt(factor.bars_per_year))
    depth, duration = max_drawdown(curve)
    pnl = round_trip_pnl(result.trades)
    return {
        "bars": bars,
        "initial_cash": result.initial_cash,
        "final_equity": float(curve[-1]),
        "total_return": float(ratio - 1.0),
        "cagr": cagr,
        "volatility": volatility,
        "sharpe": sharpe,
        "max_drawdown": depth,
        "max_drawdown_bars": duration,
        "trades": len(result.trades),
        "round_trips": int(pnl.size),
        "win_rate": float((pnl > 0).mean()) if pnl.size else None,
        "exposure": float(np.mean(np.asarray(result.shares) > 0)) if bars else 0.0,
        "fees": float(np.sum(result.trades.fee)),
        "annualisation": factor.as_dict(),
    }
