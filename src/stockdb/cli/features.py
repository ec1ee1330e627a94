"""``stockdb features ...``: build, list, show and status of the versioned feature store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stockdb.cli.common import WorkersOption, make_app, out_console, progress_bar
from stockdb.cli.render import emit
from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.symbols import normalize_symbol

__all__ = ["features_app"]

features_app = typer.Typer(
    name="features",
    help="Versioned features over each ticker's whole 1-minute history: build, list, show, status.",
    no_args_is_help=True,
)


_LIKELY_PARALLEL = 8  # symbols: stockdb.features.service.PARALLEL_MIN_SYMBOLS (slow to import)


@features_app.command("build")
def build(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols (default: every symbol with bars)")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rewrite every partition")] = False,
    timeframe: Annotated[
        str | None,
        typer.Option(
            help="Build at 1Min, 5Min, 15Min, 1Hour or 1Day only (default: 1Min and every "
            "timeframe already built for the symbol)"
        ),
    ] = None,
    universe: Annotated[
        str | None, typer.Option(help="Every symbol of this universe (stockdb universe)")
    ] = None,
    workers: WorkersOption = None,
) -> None:
    """Compute the feature set and write the partitions that are stale.

    Example: stockdb features build SPY --timeframe 1Day
    Example: stockdb features build --universe tech
    """
    least = _LIKELY_PARALLEL if workers is None else 2
    if workers != 1 and (not symbols or len(symbols) >= least):
        from stockdb.parallel import FEATURE_WORKERS, prestart

        prestart(FEATURE_WORKERS)  # the workers' imports overlap with this process's own
    stockdb = make_app(ctx)
    if universe is not None:
        from stockdb.usecases.universe import UniverseService

        symbols = UniverseService(stockdb).resolve(symbols, universe)
    service = stockdb.features
    with progress_bar("features") as update:
        results = service.build(
            symbols or None, full=full, progress=update, timeframe=timeframe, workers=workers
        )
    out = out_console()
    for r in results:
        state = "up to date" if r.up_to_date else f"wrote {r.partitions_written}"
        label = r.symbol if r.timeframe == "1Min" else f"{r.symbol} {r.timeframe}"
        out.print(
            f"{label}: {state} of {r.partitions} partitions, {r.rows} rows, "
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
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Tickers, e.g. SPY or SPY QQQ (or SPY,QQQ)")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First session date YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last session date (inclusive)")] = None,
    columns: Annotated[
        str | None, typer.Option(help="Comma-separated columns, e.g. close,rsi_14,macd")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Latest N rows (table: 20)")] = None,
    timeframe: Annotated[
        str, typer.Option(help="1Min, 5Min, 15Min, 1Hour or 1Day features")
    ] = "1Min",
    fmt: Annotated[str, typer.Option("--format", help="table csv json parquet")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write to this file")] = None,
    universe: Annotated[
        str | None, typer.Option(help="Every symbol of this universe (stockdb universe)")
    ] = None,
) -> None:
    """Feature rows of SYMBOLS (the latest 20 as a table; every row in csv/json/parquet).
    Several symbols (or --universe) give one long table with a symbol column; --limit then
    applies to each symbol.

    Example: stockdb features show SPY --limit 5 --format csv --columns close,rsi_14
    """
    import pyarrow as pa

    from stockdb.formats import OUTPUT_FORMATS

    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
    several = universe is not None or not symbols or len(symbols) > 1 or "," in symbols[0]
    names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if limit is None and fmt == "table":
        limit = 20
    if several:
        from stockdb.usecases.bars import read_features, validate_symbols
        from stockdb.usecases.universe import UniverseService

        stockdb = make_app(ctx)
        if universe is None:
            chosen = validate_symbols(symbols or [])
        else:
            chosen = UniverseService(stockdb).resolve(symbols, universe)
        tf = None if timeframe == "1Min" else timeframe
        frame = read_features(stockdb, chosen, start, end, names, limit, tf)
        title = f"{universe or ','.join(chosen[:5])} {timeframe} features"
    else:
        assert symbols is not None
        name = normalize_symbol(symbols[0])
        first, last = parse_date(start, "start"), parse_date(end, "end")
        frame = make_app(ctx).features.read(name, first, last, names, limit, timeframe)
        title = f"{name} {timeframe} features"
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if fmt != "table":
        emit(table, fmt, output, title, keep_symbol=several)
        return
    shown = Table(title=title)
    for column in frame.columns:
        shown.add_column(str(column), no_wrap=True)
    for row in frame.itertuples(index=False):
        shown.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    out = out_console()
    out.print(shown)
    if len(frame.columns) > 8 and names is None:
        out.print(
            f"{len(frame.columns)} columns: pick some with --columns, or use --format csv",
            style="dim",
        )


@features_app.command("status")
def status(ctx: typer.Context) -> None:
    """Per symbol and timeframe, feature partitions that are stale (missing, old set, newer
    bars, a corporate action).

    Example: stockdb features status
    """
    service = make_app(ctx).features
    table = Table(title=f"feature set {service.set_hash[:12]}")
    for column in ("symbol", "timeframe", "bar partitions", "stale", "reasons", "first stale"):
        table.add_column(column)
    for s in service.status():
        reasons: dict[str, int] = {}
        for p in s.stale:
            reasons[p.reason] = reasons.get(p.reason, 0) + 1
        table.add_row(
            s.symbol,
            s.timeframe,
            str(s.bar_partitions),
            str(len(s.stale)),
            ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "up to date",
            s.stale[0].day.isoformat() if s.stale else "",
        )
    out_console().print(table)
