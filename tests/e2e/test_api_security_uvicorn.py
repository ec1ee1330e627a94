"""Local API safety through a real uvicorn process (``uvicorn app.api.main:app``): a web page's
cross-origin POST and a rebinding ``Host`` are refused, ``curl -X POST`` and the dashboard's
client still work, and with STOCKDB_API_TOKEN every route but /health needs the token."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockdb.ui.client import ApiClient, ApiError

from .uvicorn_api import uvicorn_api

TOKEN = "e2e-token-0123456789"
EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@contextmanager
def _serve(tmp_path: Path, extra_env: dict[str, str]) -> Iterator[str]:
    with uvicorn_api(tmp_path, extra_env) as api:
        yield api.base


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Any]]:
    with_env: list[Any] = []

    def start(extra_env: dict[str, str]) -> str:
        manager = _serve(tmp_path, extra_env)
        with_env.append(manager)
        return manager.__enter__()

    yield start
    for manager in with_env:
        manager.__exit__(None, None, None)


def _live_enabled(base: str, headers: dict[str, str] | None = None) -> bool:
    agents = httpx.get(f"{base}/agents", headers=headers).json()["agents"]
    return bool(next(a for a in agents if a["name"] == "live")["enabled"])


def test_open_mode_refuses_cross_site_posts_and_foreign_hosts(
    serve: Callable[[dict[str, str]], str],
) -> None:
    base = serve({})
    port = base.rsplit(":", 1)[1]
    # What a page on evil.example can send without a preflight: a text/plain form-like POST.
    for headers in (EVIL, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = httpx.post(
            f"{base}/agents/live/stop",
            content="x=1",
            headers={"Content-Type": "text/plain", **headers},
        )
        assert response.status_code == 403, response.text
        assert "refused" in response.json()["detail"]
    assert _live_enabled(base)

    # DNS rebinding: the browser sends the attacker's name as Host.
    for method, path in (("GET", "/bars/SPY"), ("GET", "/logs"), ("POST", "/agents/live/stop")):
        response = httpx.request(method, f"{base}{path}", headers={"Host": f"rebind.evil:{port}"})
        assert response.status_code == 400, response.text
        assert "STOCKDB_ALLOWED_HOSTS" in response.json()["detail"]
    assert _live_enabled(base)

    # The documented quickstart, by the real curl binary with the localhost name.
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]
        + [f"http://localhost:{port}/ingest/SPY"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout == "202", done.stderr
    # A same-origin browser POST (the page served by the API itself) still goes through.
    same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    assert httpx.post(f"{base}/agents/live/stop", headers=same).status_code == 200
    assert not _live_enabled(base)


def test_token_mode_guards_every_route_but_health(serve: Callable[[dict[str, str]], str]) -> None:
    base = serve({"STOCKDB_API_TOKEN": TOKEN, "STOCKDB_ALLOWED_HOSTS": "api,stockdb.lan"})
    port = base.rsplit(":", 1)[1]
    assert httpx.get(f"{base}/health").status_code == 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/bars/SPY?limit=1", "/symbols", "/jobs", "/logs", "/agents", "/openapi.json"):
        response = httpx.get(f"{base}{path}")
        assert response.status_code == 401, path
        assert response.json() == {"detail": "missing or wrong bearer token"}
        assert response.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{base}{path}", headers=auth).status_code != 401, path
    # STOCKDB_ALLOWED_HOSTS widens the list (the compose dashboard calls http://api:8000).
    for host in (f"api:{port}", "stockdb.lan"):
        assert httpx.get(f"{base}/jobs", headers={**auth, "Host": host}).status_code == 200
    assert httpx.get(f"{base}/jobs", headers={**auth, "Host": "evil.example"}).status_code == 400
    # A cross-site page cannot use the token the browser does not have, nor with it.
    stolen = httpx.post(f"{base}/agents/live/stop", headers={**auth, **EVIL})
    assert stolen.status_code == 403
    # The dashboard's server-side client, given the token, reads and mutates as before.
    with ApiClient(base, token=TOKEN) as client:
        assert client.request("GET", "/symbols").status_code == 200
        assert client.request("POST", "/agents/live/stop").json()["enabled"] is False
    with ApiClient(base) as anonymous, pytest.raises(ApiError, match="bearer token"):
        anonymous.request("GET", "/symbols")
