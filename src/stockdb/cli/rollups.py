"""``stockdb rollups rebuild``: derive the maintained 1Day/1Hour rollups from the minute files."""

from __future__ import annotations

from typing import Annotated

import typer

from stockdb.cli.common import WorkersOption, make_app, out_console, progress_bar

__all__ = ["register", "rollups_app"]

rollups_app = typer.Typer(
    help="The maintained 1Day (regular and all sessions) and 1Hour rollups of the bars lake.",
    no_args_is_help=True,
)


@rollups_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols to rebuild (default: every stored one)")
    ] = None,
    universe: Annotated[
        str | None, typer.Option(help="Every symbol of this universe (stockdb universe)")
    ] = None,
    workers: WorkersOption = None,
) -> None:
    """Derive the rollup files of SYMBOLS again from their 1-minute partitions (every write
    keeps them up to date; rebuild after restoring files by hand or after verify reports one).

    Example: stockdb rollups rebuild SPY QQQ
    Example: stockdb rollups rebuild --universe tech
    """
    from stockdb.usecases.operations import rebuild_rollups  # the pool only when it runs

    app = make_app(ctx)
    with progress_bar("rollups rebuild") as update:
        names, files = rebuild_rollups(app, symbols, universe, workers, update)
    out_console().print(
        f"rebuilt {files} rollup files for {len(names)} symbols under {app.lake.rollups.root}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``rollups`` to the root ``stockdb`` command."""
    if any(group.name == "rollups" for group in app.registered_groups):
        return
    app.add_typer(rollups_app, name="rollups")
