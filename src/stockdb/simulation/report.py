"""A self-contained HTML tearsheet of one stored simulation (Plotly, JS inline, works offline).

The series behind the charts are pure functions (monthly returns, rolling Sharpe, thinning);
:func:`tearsheet` assembles them with the metric table, the trades and the run's settings.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from stockdb.simulation.metrics import TRADING_DAYS_PER_YEAR, daily_returns

__all__ = [
    "MAX_CHART_POINTS",
    "MAX_TRADE_ROWS",
    "ReportInput",
    "monthly_returns",
    "rolling_sharpe",
    "thin_indices",
    "tearsheet",
]

MAX_CHART_POINTS = 4000
MAX_TRADE_ROWS = 2000
_NEW_YORK = "America/New_York"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Percent figures in the metric table; the rest are shown as numbers.
_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure"}
_MONEY = {"initial_cash", "final_equity", "fees", "cash"}
# Bar charts skip weekends and the hours outside 04:00-20:00 New York (no bars there).
_RANGEBREAKS = [{"bounds": ["sat", "mon"]}, {"bounds": [20, 4], "pattern": "hour"}]


def monthly_returns(daily: pd.Series) -> pd.DataFrame:
    """Compounded returns per calendar month from session returns indexed by date: a frame
    of years (rows) by months 1-12 (columns), NaN where the run has no session."""
    index = pd.DatetimeIndex(pd.to_datetime(pd.Index(daily.index).astype(str)))
    growth = pd.Series(1.0 + daily.to_numpy(np.float64), index=index)
    by_month = growth.groupby([index.year, index.month]).prod() - 1.0
    table = by_month.unstack()
    table = table.reindex(columns=range(1, 13))
    table.index.name, table.columns.name = "year", "month"
    return table


def rolling_sharpe(daily: pd.Series, window: int) -> pd.Series:
    """Annualised Sharpe of each trailing ``window`` of session returns (ddof 1, risk-free
    0); NaN until the window is full or when it has no spread."""
    if window < 2:
        raise ValueError("a rolling Sharpe needs a window of at least 2 sessions")
    roll = daily.astype(np.float64).rolling(window)
    sd = roll.std(ddof=1)
    return roll.mean() / sd.where(sd > 0) * math.sqrt(TRADING_DAYS_PER_YEAR)


def sharpe_window(sessions: int) -> int:
    """63 sessions (a quarter), or half the run when it is shorter, at least 2."""
    return max(2, min(63, sessions // 2))


def thin_indices(values: np.ndarray, max_points: int = MAX_CHART_POINTS) -> np.ndarray:
    """At most about ``max_points`` positions to plot a long series: per bucket its first,
    lowest and highest point, plus the last, so troughs and peaks survive thinning."""
    n = int(np.asarray(values).shape[0])
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 3)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [np.array([n - 1])]
    arr = np.asarray(values, dtype=np.float64)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi > lo:
            part = arr[lo:hi]
            keep.append(np.array([lo, lo + int(np.argmin(part)), lo + int(np.argmax(part))]))
    return np.unique(np.concatenate(keep))


@dataclass(frozen=True)
class ReportInput:
    """What a tearsheet shows: the stored curve and trades with the simulation's row and the
    model's description (None when the model was deleted)."""

    simulation_id: str
    model_id: str
    symbol: str
    created_at: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any]
    benchmark_metrics: Mapping[str, Any]
    warnings: Sequence[str]
    stale: bool
    model: Mapping[str, Any] | None
    curve: pd.DataFrame
    trades: pd.DataFrame


def _drawdown(values: np.ndarray, cash: float) -> np.ndarray:
    curve = np.concatenate(([cash], values))
    return np.asarray((curve / np.maximum.accumulate(curve) - 1.0)[1:])


def _charts(data: ReportInput) -> list[go.Figure]:
    curve = data.curve
    cash = float(data.metrics.get("initial_cash") or data.params.get("cash") or 1.0)
    times = curve["ts"].dt.tz_convert(_NEW_YORK).dt.tz_localize(None)
    eq = curve["equity"].to_numpy(np.float64)
    bench = curve["benchmark_equity"].to_numpy(np.float64)
    dd, bench_dd = _drawdown(eq, cash), _drawdown(bench, cash)
    layout: dict[str, Any] = {"height": 360, "margin": {"l": 60, "r": 20, "t": 50, "b": 40}}
    pick = np.union1d(thin_indices(eq), thin_indices(bench))
    equity = go.Figure(layout={**layout, "title": "Equity vs buy-and-hold (New York time)"})
    for name, values in (("strategy", eq), ("buy and hold", bench)):
        equity.add_trace(go.Scatter(x=times.iloc[pick], y=values[pick], mode="lines", name=name))
    pick = np.union1d(thin_indices(dd), thin_indices(bench_dd))
    drawdown = go.Figure(layout={**layout, "title": "Drawdown over every bar (%)"})
    for name, values in (("strategy", dd), ("buy and hold", bench_dd)):
        drawdown.add_trace(
            go.Scatter(
                x=times.iloc[pick], y=values[pick] * 100, mode="lines", fill="tozeroy", name=name
            )
        )
    daily = daily_returns(curve["ts"], eq, cash)
    months = monthly_returns(daily) * 100
    text = [[f"{v:.2f}" if np.isfinite(v) else "" for v in row] for row in months.to_numpy()]
    for fig in (equity, drawdown):
        fig.update_xaxes(rangebreaks=_RANGEBREAKS)
    heatmap = go.Figure(
        go.Heatmap(
            z=months.to_numpy(),
            x=list(_MONTHS),
            y=[str(y) for y in months.index],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            colorbar={"title": "%"},
        ),
        layout={**layout, "title": "Monthly returns of the strategy (%)", "height": 260},
    )
    window = sharpe_window(len(daily))
    rolling = go.Figure(
        layout={**layout, "title": f"Rolling Sharpe ({window} sessions, annualised)"}
    )
    bench_daily = daily_returns(curve["ts"], bench, cash)
    for name, series in (("strategy", daily), ("buy and hold", bench_daily)):
        sharpe = rolling_sharpe(series, window)
        x = pd.to_datetime(pd.Index(sharpe.index).astype(str))
        rolling.add_trace(go.Scatter(x=x, y=sharpe.to_numpy(), mode="lines", name=name))
    rolling.update_xaxes(rangebreaks=_RANGEBREAKS[:1])
    return [equity, drawdown, heatmap, rolling]


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    if name in _PERCENT:
        return f"{value * 100:,.2f}&nbsp;%"
    if name in _MONEY:
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _metric_table(data: ReportInput) -> str:
    names = [k for k, v in data.metrics.items() if not isinstance(v, dict | list)]
    rows = [
        [html.escape(n), _fmt(n, data.metrics.get(n)), _fmt(n, data.benchmark_metrics.get(n))]
        for n in names
    ]
    return _table(["metric", "strategy", "buy and hold"], rows, "metrics")


def _settings_table(data: ReportInput) -> str:
    p = data.params
    model = data.model or {}
    window = model.get("windows", {}).get("train") if model else None
    rows = [
        ("model", f"{data.model_id} ({model.get('kind', 'deleted')}, {model.get('task', '?')})"),
        ("model features", str(len(model.get("features", ()))) if model else "?"),
        ("training window", f"{window['start']} to {window['end']}" if window else "?"),
        ("symbol", f"{data.symbol} (tickers {', '.join(p.get('tickers') or [data.symbol])})"),
        ("window", f"{p.get('first_ts')} to {p.get('last_ts')}"),
        (
            "sample",
            "in sample (overlap allowed)"
            if p.get("in_sample")
            else f"out of sample from {p.get('out_of_sample_from') or p.get('start') or '?'}",
        ),
        ("fill", str(p.get("fill"))),
        ("costs", f"fee {p.get('fee_bps')} bps, slippage {p.get('slippage_bps')} bps"),
        ("initial cash", _fmt("cash", p.get("cash"))),
        ("created", data.created_at),
    ]
    return _table(["", ""], [[html.escape(k), html.escape(v)] for k, v in rows], "settings")


def _trade_table(trades: pd.DataFrame) -> str:
    shown = trades.tail(MAX_TRADE_ROWS)
    note = (
        f"<p>The last {len(shown):,} of {len(trades):,} fills; all are in the stored Parquet "
        "file and in <code>GET /simulations/{id}</code>.</p>"
        if len(shown) < len(trades)
        else f"<p>{len(trades):,} fills.</p>"
    )
    stamps = pd.to_datetime(shown["ts"], utc=True).dt.tz_convert(_NEW_YORK)
    rows = [
        [
            html.escape(f"{when:%Y-%m-%d %H:%M}"),
            html.escape(str(side)),
            f"{price:,.4f}",
            f"{count:,}",
            f"{fee:,.2f}",
            f"{after:,.2f}",
        ]
        for when, side, price, count, fee, after in zip(
            stamps,
            shown["side"].tolist(),
            shown["price"].to_numpy(np.float64),
            shown["shares"].to_numpy(np.int64),
            shown["fee"].to_numpy(np.float64),
            shown["cash_after"].to_numpy(np.float64),
            strict=True,
        )
    ]
    headers = ["time (New York)", "side", "price", "shares", "fee", "cash after"]
    return f'{note}<div class="scroll">{_table(headers, rows, "trades")}</div>'


_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px}
table{border-collapse:collapse;font-size:0.9em} td,th{padding:3px 10px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4} table.metrics td:nth-child(n+2){text-align:right}
table.trades td:nth-child(n+3){text-align:right} .warn{background:#fff3cd;padding:8px 12px}
.grid{display:flex;gap:32px;flex-wrap:wrap} .note{color:#555;font-size:0.85em}
.scroll{max-height:520px;overflow-y:auto;display:inline-block}
"""


def tearsheet(data: ReportInput) -> str:
    """The whole HTML page: settings, warnings, metric table, four charts and the trades.

    Plotly's JS is inlined once, so the file opens offline and needs nothing else.
    """
    title = f"Simulation {data.simulation_id}: {data.model_id} on {data.symbol}"
    warnings = list(data.warnings)
    if data.stale:
        warnings.append("stale: the model or its inputs changed since this run")
    warned = "".join(f'<p class="warn">{html.escape(w)}</p>' for w in warnings)
    charts = "".join(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{k}",
            config={"displaylogo": False, "responsive": True},
        )
        for k, fig in enumerate(_charts(data))
    )
    sessions = data.metrics.get("sessions")
    note = (
        f"Sharpe, volatility, Sortino, CAGR and Calmar come from {sessions} daily returns "
        "(equity at each New York session's last bar, the first session against the initial "
        "cash, 252 sessions a year; Calmar uses the daily drawdown, as empyrical does). "
        "Drawdown and its duration are measured over every bar."
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>{warned}"
        f'<div class="grid"><div><h2>Run</h2>{_settings_table(data)}</div>'
        f'<div><h2>Metrics</h2>{_metric_table(data)}<p class="note">{html.escape(note)}</p>'
        f"</div></div><h2>Charts</h2>{charts}"
        f"<h2>Trades</h2>{_trade_table(data.trades)}</body></html>"
    )
