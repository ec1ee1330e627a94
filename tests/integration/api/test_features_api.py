"""GET /features, GET /features/{symbol} and POST /features/rebuild over the feature service."""

from __future__ import annotations

import io
import math
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.features.service import FeatureService


@pytest.fixture
def built(seeded: App) -> FeatureService:
    service = seeded.feature_service()
    service.build(["SPY"])
    return service


def test_overview_lists_definitions_versions_and_builds(built: FeatureService, client: Any) -> None:
    body = client.get("/features").json()
    assert body["set_hash"] == built.set_hash
    names = {d["name"]: d for d in body["definitions"]}
    assert names["rsi_14"]["version"] >= 1 and names["rsi_14"]["params"] == {"period": 14}
    assert names["sma_5"]["columns"] == ["sma_5"]
    assert [b["symbol"] for b in body["builds"]] == ["SPY"]
    stored = sorted((built.settings.features_dir / "SPY").glob("dt=*/features.parquet"))
    assert body["builds"][0]["rows"] == sum(pq.read_metadata(f).num_rows for f in stored)
    assert client.get("/features?builds=0").json()["builds"] == []


def test_feature_rows_match_the_store(built: FeatureService, client: Any) -> None:
    response = client.get("/features/SPY?start=2024-03-05&end=2024-03-05&columns=sma_5,rsi_14")
    assert response.status_code == 200
    rows = response.json()
    day = date(2024, 3, 5)
    expected = built.read("SPY", day, day, ["sma_5", "rsi_14"])
    assert len(rows) == len(expected)
    assert set(rows[0]) == {"ts", "sma_5", "rsi_14"}
    for got, want in zip(rows, expected.itertuples(index=False), strict=True):
        assert got["ts"] == want.ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        for name in ("sma_5", "rsi_14"):
            value = getattr(want, name)
            assert (got[name] is None) if math.isnan(value) else got[name] == value
    parquet = client.get("/features/SPY?format=parquet&columns=sma_5")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column_names == ["ts", "sma_5"]
    assert table.num_rows == len(built.read("SPY", columns=["sma_5"]))
    limited = client.get("/features/SPY?limit=3&format=csv").text.strip().splitlines()
    assert len(limited) == 4


def test_feature_errors(built: FeatureService, client: Any) -> None:
    assert client.get("/features/QQQ").status_code == 404
    unknown = client.get("/features/SPY?columns=sma_5,not_a_feature")
    assert unknown.status_code == 422 and "not_a_feature" in unknown.json()["detail"]


def test_rebuild_queues_one_job_and_dedupes(built: FeatureService, client: Any) -> None:
    first = client.post("/features/rebuild", json={"symbols": ["spy"], "full": True})
    assert first.status_code == 202
    job = first.json()
    assert job["kind"] == "features" and job["params"] == {"symbols": ["SPY"], "full": True}
    assert (
        client.post("/features/rebuild", json={"symbols": ["SPY"], "full": True}).json()["id"]
        == job["id"]
    )
    everything = client.post("/features/rebuild").json()
    assert everything["params"] == {"symbols": [], "full": False}


def test_timeframe_rows_staleness_and_rebuild(built: FeatureService, client: Any) -> None:
    assert client.get("/features/SPY?timeframe=1Day").status_code == 404
    built.build(["SPY"], timeframe="1Day")
    rows = client.get("/features/SPY?timeframe=1Day&columns=close,sma_5").json()
    expected = built.read("SPY", columns=["close", "sma_5"], timeframe="1Day")
    assert [r["close"] for r in rows] == expected["close"].tolist()
    assert [r["ts"] for r in rows] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in expected["ts"]]
    bad = client.get("/features/SPY?timeframe=30Min")
    assert bad.status_code in (400, 422) and "1Day" in bad.json()["detail"]
    overview = client.get("/features").json()
    log_returns = next(d for d in overview["definitions"] if d["name"] == "log_returns")
    assert log_returns["warmups"] == {f"log_ret_{k}": k for k in range(1, 6)}
    job = client.post("/features/rebuild", json={"symbols": ["SPY"], "timeframe": "1h"}).json()
    assert job["params"] == {"symbols": ["SPY"], "full": False, "timeframe": "1Hour"}
    refused = client.post("/features/rebuild", json={"symbols": ["SPY"], "timeframe": "2Day"})
    assert refused.status_code in (400, 422) and "detail" in refused.json()
