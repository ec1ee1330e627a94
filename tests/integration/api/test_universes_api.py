"""GET /bars?symbols=, GET /features?symbols= and /universes over the real FastAPI app (and
the fake Alpaca's assets list for ``from_alpaca``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from stockdb.api import create_app
from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.lake.reader import BarQuery
from stockdb.testing.fake_alpaca import FakeAlpacaServer
from stockdb.testing.fake_alpaca_assets import DEFAULT_TRADABLE

from .conftest import SEEDED

DAYS = (date.fromisoformat(SEEDED[0]), date.fromisoformat(SEEDED[1]))


@pytest.fixture
def two(seeded: App) -> App:
    source = seeded.provider("synthetic")
    try:
        seeded.backfill.run(["QQQ"], *DAYS, source)
    finally:
        source.close()
    return seeded


def test_bars_of_several_symbols_in_every_format(two: App, client: Any) -> None:
    single = {s: two.reader.bars(BarQuery.parse(s, "1Day")) for s in ("QQQ", "SPY")}
    want = pa.concat_tables([single["QQQ"], single["SPY"]]).to_pandas()
    rows = client.get("/bars?symbols=qqq,SPY&timeframe=1Day").json()
    assert [r["symbol"] for r in rows] == ["QQQ"] * 5 + ["SPY"] * 5
    assert [r["close"] for r in rows] == want["close"].tolist()
    csv = client.get("/bars?symbols=QQQ,SPY&timeframe=1Day&format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(csv.text))
    assert frame["symbol"].tolist() == want["symbol"].tolist()
    assert frame["volume"].tolist() == want["volume"].tolist()
    body = client.get("/bars?symbols=QQQ,SPY&timeframe=1Day&format=parquet")
    assert body.headers["content-type"] == "application/vnd.apache.parquet"
    assert pq.read_table(io.BytesIO(body.content)).to_pandas().equals(want)
    limited = client.get("/bars?symbols=SPY,QQQ&limit=3").json()
    assert [r["symbol"] for r in limited] == ["SPY"] * 3 + ["QQQ"] * 3
    alone = client.get("/bars/SPY?limit=3").json()
    assert [{k: v for k, v in r.items() if k != "symbol"} for r in limited[:3]] == alone


def test_bad_lists_are_one_422_or_404_naming_them_all(two: App, client: Any) -> None:
    bad = client.get("/bars?symbols=SPY,a%20b,../x&timeframe=1Day")
    assert bad.status_code == 422
    assert "'a b'" in bad.json()["detail"] and "'../x'" in bad.json()["detail"]
    missing = client.get("/bars?symbols=SPY,IWM,DIA")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no bars stored for IWM, DIA"
    assert client.get("/bars").status_code == 422
    assert client.get("/bars?universe=ghost").status_code == 404
    assert client.get("/bars?symbols=SPY&timeframe=7Min").status_code == 422


def test_universe_crud_and_reads(two: App, client: Any) -> None:
    created = client.post("/universes", json={"name": "pair", "symbols": ["spy", "QQQ"]})
    assert created.status_code == 201 and created.headers["location"] == "/universes/pair"
    assert created.json()["symbols"] == ["SPY", "QQQ"] and created.json()["count"] == 2
    assert client.post("/universes", json={"name": "pair", "symbols": ["X"]}).status_code == 409
    assert client.post("/universes", json={"name": "x y", "symbols": ["X"]}).status_code == 422
    bad = client.post("/universes", json={"name": "x", "symbols": ["OK", "no way", "1A"]})
    assert bad.status_code == 422 and "'no way', '1A'" in bad.json()["detail"]
    assert [u["name"] for u in client.get("/universes").json()] == ["pair"]

    added = client.post("/universes/pair/symbols", json={"symbols": ["IWM"]})
    assert added.json()["symbols"] == ["SPY", "QQQ", "IWM"]
    gone = client.get("/bars?universe=pair&timeframe=1Day")
    assert gone.status_code == 404 and gone.json()["detail"] == "no bars stored for IWM"
    refused = client.delete("/universes/pair/symbols?symbols=IWM,DIA")
    assert refused.status_code == 422 and refused.json()["detail"].endswith("DIA")
    assert client.get("/universes/pair").json()["symbols"] == ["SPY", "QQQ", "IWM"]
    kept = client.delete("/universes/pair/symbols?symbols=IWM").json()
    assert kept["symbols"] == ["SPY", "QQQ"]

    by_universe = client.get("/bars?universe=pair&timeframe=1Day").json()
    by_list = client.get("/bars?symbols=SPY,QQQ&timeframe=1Day").json()
    assert by_universe == by_list

    job = client.post("/universes/pair/ingest?start=2024-03-11&end=2024-03-11")
    assert job.status_code == 202
    assert job.json()["kind"] == "ingest" and job.json()["params"]["symbols"] == ["SPY", "QQQ"]
    rebuild = client.post("/universes/pair/features/rebuild?timeframe=1Day")
    assert rebuild.status_code == 202 and rebuild.json()["params"]["symbols"] == ["SPY", "QQQ"]

    assert client.delete("/universes/pair").status_code == 204
    assert client.get("/universes/pair").status_code == 404
    assert client.delete("/universes/pair").status_code == 404


def test_features_of_several_symbols(two: App, client: Any) -> None:
    two.features.build(["SPY", "QQQ"])
    rows = client.get("/features?symbols=SPY,QQQ&start=2024-03-05&end=2024-03-05").json()
    spy = client.get("/features/SPY?start=2024-03-05&end=2024-03-05").json()
    qqq = client.get("/features/QQQ?start=2024-03-05&end=2024-03-05").json()
    assert rows == [{"symbol": "SPY", **r} for r in spy] + [{"symbol": "QQQ", **r} for r in qqq]
    parquet = client.get("/features?symbols=QQQ&columns=sma_5&limit=2&format=parquet")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column_names == ["symbol", "ts", "sma_5"] and table.num_rows == 2
    assert "set_hash" in client.get("/features").json()  # no symbols: the overview as before
    assert (
        client.get("/features?symbols=SPY,IWM")
        .json()["detail"]
        .startswith("no features stored for IWM")
    )


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar) as server:
        yield server


def test_universe_from_alpaca(
    fake: FakeAlpacaServer, calendar: TradingCalendar, tmp_path: Any
) -> None:
    app = App(fake.settings(data_dir=tmp_path / "data"))
    app.__dict__["calendar"] = calendar
    try:
        with TestClient(create_app(app=app, run_runtime=False)) as client:
            body = client.post("/universes", json={"name": "us", "from_alpaca": True}).json()
            assert body["source"] == "alpaca"
            assert body["symbols"] == sorted(DEFAULT_TRADABLE)
            fake.faults.server_error(count=1, status=503)
            failed = client.post("/universes", json={"name": "b", "from_alpaca": True})
            assert failed.status_code == 503 and "Alpaca assets" in failed.json()["detail"]
            assert [u["name"] for u in client.get("/universes").json()] == ["us"]
    finally:
        app.close()
