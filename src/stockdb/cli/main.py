"""The root ``stockdb`` command: ingest, bars, gaps, symbols, db; sub-apps plug in here."""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from stockdb.cli.common import err_console, make_app, out_console, progress_bar, warn
from stockdb.cli.render import emit, print_records
from stockdb.errors import InvalidInput, StockDBError, StorageError, exit_code
from stockdb.symbols import normalize_symbol

__all__ = ["app", "main"]

app = typer.Typer(
    name="stockdb",
    help="A local warehouse of US-stock minute bars. First time? Run: stockdb up",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_NOTICES_SHOWN = "STOCKDB_NOTICES_SHOWN"
db_app = typer.Typer(
    help="The DuckDB browsing database: refresh its views, or open a shell on it.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


_ROOT_ONLY = frozenset({"ingest", "bars", "gaps", "symbols"})
"""Commands defined here: running one needs no sub-app, so their modules stay unimported
(typer builds every registered command's parameters before it runs any of them)."""


def _register_subapps(argv: list[str] | None = None) -> None:
    """Sub-apps live in their own modules; registered here, once per process (skipped when
    ``argv`` runs one of this module's own commands: ``--help`` still lists everything)."""
    if argv and argv[0] in _ROOT_ONLY:
        return
    if any(group.name == "features" for group in app.registered_groups):
        return
    from stockdb.cli import actions, dbshell, models, ops, rollups, serve, ui, universe, up
    from stockdb.cli.features import features_app

    app.add_typer(features_app, name="features")
    dbshell.register(db_app)
    for module in (models, serve, ops, ui, up, actions, rollups, universe):
        module.register(app)


@app.command()
def ingest(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols, e.g. SPY QQQ or SPY,QQQ")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First session date (default: 4 sessions before END)")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last session date, inclusive (default: the latest session)")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="synthetic or alpaca")] = None,
    replace: Annotated[
        bool,
        typer.Option(
            help="Re-fetch the sessions START..END and rewrite them exactly as served "
            "(other sessions are never touched)"
        ),
    ] = False,
    universe: Annotated[
        str | None, typer.Option(help="Ingest every symbol of this universe (stockdb universe)")
    ] = None,
) -> None:
    """Fetch 1-minute bars for SYMBOLS over New York session dates START..END (inclusive;
    without dates, the latest five sessions), then their corporate actions.

    Example: stockdb ingest SPY QQQ --start 2024-03-01 --end 2024-03-28
    Example: stockdb ingest --universe tech --start 2024-03-01
    """
    stockdb = make_app(ctx)
    if universe is not None:
        from stockdb.usecases.universe import UniverseService

        symbols = UniverseService(stockdb).resolve(symbols, universe)
    request = stockdb.ingest.request(symbols or [], start, end, provider, replace)
    stockdb.coverage  # noqa: B018 - open the state store before announcing anything
    names = request.symbols
    label = ",".join(names) if len(names) <= 5 else f"{len(names)} symbols"
    with progress_bar(f"ingest {label}") as update:
        outcome = stockdb.ingest.run(request, update, announce=warn)
    summary = outcome.summary
    if summary.no_data:
        warn(f"no bars served for {', '.join(summary.no_data)} (unknown symbol, or not trading)")
    if "error" in outcome.actions:
        warn(f"corporate actions not fetched: {outcome.actions['error']}")
    out_console().print(
        f"{summary.provider}/{summary.feed}: sessions fetched {summary.sessions_fetched} "
        f"(complete {summary.sessions_complete}, partial {summary.sessions_partial}, "
        f"empty {summary.sessions_empty}), skipped {summary.sessions_skipped}; "
        f"rows written {summary.rows_written}, rejected {summary.rows_rejected}; "
        f"requests {summary.requests}, retries {summary.retries}, 429s {summary.rate_limited}, "
        f"rate-limit wait {summary.rate_limit_wait_s:.1f}s, gap re-requests "
        f"{summary.gap_refetches}; {summary.elapsed_s:.1f}s",
        highlight=False,
    )
    if replace:
        from stockdb.ingest.backfill import describe_replaced

        out_console().print(describe_replaced(summary), highlight=False)


@app.command()
def bars(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Tickers, e.g. SPY or AAPL MSFT (or AAPL,MSFT)")
    ] = None,
    timeframe: Annotated[str, typer.Option(help="1Min 5Min 15Min 30Min 1Hour 1Day")] = "1Min",
    start: Annotated[str | None, typer.Option(help="Session date or RFC-3339 instant")] = None,
    end: Annotated[str | None, typer.Option(help="Session date or RFC-3339 instant")] = None,
    limit: Annotated[int | None, typer.Option(help="Latest N bars (of each symbol)")] = None,
    session: Annotated[str | None, typer.Option(help="all or regular")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table csv json parquet")] = "table",
    output: Annotated[Path | None, typer.Option(help="Write to this file")] = None,
    adjustment: Annotated[
        str, typer.Option(help="raw, split, dividend or all (corporate actions)")
    ] = "raw",
    universe: Annotated[
        str | None, typer.Option(help="Read every symbol of this universe (stockdb universe)")
    ] = None,
) -> None:
    """Bars of SYMBOLS at any timeframe, derived locally from 1-minute bars. Several
    symbols (or --universe) give one long table with a symbol column, symbol by symbol.

    Example: stockdb bars SPY --timeframe 5Min --start 2024-03-04 --format csv
    Example: stockdb bars AAPL MSFT --timeframe 1Day --format parquet --output daily.parquet
    """
    from stockdb.formats import OUTPUT_FORMATS
    from stockdb.lake.reader import BarQuery

    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
    if universe is None and symbols and len(symbols) == 1 and "," not in symbols[0]:
        query = BarQuery.parse(symbols[0], timeframe, start, end, limit, session, adjustment)
        table = make_app(ctx).reader.bars(query)
        emit(table, fmt, output, f"{query.symbol} {query.timeframe.name}")
        return
    from stockdb.usecases.bars import read_bars, validate_symbols
    from stockdb.usecases.universe import UniverseService

    if universe is None:
        names = validate_symbols(symbols or [])  # before the App opens: fails fast
        stockdb = make_app(ctx)
    else:
        stockdb = make_app(ctx)
        names = UniverseService(stockdb).resolve(symbols, universe)
    table = read_bars(stockdb, names, timeframe, start, end, limit, session, adjustment)
    label = universe if universe is not None else ",".join(names[:5])
    emit(table, fmt, output, f"{label} {timeframe}", keep_symbol=True)


@app.command()
def gaps(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Ticker, e.g. SPY")],
    start: Annotated[str | None, typer.Option(help="First session date")] = None,
    end: Annotated[str | None, typer.Option(help="Last session date")] = None,
    only_gaps: Annotated[bool, typer.Option("--only-gaps", help="Hide complete sessions")] = False,
) -> None:
    """Per expected session: status, minutes present vs possible, when fetched.

    Example: stockdb gaps SPY --start 2024-03-01 --only-gaps
    """
    from stockdb.usecases.operations import gap_rows

    name = normalize_symbol(symbol)
    rows = gap_rows(make_app(ctx), name, start, end, only_gaps)
    records = [
        {
            "session": r.session_date.isoformat(),
            "status": r.status,
            "rows": r.rows,
            "regular": f"{r.regular_rows}/{r.regular_minutes}",
            "extended": f"{r.rows}/{r.extended_minutes}",
            "early_close": "yes" if r.early_close else "",
            "fetched_at": r.fetched_at.isoformat(timespec="seconds") if r.fetched_at else "",
            "reason": r.reason or "",
        }
        for r in rows
    ]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print_records(records, f"{name} sessions", summary or None)


@app.command()
def symbols(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table csv json")] = "table",
) -> None:
    """Known symbols with a coverage summary (csv or json print hundreds of symbols at once).

    Example: stockdb symbols --format csv
    """
    if fmt not in ("table", "csv", "json"):
        raise InvalidInput(f"unknown format {fmt!r}: use table, csv or json")
    rows = [asdict(s) for s in make_app(ctx).coverage.summaries()]
    if fmt == "table":
        print_records(rows, "symbols")
        return
    import pyarrow as pa

    from stockdb.formats import to_csv, to_json

    table = pa.Table.from_pylist(rows)
    sys.stdout.buffer.write(to_csv(table, drop=()) if fmt == "csv" else to_json(table))
    sys.stdout.buffer.flush()


@db_app.command("refresh")
def db_refresh(ctx: typer.Context) -> None:
    """(Re)build {data}/duckdb/market.duckdb with views over the lake.

    Example: stockdb db refresh
    """
    from stockdb.lake.views import refresh_views

    stockdb = make_app(ctx)
    path, views = refresh_views(stockdb.settings, stockdb.lake)
    out_console().print(f"{path}: views {', '.join(views)}", highlight=False)


def _startup_notices() -> None:
    """Print the configuration notices once per command line (child processes, such as the
    API that ``stockdb up`` starts, inherit the marker and stay quiet)."""
    if os.environ.get(_NOTICES_SHOWN):
        return
    from stockdb.config import Settings

    for line in Settings().startup_notices():
        warn(line)
    os.environ[_NOTICES_SHOWN] = "1"


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _is_sqlalchemy_error(exc: BaseException) -> bool:
    """True for a SQLAlchemy error; SQLAlchemy is not imported for it (a command that never
    opened the state store cannot raise one, and ``--help`` stays fast)."""
    module = sys.modules.get("sqlalchemy.exc")
    return module is not None and isinstance(exc, module.SQLAlchemyError)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI, turning every failure into one line on stderr."""
    _register_subapps(sys.argv[1:] if argv is None else argv)
    try:
        _startup_notices()
        result = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console().print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {_one_line(message)}", file=sys.stderr)
        return 2
    except StockDBError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        err = StorageError(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "))
        print(f"error: {_one_line(str(err))}", file=sys.stderr)
        return exit_code(err)
    except Exception as exc:
        if not _is_sqlalchemy_error(exc):
            raise
        detail = getattr(exc, "orig", None) or type(exc).__name__
        print(f"error: state store: {_one_line(str(detail))}", file=sys.stderr)
        return exit_code(StorageError(str(detail)))
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    """The ``stockdb`` command: :func:`main`, exiting with its code.

    First every object still alive is moved out of the garbage collector's reach
    (``gc.freeze``): the interpreter's last full collection at exit would otherwise spend
    about 0.2 s walking what the command loaded (pandas, SQLAlchemy, numba...), on a core that
    a job it has just queued may need (``stockdb jobs ingest``: 0.34 s from the command's end
    to the process's, 0.12 s frozen). Exit handlers still run and objects are still freed as
    the modules are torn down."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
