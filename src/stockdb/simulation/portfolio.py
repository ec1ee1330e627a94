"""One model replayed on several symbols, and the equal-weight portfolio of those runs.

Each symbol is simulated by :class:`~stockdb.simulation.service.SimulationService` on its own
(stored like any simulation) with ``cash / N``. The portfolio holds the N sub-accounts: at
each instant of the union of their bar stamps its equity is the sum of every sub-account's
latest equity (its starting cash before its first bar). Equal-weight buy-and-hold is built
the same way from each run's buy-and-hold curve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from stockdb.errors import InvalidInput
from stockdb.simulation.metrics import daily_returns, max_drawdown, sharpe
from stockdb.simulation.service import SimulationRecord, SimulationRequest, SimulationService
from stockdb.symbols import normalize_symbols

__all__ = [
    "MAX_SYMBOLS",
    "PortfolioResult",
    "combine_equal_weight",
    "portfolio_metrics",
    "simulate_portfolio",
]

MAX_SYMBOLS = 500
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PortfolioResult:
    """The per-symbol simulations and the equal-weight portfolio against buy-and-hold."""

    runs: tuple[SimulationRecord, ...]
    ts: pd.DatetimeIndex
    equity: np.ndarray
    benchmark_equity: np.ndarray
    metrics: dict[str, Any]
    benchmark_metrics: dict[str, Any]


def combine_equal_weight(
    curves: Sequence[pd.Series], initial: float
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Sum of the sub-accounts' equity curves (each indexed by its UTC bar stamps) on the
    union of their stamps, each carried forward and ``initial`` before its first bar. Pure."""
    if not curves:
        raise InvalidInput("no equity curve to combine")
    stamps = curves[0].index
    for curve in curves[1:]:
        stamps = stamps.union(curve.index)
    total = np.zeros(len(stamps), dtype=np.float64)
    for curve in curves:
        aligned = curve.reindex(stamps).ffill().fillna(initial)
        total += aligned.to_numpy(np.float64)
    return pd.DatetimeIndex(stamps), total


def portfolio_metrics(ts: pd.DatetimeIndex, equity: np.ndarray, cash: float) -> dict[str, Any]:
    """Total return, daily Sharpe, max drawdown and session count of a combined curve."""
    returns = daily_returns(ts, equity, cash)
    return {
        "total_return": float(equity[-1] / cash - 1.0),
        "final_equity": float(equity[-1]),
        "sharpe": sharpe(returns.to_numpy()),
        "max_drawdown": max_drawdown(equity).depth,
        "sessions": len(returns),
    }


def _curves(record: SimulationRecord) -> tuple[pd.Series, pd.Series]:
    table = pq.read_table(record.equity_path, columns=["ts", "equity", "benchmark_equity"])
    frame = table.to_pandas()
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    return (
        pd.Series(frame["equity"].to_numpy(), index=index),
        pd.Series(frame["benchmark_equity"].to_numpy(), index=index),
    )


def simulate_portfolio(
    service: SimulationService,
    request: SimulationRequest,
    symbols: Sequence[str],
    progress: Progress | None = None,
) -> PortfolioResult:
    """Simulate ``request``'s model on every symbol with an equal share of its cash, then
    combine (module doc). Raises as :meth:`SimulationService.simulate`, and InvalidInput for
    an empty or too long list of symbols (checked before anything runs)."""
    names = normalize_symbols(symbols)
    if len(names) > MAX_SYMBOLS:
        raise InvalidInput(f"at most {MAX_SYMBOLS} symbols, not {len(names)}")
    report = progress or (lambda _done, _total, _message: None)
    share = request.cash / len(names)
    for name in names:  # refuse a bad period for any symbol before the first run
        service.preflight(replace(request, symbol=name, cash=share))
    runs: list[SimulationRecord] = []
    for k, name in enumerate(names):
        report(k, len(names) + 1, f"simulating {name}")
        runs.append(service.simulate(replace(request, symbol=name, cash=share)))
    pairs = [_curves(run) for run in runs]
    ts, equity = combine_equal_weight([p[0] for p in pairs], share)
    _, bench = combine_equal_weight([p[1] for p in pairs], share)
    report(len(names) + 1, len(names) + 1, f"combined {len(names)} symbols")
    return PortfolioResult(
        runs=tuple(runs),
        ts=ts,
        equity=equity,
        benchmark_equity=bench,
        metrics=portfolio_metrics(ts, equity, request.cash),
        benchmark_metrics=portfolio_metrics(ts, bench, request.cash),
    )
