"""``stockdb features ...``: build, list, show and status of the versioned feature store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stockdb.config import Settings
from stockdb.errors import InvalidInput, StockDBError, exit_code
from stockdb.features.factory import feature_service
from stockdb.features.service import FeatureService

__all__ = ["features_app"]

features_app = typer.Typer(
    name="features",
    help="Versioned features over each ticker's whole 1-minute history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _out() -> Console:
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


@contextmanager
def _service() -> Iterator[FeatureService]:
    """The service for one command; a StockDBError becomes one stderr line and an exit code."""
    try:
        app, service = feature_service(Settings())
        try:
            yield service
        finally:
            app.close()
    except StockDBError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        raise typer.Exit(exit_code(exc)) from None


def _parse_day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD, got {value[:40]!r}") from None


@features_app.command("build")
def build(
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols (default: every symbol with bars)")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Rewrite every partition")] = False,
) -> None:
    """Compute the feature set and write the partitions that are stale."""
    with _service() as service:
        progress = Progress(
            TextColumn("[bold]features"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            disable=not sys.stderr.isatty(),
        )
        task = progress.add_task("features", total=None, note="")

        def update(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, note=message)

        with progress:
            results = service.build(symbols or None, full=full, progress=update)
        out = _out()
        for r in results:
            state = "up to date" if r.up_to_date else f"wrote {r.partitions_written}"
            out.print(
                f"{r.symbol}: {state} of {r.partitions} partitions, {r.rows} rows, "
                f"set {r.set_hash[:12]}, {r.seconds:.2f}s",
                highlight=False,
            )


@features_app.command("list")
def list_features() -> None:
    """The feature definitions of the current set, with versions and parameters."""
    with _service() as service:
        table = Table(title=f"feature set {service.set_hash[:12]}")
        for column in ("name", "version", "params", "warm-up", "columns", "code"):
            table.add_column(column)
        for d in service.definitions():
            params = ", ".join(f"{k}={v}" for k, v in d.params.items())
            table.add_row(
                d.name, str(d.version), params, str(d.warmup), " ".join(d.outputs), d.code_ref
            )
        _out().print(table)
        _out().print(f"price_adjustment={service.feature_set.price_adjustment}", style="dim")


@features_app.command("show")
def show(
    symbol: str,
    start: Annotated[str | None, typer.Option(help="First session date YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last session date (inclusive)")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns")] = None,
    limit: Annotated[int, typer.Option(help="Latest N rows")] = 20,
) -> None:
    """The latest feature rows of SYMBOL."""
    with _service() as service:
        first, last = _parse_day(start, "start"), _parse_day(end, "end")
        names = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
        frame = service.read(symbol, first, last, names, limit)
        table = Table(title=f"{symbol.upper()} features")
        for name in frame.columns:
            table.add_column(str(name))
        for row in frame.itertuples(index=False):
            table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
        _out().print(table)


@features_app.command("status")
def status() -> None:
    """Per symbol, feature partitions that are stale (missing, old set, newer bars)."""
    with _service() as service:
        rows = service.status()
        table = Table(title=f"feature set {service.set_hash[:12]}")
        for column in ("symbol", "bar partitions", "stale", "reasons", "first stale"):
            table.add_column(column)
        for s in rows:
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
        _out().print(table)
