"""``stockdb import-actions FILE``, ``stockdb actions [SYMBOL]`` and ``stockdb fetch-actions``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockdb.cli.common import make_app, out_console, warn
from stockdb.cli.render import print_records
from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.symbols import normalize_symbol, normalize_symbols

if TYPE_CHECKING:
    from stockdb.corporate.service import ActionUpdate

__all__ = ["register"]


def _report(update: ActionUpdate) -> None:
    r = update.recorded
    out = out_console()
    out.print(
        f"corporate actions: {len(r.new)} new, {len(r.changed)} changed, {r.unchanged} unchanged",
        highlight=False,
    )
    if update.stale_symbols:
        out.print(
            f"stale after the new actions: features of {', '.join(update.stale_symbols)}; "
            f"{len(update.marks.models)} model(s), {len(update.marks.simulations)} simulation(s)",
            highlight=False,
        )
    if update.rebuild_job:
        out.print(f"feature rebuild queued: job {update.rebuild_job}", highlight=False)


def import_actions(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with symbol,type,ex_date,ratio,cash")],
) -> None:
    """Load splits and cash dividends from a CSV file (all rows or none).

    type is forward_split, reverse_split or cash_dividend; ratio is new shares per old
    (4, 4:1, 1:10); cash is the dividend per share.

    Example: stockdb import-actions actions.csv
    """
    _report(make_app(ctx).corporate.import_csv(file))


def actions(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Argument(help="One symbol (default: all)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Stored corporate actions, by symbol and ex-date.

    Example: stockdb actions AAPL
    """
    if fmt not in ("table", "json"):
        raise InvalidInput(f"unknown format {fmt!r}: use table or json")
    app = make_app(ctx)
    found = (
        app.corporate.actions(normalize_symbol(symbol))
        if symbol is not None
        else app.corporate.repo.all()
    )
    rows = [a.to_dict() for a in found]
    if fmt == "json":
        out_console().print_json(json.dumps(rows))
        return
    records = [
        {
            "symbol": a.symbol,
            "ex_date": a.ex_date.isoformat(),
            "type": a.type,
            "terms": a.describe().split(" ")[0],
            "source": a.source,
            "fetched_at": a.fetched_at.isoformat(timespec="seconds") if a.fetched_at else "",
        }
        for a in found
    ]
    title = f"{normalize_symbol(symbol)} corporate actions" if symbol else "corporate actions"
    print_records(records, title)


def fetch_actions(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help="Symbols, e.g. AAPL NVDA")],
    start: Annotated[
        str | None, typer.Option(help="Earliest date YYYY-MM-DD (default: 10 years ago)")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="synthetic or alpaca")] = None,
) -> None:
    """Fetch the symbols' splits and cash dividends from the provider and record them.

    Example: stockdb fetch-actions AAPL NVDA
    """
    names = normalize_symbols(symbols)
    app = make_app(ctx)
    first = parse_date(start, "start") or app.clock.now().date() - timedelta(days=3653)
    source = app.action_source(provider)
    if source.name == "synthetic":
        notice = app.provider_notice("synthetic")
        if notice:
            warn(notice)
    try:
        update = app.corporate.sync(names, source, first)
    finally:
        source.close()
    _report(update)


def register(app: typer.Typer) -> None:
    """Add the corporate-action commands to the root ``stockdb`` app."""
    app.command("import-actions")(import_actions)
    app.command("actions")(actions)
    app.command("fetch-actions")(fetch_actions)
