"""Benchmark: the simulation engine vs a Python loop and vectorbt; metrics vs empyrical; the
tearsheet vs a naive Plotly page; training and round-trip times."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockdb.config import Settings
from stockdb.simulation.engine import SHARE_GUARD, simulate
from stockdb.simulation.metrics import performance
from stockdb.simulation.service import SimulationRequest, SimulationService
from stockdb.state.store import StateStore
from stockdb.testing.feature_frames import MemorySource
from stockdb.training.service import TrainingService, TrainRequest

__all__ = ["main"]

BARS = 1_000_000
CASH = 10_000.0
FEE_BPS = 1.0
SLIPPAGE_BPS = 0.5


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def python_loop(
    close: np.ndarray, signal: np.ndarray, cash: float, fee_bps: float, slippage_bps: float
) -> list[float]:
    """The spec's rules as a plain loop (fill at the close), for reference timings."""
    fee_rate, slip = fee_bps / 10_000, slippage_bps / 10_000
    shares, equity = 0, []
    for px, sig in zip(close.tolist(), signal.tolist(), strict=True):
        if sig == 1 and shares == 0:
            price = px * (1 + slip)
            count = math.floor(cash / (price * (1 + fee_rate)) + SHARE_GUARD)
            if count > 0:
                cash = max(cash - count * price - count * price * fee_rate, 0.0)
                shares = count
        elif sig == -1 and shares > 0:
            price = px * (1 - slip)
            cash = cash + shares * price - shares * price * fee_rate
            shares = 0
        equity.append(cash + shares * px)
    return equity


def _vectorbt(
    close: np.ndarray, signal: np.ndarray, fee_bps: float, slippage_bps: float
) -> np.ndarray | None:
    try:
        import vectorbt as vbt  # optional: only in the venv when installable
    except ImportError:
        return None
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries=signal == 1,
        exits=signal == -1,
        size=np.inf,
        size_granularity=1,
        init_cash=CASH,
        fees=fee_bps / 10_000,
        slippage=slippage_bps / 10_000,
    )
    return np.asarray(portfolio.value(), dtype=np.float64).reshape(-1)


def _simulation_rows() -> list[tuple[str, float, float | None, str]]:
    rng = np.random.default_rng(42)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, BARS)))
    # Trade every ~50 bars on average so fees do not bleed the account dry.
    flips = rng.random(BARS) < 0.02
    signal = np.where(np.cumsum(flips) % 2 == 0, 1, -1).astype(np.int8)
    simulate(close[:100], signal[:100])
    engine_s, engine = _best(
        lambda: simulate(close, signal, cash=CASH, fee_bps=FEE_BPS, slippage_bps=SLIPPAGE_BPS), 7
    )
    loop_s, loop = _best(lambda: python_loop(close, signal, CASH, FEE_BPS, SLIPPAGE_BPS), 1)
    final = engine.equity[-1]
    assert abs(loop[-1] - final) < 0.005, (loop[-1], final)
    rows = [
        (
            "engine (numba), 1M bars",
            engine_s,
            None,
            f"final {final:.2f}, {len(engine.trades)} fills",
        ),
        ("plain Python loop, 1M bars", loop_s, loop_s / engine_s, f"final {loop[-1]:.2f}"),
    ]
    if _vectorbt(close[:100], signal[:100], FEE_BPS, SLIPPAGE_BPS) is None:
        rows.append(("vectorbt from_signals", math.nan, None, "not installable"))
        return rows
    vbt_s, value = _best(lambda: _vectorbt(close, signal, FEE_BPS, SLIPPAGE_BPS), 3)
    assert value is not None and abs(value[-1] - final) < 0.005, (value[-1], final)
    rows.append(
        (
            "vectorbt from_signals, 1M bars",
            vbt_s,
            vbt_s / engine_s,
            f"final {value[-1]:.2f}, max |diff| {np.max(np.abs(value - engine.equity)):.2e}",
        )
    )
    return rows


def _year_of_features(seed: int) -> pd.DataFrame:
    """One year (252 sessions x 390 minutes) of random-walk bars with 20 backward features."""
    days = pd.bdate_range("2023-01-02", periods=252)
    minutes = np.arange(390) * np.timedelta64(1, "m")
    opens = days.tz_localize("America/New_York") + pd.Timedelta(hours=9, minutes=30)
    ts = pd.DatetimeIndex((opens.tz_convert(None).to_numpy()[:, None] + minutes).ravel(), tz="UTC")
    rng = np.random.default_rng(seed)
    close = pd.Series(100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, len(ts)))))
    logret = np.log(close).diff()
    frame: dict[str, Any] = {
        "ts": ts,
        "open": close.shift(1).fillna(close.iloc[0]).to_numpy(),
        "close": close.to_numpy(),
        "volume": rng.integers(100, 10_000, len(ts)),
    }
    for k in range(1, 6):
        frame[f"logret_{k}"] = np.log(close).diff(k)
    for w in (5, 10, 20, 50, 100):
        frame[f"sma_{w}"] = close.rolling(w).mean() / close - 1.0
        frame[f"vol_{w}"] = logret.rolling(w).std()
    gain, loss = logret.clip(lower=0).rolling(14).mean(), (-logret.clip(upper=0)).rolling(14).mean()
    frame["rsi_14"] = 100 - 100 / (1 + gain / loss)
    frame["zscore_20"] = (close - close.rolling(20).mean()) / close.rolling(20).std()
    frame["range_20"] = close.rolling(20).max() / close.rolling(20).min() - 1.0
    frame["mom_60"] = close / close.shift(60) - 1.0
    frame["mom_390"] = close / close.shift(390) - 1.0
    return pd.DataFrame(frame)


def _training_rows(folder: Path) -> list[tuple[str, float, float | None, str]]:
    source = MemorySource({"AAA": _year_of_features(1), "SPY": _year_of_features(2)}, "bench")
    settings = Settings(data_dir=folder / "data")
    state = StateStore(f"sqlite:///{folder}/state.sqlite")
    state.migrate()
    trainer = TrainingService(settings, state, source)
    simulator = SimulationService(settings, state, source, trainer.registry)
    rows: list[tuple[str, float, float | None, str]] = []
    for model, target in [
        ("logistic_regression", "direction"),
        ("ridge", "return"),
        ("hist_gradient_boosting", "direction"),
        ("hist_gradient_boosting", "return"),
        ("random_forest", "direction"),
        ("random_forest", "return"),
    ]:
        start = time.perf_counter()
        record = trainer.train(TrainRequest(tickers=["AAA"], model=model, target=target))
        took = time.perf_counter() - start
        rows.append(
            (
                f"train {record.kind}",
                took,
                None,
                f"{record.windows['train']['rows']} rows x {len(record.features)} features",
            )
        )
    fastest = min(seconds for _, seconds, _, _ in rows)
    rows = [(name, s, s / fastest, notes) for name, s, _, notes in rows]
    start = time.perf_counter()
    record = trainer.train(
        TrainRequest(tickers=["AAA", "SPY"], train_fraction=0.5, validation_fraction=0.1)
    )
    result = simulator.simulate(
        SimulationRequest(model_id=record.id, start=date(2023, 9, 1), fee_bps=FEE_BPS)
    )
    took = time.perf_counter() - start
    rows.append(
        (
            "round trip: train + simulate",
            took,
            None,
            f"AAA+SPY logistic, {result.metrics['bars']} bars simulated, "
            f"overlap={result.overlaps_training}",
        )
    )
    rows += _report_rows(simulator, result.id)
    state.dispose()
    return rows


def _empyrical_figures(ts: pd.Series, equity: np.ndarray) -> dict[str, float]:
    """The reference: pandas session grouping and empyrical's functions."""
    import empyrical

    local = pd.Series(equity, index=pd.DatetimeIndex(ts).tz_convert("America/New_York"))
    daily = local.groupby(local.index.date).last()
    r = daily.pct_change()
    r.iloc[0] = daily.iloc[0] / CASH - 1.0
    bars = pd.Series(np.concatenate(([CASH], equity))).pct_change().dropna()
    return {
        "sharpe": empyrical.sharpe_ratio(r),
        "volatility": empyrical.annual_volatility(r),
        "sortino": empyrical.sortino_ratio(r),
        "cagr": empyrical.annual_return(r),
        "calmar": empyrical.calmar_ratio(r),
        "max_drawdown": empyrical.max_drawdown(bars),
    }


def _metrics_rows() -> list[tuple[str, float, float | None, str]]:
    frame = _year_of_features(3)
    close = frame["close"].to_numpy()
    rng = np.random.default_rng(7)
    signal = np.where(np.cumsum(rng.random(len(close)) < 0.02) % 2 == 0, 1, -1).astype(np.int8)
    result = simulate(close, signal, cash=CASH, fee_bps=FEE_BPS)
    ours_s, ours = _best(lambda: performance(result, frame["ts"]), 5)
    ref_s, ref = _best(lambda: _empyrical_figures(frame["ts"], result.equity), 5)
    worst = max(abs(ours[k] - v) / max(abs(v), 1e-12) for k, v in ref.items())
    assert worst < 1e-9, worst
    return [
        ("metrics: performance(), 1 year of minutes", ours_s, None, f"{len(close)} bars"),
        (
            "metrics: pandas + empyrical reference",
            ref_s,
            ref_s / ours_s,
            f"max relative diff {worst:.1e}",
        ),
    ]


def _report_rows(
    simulator: SimulationService, simulation_id: str
) -> list[tuple[str, float, float | None, str]]:
    import plotly.graph_objects as go
    import plotly.io as pio
    import pyarrow.parquet as pq

    record = simulator.get(simulation_id)
    ours_s, page = _best(lambda: simulator.report(simulation_id), 3)

    def naive() -> str:
        curve = pq.read_table(record.equity_path).to_pandas()
        fig = go.Figure(go.Scatter(x=curve["ts"], y=curve["equity"], mode="lines"))
        return str(pio.to_html(fig, include_plotlyjs=True))

    naive_s, plain = _best(naive, 3)
    return [
        ("tearsheet: 4 charts + tables", ours_s, None, f"{len(page) / 1e6:.1f} MB"),
        (
            "naive: one unthinned equity chart",
            naive_s,
            naive_s / ours_s,
            f"{len(plain) / 1e6:.1f} MB",
        ),
    ]


def main() -> None:
    """Run both benchmarks and print one table (ratios are against the row marked 1.0)."""
    rows = _simulation_rows() + _metrics_rows()
    with tempfile.TemporaryDirectory() as tmp:
        rows += _training_rows(Path(tmp))
    print(f"{'benchmark':<42} {'seconds':>10} {'ratio':>8}  notes")
    for name, seconds, ratio, notes in rows:
        shown = f"{ratio:>7.1f}x" if ratio is not None else f"{'':>8}"
        print(f"{name:<42} {seconds:>10.4f} {shown}  {notes}")


if __name__ == "__main__":
    main()
