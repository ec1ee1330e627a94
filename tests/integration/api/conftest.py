"""Fixtures for the REST API tests: an in-process client over a temp data dir, seeded bars."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from stockdb.api import create_app
from stockdb.app import App

with warnings.catch_warnings():  # starlette warns at import when httpx2 is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SEEDED = ("2024-03-04", "2024-03-08")  # five sessions of synthetic SPY


@pytest.fixture
def seeded(app: App) -> App:
    """The App with five synthetic sessions of SPY ingested."""
    source = app.provider("synthetic")
    try:
        app.backfill.run(
            ["SPY"], date.fromisoformat(SEEDED[0]), date.fromisoformat(SEEDED[1]), source
        )
    finally:
        source.close()
    return app


@pytest.fixture
def make_client(app: App) -> Iterator[Callable[..., Any]]:
    """Build TestClients over ``create_app(app=app, run_runtime=False)``; all closed at the end."""
    clients: list[Any] = []

    def make(**kwargs: Any) -> Any:
        client = TestClient(create_app(app=app, run_runtime=False), **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., Any]) -> Any:
    return make_client()


@contextmanager
def live_server(api: FastAPI, timeout_s: float = 30.0) -> Iterator[str]:
    """Serve ``api`` with a real uvicorn on a free loopback port in a thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(api, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
        sock.close()
