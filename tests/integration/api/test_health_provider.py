"""/health says where bars come from: the provider and its feed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockdb.api import create_app
from stockdb.app import App


def test_health_reports_synthetic_without_keys(client: Any) -> None:
    body = client.get("/health").json()
    assert (body["provider"], body["feed"]) == ("synthetic", "synthetic")


def test_health_reports_alpaca_and_its_feed_with_keys(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.settings, "alpaca_key_id", _secret("AKTESTKEY123"))
    monkeypatch.setattr(app.settings, "alpaca_secret_key", _secret("sEcReTvAlUe456"))
    monkeypatch.setattr(app.settings, "alpaca_feed", "sip")
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        answer = client.get("/health")
    assert (answer.json()["provider"], answer.json()["feed"]) == ("alpaca", "sip")
    assert "AKTESTKEY123" not in answer.text and "sEcReTvAlUe456" not in answer.text


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)
