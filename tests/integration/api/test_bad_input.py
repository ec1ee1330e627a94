"""Hostile and malformed requests: each gets a 4xx JSON detail and changes nothing on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stockdb.app import App

from ...conftest import snapshot  # type: ignore[import-not-found]

BAD_GETS = [
    "/bars/..%2F..%2Fetc",
    "/bars/..%2F..%2Fetc%2Fpasswd?limit=5",
    "/bars/%2E%2E",
    "/bars/SPY%2F..%2F..",
    "/bars/SPY;DROP TABLE coverage",
    "/bars/SPY' OR '1'='1",
    "/bars/1SPY",
    "/bars/TOOLONGSYMBOL",
    "/bars/A..B",
    "/bars/SPY?limit=0",
    "/bars/SPY?limit=-5",
    "/bars/SPY?limit=1000001",
    "/bars/SPY?limit=99999999999999999999999",
    "/bars/SPY?limit=five",
    "/bars/SPY?timeframe=7Min",
    "/bars/SPY?timeframe=1Min;DROP TABLE x",
    "/bars/SPY?start=2024-13-01",
    "/bars/SPY?start=yesterday",
    "/bars/SPY?start=2024-03-05T14:30:00",
    "/bars/SPY?start=2024-03-08&end=2024-03-04",
    "/bars/SPY?session=overnight",
    "/bars/SPY?format=xlsx",
    "/symbols/..%2Fx/gaps",
    "/symbols/SPY/gaps?start=1999-01-01",
    "/symbols/SPY/gaps?start=2024-03-08&end=2024-03-01",
    "/symbols/SPY/gaps?end=not-a-date",
    "/jobs?limit=100000",
    "/jobs?status=exploded",
    "/jobs/' OR 1=1 --",
    "/logs?limit=0",
    "/logs?level=LOUD",
    "/logs?since=last tuesday",
    "/logs?symbol=../../etc",
    "/features/..%2F..%2Fetc",
    "/features/SPY?start=2024-02-30",
]

BAD_POSTS = [
    "/ingest/..%2F..%2Fetc",
    "/ingest/SPY;rm -rf",
    "/ingest/SPY?start=2024-03-08&end=2024-03-01",
    "/ingest/SPY?start=bad",
    "/ingest/SPY?start=1990-01-01&end=1990-02-01",
    "/ingest/SPY?provider=nasdaq",
    "/ingest/SPY?provider=alpaca",
    "/ingest/SPY?start=2024-03-09&end=2024-03-10",
    "/agents/../stop",
    "/agents/evil/stop",
    "/agents/evil/start",
]


@pytest.fixture
def before(seeded: App, client: Any) -> tuple[Path, dict[str, str]]:
    client.get("/health")  # the state store and queue exist before the snapshot
    client.get("/agents")
    root = seeded.settings.data_dir
    return root, _files(root)


def _files(root: Path) -> dict[str, str]:
    # SQLite's WAL/SHM side files change on reads; the database content is compared instead.
    return {k: v for k, v in snapshot(root).items() if not k.endswith(("-wal", "-shm"))}


def _assert_error(response: Any, url: str = "") -> None:
    assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in body["detail"]


def test_bad_gets_are_4xx_and_change_nothing(
    before: tuple[Path, dict[str, str]], client: Any
) -> None:
    root, files = before
    for url in BAD_GETS:
        _assert_error(client.get(url), url)
    assert _files(root) == files
    assert client.get("/jobs").json() == []


def test_bad_posts_are_4xx_queue_nothing_and_change_no_file(
    before: tuple[Path, dict[str, str]], client: Any
) -> None:
    root, files = before
    for url in BAD_POSTS:
        _assert_error(client.post(url), url)
    assert client.get("/jobs").json() == []
    assert all(a["enabled"] for a in client.get("/agents").json()["agents"])
    assert _files(root) == files


def test_bad_feature_rebuild_bodies(before: tuple[Path, dict[str, str]], client: Any) -> None:
    for body in (
        {"symbols": ["../../etc"]},
        {"symbols": ["SPY", "DROP TABLE"]},
        {"symbols": "SPY"},
        {"symbols": ["QQQ"]},
        {"full": "maybe"},
        {"symbols": ["SPY"], "unexpected": 1},
    ):
        _assert_error(client.post("/features/rebuild", json=body))
    assert client.get("/jobs").json() == []


def test_detail_names_the_bad_parameter(seeded: App, client: Any) -> None:
    assert client.get("/bars/SPY?limit=0").json() == {
        "detail": "limit: Input should be greater than or equal to 1"
    }
    detail = client.get("/bars/SPY?timeframe=7Min").json()["detail"]
    assert detail.startswith("unknown timeframe '7Min'")
    detail = client.get("/bars/..%2Fetc").json()["detail"]
    assert detail == "Not Found" or detail.startswith("invalid symbol")


def test_unexpected_errors_are_a_generic_500(
    seeded: App, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("secret path /home/user/.env leaked")

    monkeypatch.setattr(seeded.reader, "bars", boom)
    client = make_client(raise_server_exceptions=False)
    response = client.get("/bars/SPY?limit=5")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error; see the server log"}
