"""STOCKDB_API_TOKEN: off, every request works; on, every route but /health needs the token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from stockdb.app import App

MUTATIONS = [
    ("post", "/ingest/SPY?start=2024-03-04&end=2024-03-05"),
    ("delete", "/jobs/0123456789abcdef0123456789abcdef"),
    ("post", "/agents/live/stop"),
    ("post", "/agents/live/start"),
    ("post", "/features/rebuild"),
]
TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def guarded(seeded: App, make_client: Callable[..., Any]) -> Any:
    seeded.settings = seeded.settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    return make_client()


def test_without_a_configured_token_mutations_need_no_header(seeded: App, client: Any) -> None:
    response = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-05")
    assert response.status_code == 202
    assert client.post("/agents/live/stop").json()["enabled"] is False


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
)
def test_mutations_without_the_right_token_are_401_and_do_nothing(
    guarded: Any, headers: dict[str, str]
) -> None:
    for method, url in MUTATIONS:
        response = getattr(guarded, method)(url, headers=headers)
        assert response.status_code == 401, (url, response.text)
        assert response.json() == {"detail": "missing or wrong bearer token"}
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/jobs", headers=auth).json() == []
    assert all(a["enabled"] for a in guarded.get("/agents", headers=auth).json()["agents"])


def test_the_right_token_is_accepted(guarded: Any) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = guarded.post("/ingest/SPY?start=2024-03-04&end=2024-03-05", headers=auth)
    assert created.status_code == 202
    stopped = guarded.post("/agents/live/stop", headers=auth)
    assert stopped.json() == {"name": "live", "enabled": False, "dispatched": 0}
    cancelled = guarded.delete(f"/jobs/{created.json()['id']}", headers=auth)
    assert cancelled.json()["status"] == "cancelled"


READS = ("/bars/SPY?limit=1", "/symbols", "/jobs", "/agents", "/logs", "/metrics", "/models")


def test_reads_need_the_token_too_except_health(guarded: Any) -> None:
    assert guarded.get("/health").status_code == 200
    for url in (*READS, "/openapi.json", "/docs"):
        response = guarded.get(url)
        assert response.status_code == 401, url
        assert response.json() == {"detail": "missing or wrong bearer token"}
        wrong = guarded.get(url, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401, url
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for url in READS:
        assert guarded.get(url, headers=auth).status_code == 200, url


def test_openapi_declares_bearer_security_on_every_route_but_health(guarded: Any) -> None:
    spec = guarded.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" in spec["paths"]["/ingest/{symbol}"]["post"]
    assert "security" in spec["paths"]["/jobs/{job_id}"]["delete"]
    assert "security" in spec["paths"]["/bars/{symbol}"]["get"]
    assert "security" in spec["paths"]["/logs"]["get"]
    assert "security" not in spec["paths"]["/health"]["get"]
