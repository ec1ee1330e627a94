"""``stockdb features ...``: build, list, show and status of the versioned feature store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from stockdb.cli.common import make_app, out_console, progress_bar
from stockdb.dates import parse_date
from stockdb.symbols import normalize_symbol

__all__ = ["features_app"]

features_app = typer.Typer(
    name="features",
    help="Versioned features over each ticker's whole 1-minute history: build, list, show, status.",
    no_args_is_help=True,
)


@features_app.command("build")
def build(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols (default: every symbol with bars)")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rewrite every partition")] = False,
) -> None:
    """Compute the feature set and write the partitions that are stale.

    Example: stockdb features build SPY QQQ
    """
    service = make_app(ctx).features
    with progress_bar("features") as update:
        results = service.build(symbols or None, full=full, progress=update)
    out = out_console()
    for r in results:
        state = "up to date" if r.up_to_date else f"wrote {r.partitions_written}"
        out.print(
            f"{r.symbol}: {state} of {r.partitions} partitions, {r.rows} rows, "
            f"set {r.set_hash[:12]}, {r.seconds:.2f}s",
            highlight=False,
        )


@features_app.command("list")
def list_features(ctx: typer.Context) -> None:
    """The feature definitions of the current set, with versions and parameters.

    Example: stockdb features list
    """
    service = make_app(ctx).features
    table = Table(title=f"feature set {service.set_hash[:12]}")
    for column in ("name", "version", "params", "warm-up", "columns", "code"):
        table.add_column(column)
    for d in service.definitions():
        params = ", ".join(f"{k}={v}" for k, v in d.params.items())
        table.add_row(
            d.name, str(d.version), params, str(d.warmup), " ".join(d.outputs), d.code_ref
        )
    out = out_console()
    out.print(table)
    out.print(f"price_adjustment={service.feature_set.price_adjustment}", style="dim")


@features_app.command("show")
def show(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker, e.g. SPY")],
    start: Annotated[str | None, typer.Option(help="First session date YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last session date (inclusive)")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns")] = None,
    limit: Annotated[int, typer.Option(help="Latest N rows")] = 20,
) -> None:
    """The latest feature rows of SYMBOL.

    Example: stockdb features show SPY --columns rsi_14,sma_20 --limit 5
    """
    name = normalize_symbol(symbol)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    frame = make_app(ctx).features.read(name, first, last, names, limit)
    table = Table(title=f"{name} features")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    out_console().print(table)


@features_app.command("status")
def status(ctx: typer.Context) -> None:
    """Per symbol, feature partitions that are stale (missing, old set, newer bars, a
    corporate action).

    Example: stockdb features status
    """
    service = make_app(ctx).features
    table = Table(title=f"feature set {service.set_hash[:12]}")
    for column in ("symbol", "bar partitions", "stale", "reasons", "first stale"):
        table.add_column(column)
    for s in service.status():
        reasons: dict[str, int] = {}
        for p in s.stale:
            reasons[p.reason] = reasons.get(p.reason, 0) + 1
        table.add_row(
            s.symbol,
            str(s.bar_partitions),
            str(len(s.stale)),
            ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "up to date",
            s.stale[0].day.isoformat() if s.stale else "",
        )
    out_console().print(table)
