"""``stockdb up`` (what ``make run`` runs): the whole local stack on embedded defaults.

Seeds a few symbols on first start (synthetic data when no Alpaca keys are set), then runs the
REST API, which with the embedded SQLite queue also runs the job consumer and the agents, and
the dashboard, prints the URLs, and stops everything cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from stockdb.cli.common import make_app, out_console, progress_bar, warn
from stockdb.cli.render import emit
from stockdb.cli.ui import streamlit_command
from stockdb.errors import ConfigError

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["SEED_SYMBOLS", "register", "up"]

SEED_SYMBOLS = ("SPY", "QQQ", "AAPL")
_SEED_SESSIONS = 10


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def seed(app: App) -> bool:
    """Ingest :data:`SEED_SYMBOLS` for the latest sessions, build their features and track
    them for the live agent, once.

    Returns False (and does nothing) when the lake already holds data.
    """
    if app.lake.symbols():
        return False
    request = app.ingest.request(SEED_SYMBOLS, latest=_SEED_SESSIONS)
    with progress_bar("seeding") as update:
        app.ingest.run(request, update, announce=warn)
    from stockdb.lake.views import refresh_views

    app.features.build(list(SEED_SYMBOLS))
    refresh_views(app.settings, app.lake)  # so the README's duckdb command works at once
    for symbol in SEED_SYMBOLS:  # the live agent keeps the seeds current from now on
        app.coverage.set_tracked(symbol, True)
    return True


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the API exited with code {proc.returncode} while starting")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling a server that is starting up
    raise ConfigError(f"the API did not answer at {url} within {timeout_s:.0f}s")


def _spawn(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child in its own process group, so stopping it stops everything it started."""
    return subprocess.Popen(argv, env=env, start_new_session=True)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _stop(procs: list[subprocess.Popen[bytes]], timeout_s: float = 20.0) -> None:
    """SIGTERM every child's group, wait, then SIGKILL what is left."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        _signal_group(proc, signal.SIGKILL)  # stragglers the child left in its group


def up(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface for the API and dashboard")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(min=1, max=65535, help="REST API port")] = 8000,
    ui_port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port")] = 8501,
    seed_data: Annotated[bool, typer.Option("--seed/--no-seed", help="Seed on first start")] = True,
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Also serve the dashboard")] = True,
) -> None:
    """Run the whole local stack: API (with consumer and agents) and dashboard.

    Example: stockdb up --api-port 8000 --ui-port 8501
    """
    for port in (api_port, ui_port) if ui else (api_port,):
        if not _port_free(host, port):
            raise ConfigError(
                f"port {port} on {host} is in use; pick another with --api-port/--ui-port"
            )
    from stockdb.lake.reader import BarQuery

    app = make_app(ctx)
    if seed_data and seed(app):
        emit(
            app.reader.bars(BarQuery.parse(SEED_SYMBOLS[0], limit=5)),
            "table",
            None,
            f"{SEED_SYMBOLS[0]} latest bars",
        )
    app.close()
    api_url = f"http://{host}:{api_port}"
    me = [sys.executable, "-m", "stockdb.cli.main"]
    procs = [_spawn([*me, "serve", "--host", host, "--port", str(api_port)])]
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping["flag"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _wait_healthy(api_url, procs[0])
        if ui:
            env = {**os.environ, "STOCKDB_API_URL": api_url}
            procs.append(_spawn(streamlit_command(api_url, ui_port, host), env=env))
        out = out_console()
        out.print(f"API        {api_url}  (OpenAPI docs at {api_url}/docs)", highlight=False)
        if ui:
            out.print(f"dashboard  http://{host}:{ui_port}", highlight=False)
        out.print("Ctrl-C stops everything.", highlight=False)
        while not stopping["flag"]:
            if any(p.poll() is not None for p in procs):
                warn("a component exited; stopping the stack")
                break
            time.sleep(0.25)  # waiting for a signal or a child to exit
    finally:
        _stop(procs)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out_console().print("stopped", highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``up`` to the root command."""
    root.command("up")(up)
