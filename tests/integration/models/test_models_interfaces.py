"""Training and simulation through the CLI and the REST API, as jobs, on real storage."""

from __future__ import annotations

import warnings
from datetime import date
from typing import Any

import pyarrow.parquet as pq
import pytest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.cli.main import main
from stockdb.jobs.service import JobService

from ...conftest import snapshot  # type: ignore[import-not-found]

with warnings.catch_warnings():  # starlette warns at import when httpx2 is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def featured(app: App) -> App:
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY", "QQQ"], date(2024, 3, 4), date(2024, 3, 15), source)
    finally:
        source.close()
    app.features.build(["SPY", "QQQ"])
    return app


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_simulate_and_list(featured: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "train",
        "--tickers",
        "SPY,QQQ",
        "--model",
        "ridge",
        "--target",
        "return",
        "--features",
        "close*,rsi_14*,log_ret_*",
    )
    assert code == 0, err
    model_id = out.split("model ", 1)[1].split()[0]
    record = featured.training.get(model_id)
    assert (
        record.tickers == ("SPY", "QQQ") and record.feature_set_hash == featured.features.set_hash
    )
    assert set(record.features) >= {"close", "rsi_14", "close_QQQ", "rsi_14_QQQ", "log_ret_1_QQQ"}
    assert "test.rmse" in out
    code, out, err = run(capsys, "models", "list")
    assert code == 0 and model_id in out
    overlapping = ("simulate", "--model", model_id, "--start", "2024-03-05", "--end", "2024-03-15")
    before = snapshot(featured.settings.data_dir)
    code, out, err = run(capsys, *overlapping)  # 03-05 lies in the training rows: refused
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--in-sample" in err
    assert "Traceback" not in err and snapshot(featured.settings.data_dir) == before
    code, out, err = run(
        capsys, *overlapping, "--in-sample", "--fee-bps", "2", "--fill", "next_open"
    )
    assert code == 0, err
    assert "overlaps the model's training window" in err  # allowed, and the warning stays
    assert "daily returns" in out  # how the figures are annualised is printed
    code, out, err = run(capsys, "simulate", "--model", model_id)
    assert code == 0 and "overlaps" not in err  # out of sample by default: no warning
    sim = featured.simulation.list(model_id)[0]
    oos = sim.params["out_of_sample_from"]
    assert sim.params["start"] == oos and not sim.overlaps_training
    assert sim.params["first_ts"] > record.windows["train"]["end"] and oos > "2024-03-05"
    equity = pq.read_table(sim.equity_path)
    assert equity.column_names == [
        "ts",
        "close",
        "prediction",
        "signal",
        "shares",
        "cash",
        "equity",
        "benchmark_equity",
    ]
    assert equity.column("equity")[-1].as_py() == pytest.approx(sim.metrics["final_equity"])
    code, out, _ = run(capsys, "simulations", "show", sim.id)
    assert code == 0 and "buy_and_hold" in out


@pytest.mark.parametrize(
    ("argv", "needle", "code"),
    [
        (("train", "--tickers", "SPY", "--model", "xgboost"), "unknown model", 2),
        (("train", "--tickers", "SPY,ZZZZ"), "ZZZZ", 3),
        (("train", "--tickers", "SPY", "--horizon", "0"), "horizon", 2),
        (("train", "--tickers", "SPY", "--features", "nope_*"), "nope_*", 2),
        (("train", "--tickers", "SPY", "--params", "{bad"), "--params", 2),
        (("simulate", "--model", "nope"), "no model", 3),
        (("simulate", "--model", "../../etc"), "model", 2),
        (("models", "show", "nope"), "no model", 3),
    ],
)
def test_cli_bad_input(
    featured: App,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    needle: str,
    code: int,
) -> None:
    before = snapshot(featured.settings.data_dir)
    got, _, err = run(capsys, *argv)
    assert got == code, err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert snapshot(featured.settings.data_dir) == before


def test_api_train_and_simulate_as_jobs(featured: App) -> None:
    jobs = JobService(featured)
    with TestClient(create_app(app=featured, run_runtime=False)) as client:
        body = {"tickers": ["SPY", "QQQ"], "model": "logistic_regression", "horizon": 2}
        first = client.post("/train", json=body)
        again = client.post("/train", json=body)
        assert first.status_code == 202 and again.json()["id"] == first.json()["id"]
        assert first.headers["location"] == f"/jobs/{first.json()['id']}"
        jobs.execute(first.json()["id"])
        job = client.get(f"/jobs/{first.json()['id']}").json()
        assert job["status"] == "succeeded", job
        model_id = job["result"]["model_id"]
        model = client.get(f"/models/{model_id}").json()
        assert model["tickers"] == ["SPY", "QQQ"] and model["horizon"] == 2
        assert model["metrics"]["test"]["accuracy"] is not None
        assert [m["id"] for m in client.get("/models").json()] == [model_id]

        sim_job = client.post("/simulate", json={"model_id": model_id, "cash": 5000})
        assert sim_job.status_code == 202
        jobs.execute(sim_job.json()["id"])
        result = client.get(f"/jobs/{sim_job.json()['id']}").json()["result"]
        sim: dict[str, Any] = client.get(f"/simulations/{result['simulation_id']}").json()
        assert sim["overlaps_training"] is False and sim["warnings"] == []  # out of sample
        assert sim["params"]["out_of_sample_from"] == sim["params"]["start"]
        overlap = {"model_id": model_id, "start": "2024-03-04"}
        refused = client.post("/simulate", json=overlap)
        assert refused.status_code == 422 and "in_sample" in refused.json()["detail"]
        allowed = client.post("/simulate", json={**overlap, "in_sample": True})
        assert allowed.status_code == 202
        jobs.execute(allowed.json()["id"])
        ins = client.get(f"/jobs/{allowed.json()['id']}").json()["result"]["simulation_id"]
        in_sample = client.get(f"/simulations/{ins}", params={"points": 2}).json()
        assert in_sample["overlaps_training"] is True and in_sample["warnings"]
        equity = sim["equity"]
        assert equity["equity"][0] == pytest.approx(5000.0, abs=0.02 * 5000)
        assert equity["equity"][-1] == pytest.approx(sim["metrics"]["final_equity"])
        assert set(sim["trades"]) == {"ts", "side", "price", "shares", "fee", "cash_after"}
        thin = client.get(f"/simulations/{sim['id']}", params={"points": 10}).json()
        assert len(thin["equity"]["ts"]) == 10
        assert thin["equity"]["ts"][-1] == equity["ts"][-1]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/train", {"tickers": []}, 422),
        ("post", "/train", {"tickers": ["SPY"], "model": "xgboost"}, 422),
        ("post", "/train", {"tickers": ["SPY", "ZZZZ"]}, 404),
        ("post", "/train", {"tickers": ["../x"]}, 422),
        ("post", "/train", {"tickers": ["SPY"], "start": "2024-03-10", "end": "2024-03-01"}, 422),
        ("post", "/simulate", {"model_id": "nope"}, 404),
        ("post", "/simulate", {"model_id": "x", "fill": "open"}, 422),
        ("get", "/models/nope", None, 404),
        ("get", "/simulations/nope", None, 404),
        ("delete", "/models/nope", None, 404),
    ],
)
def test_api_bad_input(featured: App, method: str, path: str, body: Any, status: int) -> None:
    before = snapshot(featured.settings.data_dir / "models")
    with TestClient(create_app(app=featured, run_runtime=False)) as client:
        response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
        assert response.status_code == status, response.text
        assert isinstance(response.json()["detail"], str)
        assert client.get("/jobs").json() == []
    assert snapshot(featured.settings.data_dir / "models") == before


def test_python_api_features_train_simulate(featured: App) -> None:
    import stockdb

    with stockdb.open(featured.settings.data_dir) as db:
        frame = db.features("SPY", start="2024-03-11", end="2024-03-11", columns=["sma_20"])
        assert list(frame.columns) == ["ts", "sma_20"] and len(frame) > 0
        stored = pq.read_table(
            featured.settings.features_dir / "SPY" / "dt=2024-03-11" / "features.parquet"
        )
        assert frame["sma_20"].tolist() == pytest.approx(
            stored.column("sma_20").to_pylist(), nan_ok=True
        )
        record = db.train(["SPY"], model="ridge", target="return")
        assert list(db.models()["id"]) == [record.id]
        sim = db.simulate(record.id, start="2024-03-14", cash=1000)
        assert sim.metrics["initial_cash"] == 1000
