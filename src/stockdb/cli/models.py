"""``stockdb train``, ``stockdb models ...``, ``stockdb simulate`` and ``stockdb simulations``."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from stockdb.cli.common import make_app, out_console, progress_bar, warn
from stockdb.cli.render import print_records
from stockdb.errors import InvalidInput, StorageError

__all__ = ["models_app", "register", "simulations_app"]

models_app = typer.Typer(
    help="Registered models: list, show, delete (train one with stockdb train).",
    no_args_is_help=True,
)
simulations_app = typer.Typer(
    help="Stored backtests: list, show, report, delete (run one with stockdb simulate).",
    no_args_is_help=True,
)


def _metrics_rows(metrics: dict[str, Any], prefix: str = "") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, value in metrics.items():
        if isinstance(value, dict):
            rows.extend(_metrics_rows(value, f"{prefix}{name}."))
        elif not isinstance(value, list):
            shown = f"{value:.6g}" if isinstance(value, float) else value
            rows.append({"metric": f"{prefix}{name}", "value": shown})
    return rows


def _universe_symbols(ctx: typer.Context, symbols: str | None, universe: str) -> list[str]:
    from stockdb.usecases.universe import UniverseService

    return UniverseService(make_app(ctx)).resolve(symbols, universe)


def train(
    ctx: typer.Context,
    tickers: Annotated[
        str | None, typer.Option(help="Comma-separated; the first is the primary")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated panel symbols (same as --tickers)")
    ] = None,
    panel: Annotated[
        bool, typer.Option("--panel", help="Stack the symbols' rows for one model")
    ] = False,
    universe: Annotated[
        str | None, typer.Option(help="A universe's symbols (see stockdb universe), with --symbols")
    ] = None,
    model: Annotated[
        str, typer.Option(help="logistic_regression, ridge, random_forest, hist_gradient_boosting")
    ] = "logistic_regression",
    target: Annotated[str, typer.Option(help="direction or return")] = "direction",
    horizon: Annotated[int, typer.Option(help="Bars ahead the target looks")] = 1,
    features: Annotated[str | None, typer.Option(help="Names or globs, comma-separated")] = None,
    timeframes: Annotated[
        str | None,
        typer.Option(help="Also join features at 5Min,15Min,1Hour,1Day (closed bars only)"),
    ] = None,
    start: Annotated[str | None, typer.Option(help="First session date")] = None,
    end: Annotated[str | None, typer.Option(help="Last session date")] = None,
    train_fraction: Annotated[
        float, typer.Option(help="Share of rows to train on (fraction split)")
    ] = 0.7,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of rows to validate on, after the training rows")
    ] = 0.15,
    train_end: Annotated[str | None, typer.Option(help="Split by date instead")] = None,
    validation_end: Annotated[
        str | None, typer.Option(help="Last validation session (with --train-end)")
    ] = None,
    walk_forward: Annotated[int | None, typer.Option(help="Walk-forward folds")] = None,
    rolling: Annotated[bool, typer.Option(help="Rolling (not expanding) windows")] = False,
    params: Annotated[str | None, typer.Option(help='Model params as JSON, e.g. {"C": 0.5}')] = (
        None
    ),
) -> None:
    """Train a scikit-learn pipeline on one or several tickers' features; prints its id.

    With --panel every symbol's feature rows are stacked for one model, cut at the same
    instant for every symbol; add the feature "symbol" to use the symbol as a category.

    Example: stockdb train --tickers SPY,QQQ --model random_forest --target direction --horizon 5

    Example: stockdb train --symbols AAPL,MSFT,NVDA --panel --features "logret_*,symbol"

    Example: stockdb train --universe tech --panel
    """
    listed: str | None
    if universe is not None:
        if tickers is not None:
            raise InvalidInput("give --universe with --symbols, not --tickers")
        listed = ",".join(_universe_symbols(ctx, symbols, universe))
    elif (tickers is None) == (symbols is None):
        raise InvalidInput("give the symbols with either --tickers or --symbols (or --universe)")
    else:
        listed = tickers if tickers is not None else symbols
    assert listed is not None
    body: dict[str, Any] = {
        "tickers": listed.split(","),
        "panel": panel,
        "model": model,
        "target": target,
        "horizon": horizon,
        "start": start,
        "end": end,
        "train_fraction": train_fraction,
        "validation_fraction": validation_fraction,
        "train_end": train_end,
        "validation_end": validation_end,
    }
    if features:
        body["features"] = [f.strip() for f in features.split(",") if f.strip()]
    if timeframes:
        body["timeframes"] = [f.strip() for f in timeframes.split(",") if f.strip()]
    if walk_forward:
        body["walk_forward"] = {
            "n_splits": walk_forward,
            "mode": "rolling" if rolling else "expanding",
        }
    if params:
        try:
            body["params"] = json.loads(params)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--params is not JSON: {exc.msg}") from None
    from stockdb.training.requests import train_request

    request = train_request(body)
    app = make_app(ctx)
    with progress_bar(f"train {model}") as update:
        record = app.training.train(request, update)
    out = out_console()
    out.print(f"model {record.id}", highlight=False)
    dataset = record.metrics.get("dataset", {})
    dropped = dataset.get("dropped_by_context") if isinstance(dataset, dict) else None
    if dropped and any(dropped.values()):
        out.print(f"rows dropped by context tickers: {dropped}", highlight=False)
    shown = {k: v for k, v in record.metrics.items() if k not in ("dataset", "test_by_symbol")}
    print_records(_metrics_rows(shown), f"{record.id} metrics")
    if "test_by_symbol" in record.metrics:
        out.print(f"per-symbol test metrics: stockdb models show {record.id}", highlight=False)


@models_app.command("list")
def models_list(ctx: typer.Context) -> None:
    """Every registered model with its headline metrics.

    Example: stockdb models list
    """
    rows = []
    for r in make_app(ctx).training.list():
        test = r.metrics.get("test") or r.metrics.get("validation") or {}
        headline = {k: test.get(k) for k in ("accuracy", "roc_auc", "rmse", "r2") if k in test}
        rows.append(
            {
                "id": r.id,
                "kind": r.kind,
                "tickers": ",".join(r.tickers),
                "target": r.target,
                "horizon": r.horizon,
                "features": len(r.features),
                "metrics": " ".join(f"{k}={v:.4g}" for k, v in headline.items() if v is not None),
                "stale": "STALE" if r.stale else "",
                "created": r.created_at.isoformat("T", "seconds"),
            }
        )
    print_records(rows, "models")


@models_app.command("show")
def models_show(
    ctx: typer.Context, model_id: Annotated[str, typer.Argument(help="Model id")]
) -> None:
    """Everything the registry holds about one model.

    Example: stockdb models show MODEL_ID
    """
    record = make_app(ctx).training.get(model_id)
    if record.stale:
        warn(f"{record.id} is stale: a corporate action changed its inputs; retrain it")
    out_console().print_json(json.dumps(asdict(record), default=str))


@models_app.command("delete")
def models_delete(
    ctx: typer.Context, model_id: Annotated[str, typer.Argument(help="Model id")]
) -> None:
    """Delete a model's artifact and registry row.

    Example: stockdb models delete MODEL_ID
    """
    make_app(ctx).training.delete(model_id)
    out_console().print(f"deleted {model_id}", highlight=False)


def simulate(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="Model id")],
    symbol: Annotated[str | None, typer.Option(help="Default: the model's primary")] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated: each symbol, plus their equal-weight portfolio"),
    ] = None,
    universe: Annotated[
        str | None, typer.Option(help="A universe's symbols (see stockdb universe), with --symbols")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First session to replay")] = None,
    end: Annotated[str | None, typer.Option(help="Last session to replay")] = None,
    cash: Annotated[float, typer.Option(help="Starting cash")] = 10_000.0,
    fill: Annotated[str, typer.Option(help="close or next_open")] = "close",
    fee_bps: Annotated[float, typer.Option(help="Fee per fill, basis points")] = 0.0,
    slippage_bps: Annotated[float, typer.Option(help="Slippage per fill, basis points")] = 0.0,
    in_sample: Annotated[
        bool, typer.Option("--in-sample", help="Allow overlap with the training window")
    ] = False,
) -> None:
    """Replay a model's signals all-in/all-out and compare with buy-and-hold.

    Out of sample by default: without --start the period begins at the first session after
    the model's training window; overlapping it needs --in-sample.

    With --symbols the model trades every symbol with an equal share of the cash, and the
    equal-weight portfolio of them is compared with equal-weight buy-and-hold.

    Example: stockdb simulate --model MODEL_ID --start 2024-03-20 --fill next_open --fee-bps 1

    Example: stockdb simulate --model PANEL_MODEL_ID --symbols AAPL,MSFT,NVDA

    Example: stockdb simulate --model PANEL_MODEL_ID --universe tech
    """
    from stockdb.training.requests import simulation_request

    if symbol is not None and (symbols is not None or universe is not None):
        raise InvalidInput("give either --symbol or --symbols/--universe")
    if universe is not None:
        symbols = ",".join(_universe_symbols(ctx, symbols, universe))
    request = simulation_request(
        {
            "model_id": model,
            "symbol": symbol,
            "start": start,
            "end": end,
            "cash": cash,
            "fill": fill,
            "fee_bps": fee_bps,
            "slippage_bps": slippage_bps,
            "in_sample": in_sample,
        }
    )
    app = make_app(ctx)
    if symbols is not None:
        _simulate_many(app.simulation, request, symbols.split(","))
        return
    with progress_bar("simulate") as update:
        record = app.simulation.simulate(request, update)
    for message in record.warnings:
        warn(message)
    out_console().print(f"simulation {record.id} ({record.symbol})", highlight=False)
    _print_comparison(record.metrics, record.benchmark_metrics, record.id)


def _simulate_many(service: Any, request: Any, symbols: list[str]) -> None:
    from stockdb.simulation.portfolio import simulate_portfolio

    with progress_bar("simulate") as update:
        result = simulate_portfolio(service, request, symbols, update)
    warned = {m for run in result.runs for m in run.warnings}
    for message in sorted(warned):
        warn(message)
    rows = [
        {
            "symbol": run.symbol,
            "simulation": run.id,
            "total_return": _fmt(run.metrics.get("total_return")),
            "buy_and_hold": _fmt(run.benchmark_metrics.get("total_return")),
            "sharpe": _fmt(run.metrics.get("sharpe")),
        }
        for run in result.runs
    ]
    print_records(rows, f"{len(rows)} symbols")
    _print_comparison(result.metrics, result.benchmark_metrics, "equal-weight portfolio")


def _print_comparison(metrics: dict[str, Any], bench: dict[str, Any], title: str) -> None:
    rows = [
        {"metric": k, "strategy": _fmt(v), "buy_and_hold": _fmt(bench.get(k))}
        for k, v in metrics.items()
        if not isinstance(v, dict | list)
    ]
    sessions = metrics.get("sessions")
    note = (
        f"sharpe, volatility, sortino, cagr and calmar from {sessions} daily returns "
        "(equity at each session's last bar, 252 sessions a year); drawdown over every bar"
        if sessions is not None
        else None
    )
    print_records(rows, f"{title}: strategy vs buy-and-hold", note)


def _fmt(value: object) -> object:
    return f"{value:.6g}" if isinstance(value, float) else value


@simulations_app.command("list")
def simulations_list(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's runs")] = None,
) -> None:
    """Stored simulations, newest first.

    Example: stockdb simulations list --model MODEL_ID
    """
    rows = [
        {
            "id": r.id,
            "model": r.model_id,
            "symbol": r.symbol,
            "total_return": _fmt(r.metrics.get("total_return")),
            "buy_and_hold": _fmt(r.benchmark_metrics.get("total_return")),
            "overlap": "yes" if r.overlaps_training else "",
            "stale": "STALE" if r.stale else "",
            "created": r.created_at.isoformat("T", "seconds"),
        }
        for r in make_app(ctx).simulation.store.list(model)
    ]
    print_records(rows, "simulations")


@simulations_app.command("show")
def simulations_show(
    ctx: typer.Context,
    simulation_id: Annotated[str, typer.Argument(help="Simulation id")],
    trades: Annotated[int, typer.Option(help="Show the last N trades")] = 10,
) -> None:
    """Metrics against buy-and-hold and the latest trades of one simulation.

    Example: stockdb simulations show SIMULATION_ID
    """
    from stockdb.formats import to_records

    store = make_app(ctx).simulation.store
    record = store.get(simulation_id)
    for message in record.warnings:
        warn(message)
    _print_comparison(record.metrics, record.benchmark_metrics, record.id)
    print_records(to_records(store.trades(record.id, last=trades)), "trades")


@simulations_app.command("delete")
def simulations_delete(
    ctx: typer.Context,
    simulation_id: Annotated[str, typer.Argument(help="Simulation id")],
) -> None:
    """Delete a stored simulation: its row, equity curve and trades.

    Example: stockdb simulations delete SIMULATION_ID
    """
    make_app(ctx).simulation.store.delete(simulation_id)
    out_console().print(f"deleted simulation {simulation_id}", highlight=False)


def _write_text(dest: Path, text: str) -> None:
    """Write ``text`` to ``dest`` through a temp file and a rename: whole or not at all."""
    if not dest.parent.is_dir():
        raise InvalidInput(f"--out: folder {dest.parent} does not exist")
    if dest.is_dir():
        raise InvalidInput(f"--out: {dest} is a folder")
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}-{dest.name}"
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {dest}: {exc.strerror or type(exc).__name__}") from exc


@simulations_app.command("report")
def simulations_report(
    ctx: typer.Context,
    simulation_id: Annotated[str, typer.Argument(help="Simulation id")],
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file; default simulation-ID.html here")
    ] = None,
) -> None:
    """Write a self-contained HTML tearsheet (opens offline): equity vs buy-and-hold,
    drawdown, monthly returns, rolling Sharpe, metrics, trades and the run's settings.

    Example: stockdb simulations report SIMULATION_ID --out report.html
    """
    page = make_app(ctx).simulation.report(simulation_id)
    dest = out if out is not None else Path(f"simulation-{simulation_id}.html")
    _write_text(dest, page)
    out_console().print(f"wrote {dest} ({len(page) / 1e6:.1f} MB)", highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``train``, ``simulate``, ``models`` and ``simulations`` to the root command."""
    root.command("train")(train)
    root.command("simulate")(simulate)
    root.add_typer(models_app, name="models")
    root.add_typer(simulations_app, name="simulations")
