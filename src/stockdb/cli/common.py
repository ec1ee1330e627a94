"""What every CLI command shares: the App, one-line errors, progress bars, output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from stockdb.app import App
    from stockdb.ingest.backfill import ProgressFn

__all__ = ["WorkersOption", "err_console", "make_app", "out_console", "progress_bar", "warn"]

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Processes to use, this one included (default: every core)"
    ),
]
"""``--workers N`` of the commands that spread symbols or files over every core."""


def out_console() -> Console:
    """stdout; wide when not a terminal so piped tables are not truncated."""
    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)


def err_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def make_app(ctx: typer.Context) -> App:
    """The composition root for one CLI invocation; closed when the command ends.

    Closing matters: it checkpoints SQLite's WAL, so read-only commands leave the data dir
    exactly as they found it. Imported here, not at the top: ``stockdb --help`` and commands
    that fail validation never load the App's libraries.
    """
    from stockdb.app import App
    from stockdb.config import Settings

    app = App(Settings())
    ctx.call_on_close(app.close)
    return app


def warn(message: str) -> None:
    """One highlighted line on stderr."""
    err_console().print(f"[bold yellow]warning:[/] {message}", highlight=False)


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr, fed through a ``(done, total, message)`` callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=err_console(),
        transient=not sys.stderr.isatty(),
        disable=not sys.stderr.isatty(),
    )
    task = progress.add_task(description, total=None, note="")

    def update(done: int, total: int, message: str) -> None:
        progress.update(task, completed=done, total=total or None, note=message)

    with progress:
        yield update
