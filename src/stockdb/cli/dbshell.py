"""``stockdb db shell``: the DuckDB CLI on the browsing database, views refreshed first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from stockdb.cli.common import make_app
from stockdb.errors import ConfigError

__all__ = ["duckdb_cli", "register", "shell", "shell_command"]

_INSTALL = "the DuckDB CLI is not installed: pip install duckdb-cli (it comes with stockdb)"


def duckdb_cli() -> Path:
    """The ``duckdb`` executable next to this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "duckdb"
    if beside.is_file():
        return beside
    found = shutil.which("duckdb")
    if found is None:
        raise ConfigError(_INSTALL)
    return Path(found)


def shell_command(cli: Path, database: Path, commands: list[str]) -> list[str]:
    """``duckdb -readonly DB [-c SQL ...]`` (read-only: the file holds views only)."""
    out = [str(cli), "-readonly", str(database)]
    for sql in commands:
        out += ["-c", sql]
    return out


def shell(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Option("--command", "-c", help="Run this SQL and exit (repeatable)"),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="Rebuild the views first")
    ] = True,
) -> None:
    """Open the DuckDB CLI on data/duckdb/market.duckdb (views bars_1min, bars_5min, ...).

    Example: stockdb db shell -c "SELECT * FROM bars_5min WHERE symbol='SPY' LIMIT 5"
    """
    from stockdb.lake.views import refresh_views

    stockdb = make_app(ctx)
    cli = duckdb_cli()
    if refresh or not stockdb.settings.duckdb_path.exists():
        refresh_views(stockdb.settings, stockdb.lake)
    argv = shell_command(cli, stockdb.settings.duckdb_path, list(command or []))
    sys.stdout.flush()
    code = subprocess.call(argv)  # noqa: S603 - our own executable, arguments as a list
    if code:
        raise typer.Exit(code)


def register(db: typer.Typer) -> None:
    """Add ``shell`` to ``stockdb db``."""
    db.command("shell")(shell)
