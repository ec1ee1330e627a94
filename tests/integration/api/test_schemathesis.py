"""Schemathesis over /openapi.json of a live uvicorn server: no 5xx, every answer conforms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stockdb.api import create_app
from stockdb.app import App
from stockdb.config import Settings

from .conftest import live_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    config = Settings(
        data_dir=Path(data),
        alpaca_key_id=None,
        alpaca_secret_key=None,
        api_token=None,
        queue_url=None,
        state_url=None,
    )
    app = App(config)
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY"], date(2024, 3, 4), date(2024, 3, 6), source)
    finally:
        source.close()
    try:
        with live_server(create_app(app=app, run_runtime=False)) as url:
            yield url
    finally:
        app.close()


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


OPERATIONS = [
    ("GET", "/bars/{symbol}"),
    ("GET", "/bars"),
    ("GET", "/symbols"),
    ("GET", "/symbols/{symbol}/gaps"),
    ("GET", "/coverage/months"),
    ("POST", "/track"),
    ("GET", "/symbols/{symbol}/actions"),
    ("POST", "/ingest/{symbol}"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("DELETE", "/jobs/{job_id}"),
    ("GET", "/agents"),
    ("POST", "/agents/{name}/start"),
    ("POST", "/agents/{name}/stop"),
    ("GET", "/logs"),
    ("GET", "/features"),
    ("GET", "/features/{symbol}"),
    ("POST", "/features/rebuild"),
    ("POST", "/train"),
    ("GET", "/models"),
    ("GET", "/models/{model_id}"),
    ("DELETE", "/models/{model_id}"),
    ("POST", "/simulate"),
    ("POST", "/verify"),
    ("POST", "/rollups/rebuild"),
    ("GET", "/simulations"),
    ("GET", "/simulations/{simulation_id}"),
    ("DELETE", "/simulations/{simulation_id}"),
    ("GET", "/simulations/{simulation_id}/report"),
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/universes"),
    ("POST", "/universes"),
    ("GET", "/universes/{name}"),
    ("DELETE", "/universes/{name}"),
    ("POST", "/universes/{name}/symbols"),
    ("DELETE", "/universes/{name}/symbols"),
    ("POST", "/universes/{name}/ingest"),
    ("POST", "/universes/{name}/features/rebuild"),
]


def test_the_list_covers_every_operation(api_schema: Any) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_conforms(api_schema: Any, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


def test_zz_every_operation_really_was_exercised(api_url: str) -> None:
    """Runs last in this module: the server counted requests on every route template."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[tuple[str, str], int] = {}
    for family in text_string_to_metric_families(httpx.get(f"{api_url}/metrics").text):
        for sample in family.samples:
            if sample.name == "stockdb_http_requests_total":
                key = (sample.labels["method"], sample.labels["route"])
                seen[key] = seen.get(key, 0) + int(sample.value)
    for operation in OPERATIONS:
        assert seen.get(operation, 0) >= 1, operation
    assert seen[("GET", "/bars/{symbol}")] >= 20
