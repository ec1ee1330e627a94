"""``stockdb serve``: the REST API under uvicorn (loopback by default)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = ["register", "serve", "uvicorn_options"]


def uvicorn_options(
    host: str, port: int, reload: bool, log_level: str, access_log: bool
) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for the API (access lines only when asked: the
    dashboard polls every few seconds, which would bury the JSON logs)."""
    return {
        "factory": True,
        "host": host,
        "port": port,
        "reload": reload,
        "log_level": log_level.lower(),
        "access_log": access_log,
    }


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for every one)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development)")] = False,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level: debug, info, warning, error")
    ] = "info",
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Print one line per HTTP request (off: the dashboard's polling floods it)",
        ),
    ] = False,
) -> None:
    """Serve the REST API (Swagger UI at /docs, ReDoc at /redoc, both offline).

    With the embedded SQLite queue this process also runs the job consumer and the agents,
    so ingests queued here really run.

    Example: stockdb serve --port 8000
    """
    import uvicorn

    uvicorn.run(
        "stockdb.api:create_app", **uvicorn_options(host, port, reload, log_level, access_log)
    )


def register(root: typer.Typer) -> None:
    """Add ``serve`` to the root command."""
    root.command("serve")(serve)
