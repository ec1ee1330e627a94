"""Simulation results through the store from every entry point: the REST API, the CLI and
the Python client read the same curve and fills, and delete through it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.cli.main import main
from stockdb.client import StockDB
from stockdb.simulation.store import SimulationRecord
from stockdb.training.requests import simulation_request

with warnings.catch_warnings():  # starlette warns at import when httpx2 is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_api_serves_the_stored_curve_and_fills(app: App, simulated: SimulationRecord) -> None:
    # the reference is the Parquet file itself, read here and thinned by a plain rule
    curve = pq.read_table(simulated.equity_path)
    fills = pq.read_table(simulated.trades_path)
    assert curve.num_rows > 50 and fills.num_rows > 0
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        body = client.get(f"/simulations/{simulated.id}", params={"points": 50}).json()
        keep = np.unique(np.linspace(0, curve.num_rows - 1, 50).astype(np.int64))
        assert body["equity"]["equity"] == curve.column("equity").take(keep).to_pylist()
        assert body["trades"]["price"] == fills.column("price").to_pylist()
        assert "equity_path" not in body and body["warnings"] == []
        listed = client.get("/simulations").json()
        assert [s["id"] for s in listed] == [simulated.id] and "equity" not in listed[0]


def test_python_client_reads_through_the_store(app: App, simulated: SimulationRecord) -> None:
    db = StockDB(app=app)
    equity = db.simulation_equity(simulated.id)
    assert equity.equals(pq.read_table(simulated.equity_path).to_pandas())
    assert db.simulation_trades(simulated.id).equals(
        pq.read_table(simulated.trades_path).to_pandas()
    )


def test_cli_show_prints_the_last_fills(
    simulated: SimulationRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    sides = pq.read_table(simulated.trades_path).column("side").to_pylist()
    for last in (1, 3, len(sides) + 5):
        assert main(["simulations", "show", simulated.id, "--trades", str(last)]) == 0
        out, err = capsys.readouterr()
        shown = [w for line in out.splitlines() for w in line.split() if w in ("buy", "sell")]
        assert shown == sides[-last:], err
    assert main(["simulations", "show", simulated.id, "--trades", "-1"]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_delete_through_api_and_cli(
    app: App, simulated: SimulationRecord, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(simulated.equity_path).parent
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        assert client.delete(f"/simulations/{simulated.id}").status_code == 204
        assert not folder.exists()
        gone = client.get(f"/simulations/{simulated.id}")
        assert gone.status_code == 404 and simulated.id in gone.json()["detail"]
        again = client.delete(f"/simulations/{simulated.id}")
        assert again.status_code == 404 and isinstance(again.json()["detail"], str)
    model_id = simulated.model_id
    second = app.simulation.simulate(simulation_request({"model_id": model_id}))
    assert main(["simulations", "delete", second.id]) == 0
    out, _ = capsys.readouterr()
    assert f"deleted simulation {second.id}" in out
    assert app.simulation.store.list() == [] and not Path(second.equity_path).parent.exists()
    assert main(["simulations", "delete", second.id]) == 3
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "no simulation" in err
