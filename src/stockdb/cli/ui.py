"""``stockdb ui``: the Streamlit dashboard over the REST API (loopback by default)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from stockdb.ui import DEFAULT_API_URL, entry_script

__all__ = ["register", "streamlit_command", "ui"]


def streamlit_command(api_url: str, port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line serving the dashboard for ``api_url``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(entry_script()),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        "--api-url",
        api_url,
    ]


def ui(
    api_url: Annotated[
        str | None,
        typer.Option(help=f"REST API base URL (default: STOCKDB_API_URL or {DEFAULT_API_URL})"),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard TCP port")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 for every one)")] = (
        "127.0.0.1"
    ),
) -> None:
    """Serve the dashboard (Streamlit). It talks to the REST API only; start that with
    ``stockdb serve``. STOCKDB_API_TOKEN, when set, is sent as the bearer token.

    Example: stockdb ui --api-url http://127.0.0.1:8000
    """
    from stockdb.config import Settings

    url = api_url or Settings().api_url or DEFAULT_API_URL
    typer.echo(f"dashboard on http://{host}:{port} (API {url})", err=True)
    command = streamlit_command(url, port, host)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become Streamlit (no wrapper process), so a signal to this pid reaches the server itself.
    os.execv(command[0], command)  # noqa: S606


def register(root: typer.Typer) -> None:
    """Add ``ui`` to the root command."""
    root.command("ui")(ui)
