"""The access policy as a pure function: Host names, cross-origin mutations, the token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from stockdb.api.security import AccessPolicy, bearer_token, cross_origin_reason, host_name
from stockdb.config import Settings


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8000", "localhost"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("localhost.:8000", "localhost"),
        ("", None),
        ("evil.example:abc", None),
        ("[::1", None),
        ("[::1]x", None),
        ("user@localhost", None),
        ("localhost/x", None),
    ],
)
def test_host_name(header: str, name: str | None) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "host",
    [
        "localhost:8000",
        "127.0.0.1:8000",
        "[::1]:8000",
        "testserver",
        "app.localhost:8000",
        "192.168.1.20:8000",
        "[fe80::1]:8000",
    ],
)
def test_local_names_and_ip_literals_are_served(host: str) -> None:
    assert AccessPolicy.build().host_allowed(host)


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io", ""]
)
def test_other_names_are_refused_unless_listed(host: str) -> None:
    assert not AccessPolicy.build().host_allowed(host)
    refused = AccessPolicy.build().refusal("GET", "/bars/SPY", {"host": host})
    assert refused is not None and refused[0] == 400


def test_allowed_hosts_come_from_settings() -> None:
    settings = Settings(allowed_hosts=" api , Stockdb.LAN. ,")
    assert settings.allowed_host_names == ("api", "Stockdb.LAN.")
    policy = AccessPolicy.from_settings(settings)
    assert policy.host_allowed("api:8000") and policy.host_allowed("stockdb.lan")
    assert not policy.host_allowed("evil.example")
    assert AccessPolicy.from_settings(Settings(allowed_hosts="*")).host_allowed("evil.example")


HOST = {"host": "localhost:8000"}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://localhost:8501"},
        {"origin": "http://localhost:8501"},
        {"origin": "null"},
        {"origin": "https://localhost:8000"},
        {"origin": "file://"},
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_cross_origin_mutations_are_refused(method: str, headers: dict[str, str]) -> None:
    refused = AccessPolicy.build().refusal(method, "/agents/live/stop", {**HOST, **headers})
    assert refused is not None and refused[0] == 403
    assert "refused" in refused[1]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, httpx, the dashboard's server-side calls
        {"origin": "http://localhost:8000", "sec-fetch-site": "same-origin"},
        {"origin": "http://LOCALHOST:8000"},
        {"sec-fetch-site": "none"},
    ],
)
def test_same_origin_and_non_browser_mutations_pass(headers: dict[str, str]) -> None:
    assert AccessPolicy.build().refusal("POST", "/ingest/SPY", {**HOST, **headers}) is None


def test_default_ports_match_an_origin_without_one() -> None:
    assert (
        cross_origin_reason("POST", {"host": "localhost:80", "origin": "http://localhost"}) is None
    )
    assert (
        cross_origin_reason("POST", {"host": "localhost", "origin": "http://localhost:80"}) is None
    )


def test_reads_from_another_origin_are_left_to_the_browser() -> None:
    headers = {**HOST, "origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    assert AccessPolicy.build().refusal("GET", "/bars/SPY", headers) is None


def test_the_token_guards_every_path_but_health() -> None:
    settings = Settings(api_token=SecretStr("t0k"))
    policy = AccessPolicy.from_settings(settings)
    assert policy.refusal("GET", "/health", HOST) is None
    for path in ("/bars/SPY", "/logs", "/docs", "/openapi.json", "/metrics", "/health/x"):
        assert policy.refusal("GET", path, HOST) == (401, "missing or wrong bearer token")
        assert policy.refusal("GET", path, {**HOST, "authorization": "Bearer t0k"}) is None
        assert policy.refusal("GET", path, {**HOST, "authorization": "bearer t0k"}) is None
        assert policy.refusal("GET", path, {**HOST, "authorization": "Basic t0k"}) is not None
    assert AccessPolicy.from_settings(Settings()).refusal("GET", "/logs", HOST) is None


def test_bearer_token() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Bearer "}) is None
    assert bearer_token({"authorization": "abc"}) is None
    assert bearer_token({}) is None
