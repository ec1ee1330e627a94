"""Panel training and multi-symbol simulation through the CLI and the REST API."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.cli.main import main
from stockdb.errors import InvalidInput
from stockdb.jobs.service import JobService
from stockdb.training.requests import train_request
from stockdb.usecases.universe import UniverseService

from ...conftest import snapshot  # type: ignore[import-not-found]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SYMBOLS = ("SPY", "QQQ", "IWM")


@pytest.fixture
def featured(app: App) -> App:
    source = app.provider("synthetic")
    try:
        app.backfill.run(list(SYMBOLS), date(2024, 3, 4), date(2024, 3, 15), source)
    finally:
        source.close()
    app.features.build(list(SYMBOLS))
    return app


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_panel_train_and_portfolio(featured: App, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "train", "--symbols", ",".join(SYMBOLS), "--panel", "--features", "rsi_14,symbol"
    )
    assert code == 0, err
    model_id = out.split("model ", 1)[1].split()[0]
    record = featured.training.get(model_id)
    assert record.tickers == SYMBOLS and record.windows["panel"] is True
    assert record.features == ("rsi_14", "symbol_is_SPY", "symbol_is_QQQ", "symbol_is_IWM")
    assert set(record.metrics["test_by_symbol"]) == set(SYMBOLS)
    code, out, err = run(capsys, "simulate", "--model", model_id, "--symbols", "SPY,QQQ,IWM")
    assert code == 0, err
    assert "equal-weight portfolio" in out and "buy_and_hold" in out
    runs = featured.simulation.list(model_id)
    assert sorted(r.symbol for r in runs) == sorted(SYMBOLS)
    assert all(r.params["cash"] == pytest.approx(10_000 / 3) for r in runs)


def test_cli_universe_trains_a_panel_and_simulates_every_member(
    featured: App, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "universe", "create", "trio", *SYMBOLS)
    assert code == 0, err
    code, out, err = run(capsys, "train", "--universe", "trio", "--panel")
    assert code == 0, err
    model_id = out.split("model ", 1)[1].split()[0]
    assert featured.training.get(model_id).tickers == SYMBOLS
    code, out, err = run(capsys, "simulate", "--model", model_id, "--universe", "trio")
    assert code == 0, err
    assert "equal-weight portfolio" in out
    assert sorted(r.symbol for r in featured.simulation.list(model_id)) == sorted(SYMBOLS)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("train", "--universe", "nosuch", "--panel"), "nosuch"),
        (("train", "--universe", "nosuch", "--tickers", "SPY"), "not --tickers"),
        (("simulate", "--model", "x", "--symbol", "SPY", "--universe", "u"), "either"),
        (("train", "--symbols", "SPY", "--panel"), "at least two"),
        (("train", "--tickers", "SPY", "--symbols", "QQQ"), "either"),
        (("train", "--symbols", "SPY,QQQ", "--panel", "--walk-forward", "3"), "walk-forward"),
        (("simulate", "--model", "nope", "--symbols", "SPY,QQQ"), "no model"),
        (("simulate", "--model", "x", "--symbol", "SPY", "--symbols", "QQQ"), "either"),
    ],
)
def test_cli_panel_bad_input(
    featured: App, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str
) -> None:
    before = snapshot(featured.settings.data_dir)
    code, _, err = run(capsys, *argv)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert snapshot(featured.settings.data_dir) == before


def test_api_panel_train_job(featured: App) -> None:
    jobs = JobService(featured)
    with TestClient(create_app(app=featured, run_runtime=False)) as client:
        body = {"tickers": list(SYMBOLS), "panel": True, "features": ["rsi_14", "symbol"]}
        job = client.post("/train", json=body)
        assert job.status_code == 202, job.text
        jobs.execute(job.json()["id"])
        done = client.get(f"/jobs/{job.json()['id']}").json()
        assert done["status"] == "succeeded", done
        model = client.get(f"/models/{done['result']['model_id']}").json()
        assert model["windows"]["panel"] is True and model["tickers"] == list(SYMBOLS)
        eleven = [f"S{i:02d}" for i in range(11)]
        refused = client.post("/train", json={"tickers": eleven})
        assert refused.status_code == 422 and "at most 10" in refused.json()["detail"]


def test_api_simulate_symbols_as_one_job(featured: App) -> None:
    model = featured.training.train(train_request({"tickers": list(SYMBOLS), "panel": True}))
    jobs = JobService(featured)
    with TestClient(create_app(app=featured, run_runtime=False)) as client:
        both = client.post("/simulate", json={"model_id": model.id, "symbol": "SPY",
                                              "symbols": ["QQQ"]})  # fmt: skip
        assert both.status_code == 422 and "either" in both.json()["detail"]
        job = client.post("/simulate", json={"model_id": model.id, "symbols": ["SPY", "QQQ"]})
        assert job.status_code == 202, job.text
        jobs.execute(job.json()["id"])
        done = client.get(f"/jobs/{job.json()['id']}").json()
        assert done["status"] == "succeeded", done
        ids = done["result"]["simulation_ids"]
        assert set(ids) == {"SPY", "QQQ"}
        finals = [client.get(f"/simulations/{i}").json()["metrics"]["final_equity"] for i in
                  ids.values()]  # fmt: skip
        portfolio = done["result"]["portfolio"]["metrics"]
        assert portfolio["final_equity"] == pytest.approx(sum(finals))


def test_api_universe_on_train_simulate_and_track(featured: App) -> None:
    UniverseService(featured).create("trio", list(SYMBOLS))
    jobs = JobService(featured)
    with TestClient(create_app(app=featured, run_runtime=False)) as client:
        job = client.post("/train", json={"universe": "trio", "panel": True})
        assert job.status_code == 202, job.text
        assert job.json()["params"]["tickers"] == list(SYMBOLS)  # resolved when queued
        jobs.execute(job.json()["id"])
        model_id = client.get(f"/jobs/{job.json()['id']}").json()["result"]["model_id"]
        assert featured.training.get(model_id).tickers == SYMBOLS
        job = client.post("/simulate", json={"model_id": model_id, "universe": "trio"})
        assert job.status_code == 202, job.text
        assert job.json()["params"]["symbols"] == list(SYMBOLS)
        jobs.execute(job.json()["id"])
        done = client.get(f"/jobs/{job.json()['id']}").json()
        assert set(done["result"]["simulation_ids"]) == set(SYMBOLS), done
        tracked = client.post("/track", json={"universe": "trio", "symbols": ["dia"]})
        assert tracked.status_code == 200, tracked.text
        assert tracked.json()["changed"] == [*SYMBOLS, "DIA"]
        assert set(tracked.json()["tracked"]) == {*SYMBOLS, "DIA"}
        assert set(featured.coverage.tracked_symbols()) == {*SYMBOLS, "DIA"}
        off = client.post("/track", json={"symbols": ["SPY"], "tracked": False}).json()
        assert "SPY" not in off["tracked"] and "SPY" not in featured.coverage.tracked_symbols()
        for path, body, code, needle in [
            ("/train", {"universe": "nosuch"}, 404, "nosuch"),
            ("/simulate", {"model_id": model_id, "universe": "nosuch"}, 404, "nosuch"),
            ("/simulate", {"model_id": model_id, "symbol": "SPY", "universe": "trio"}, 422,
             "either"),
            ("/track", {"universe": "nosuch"}, 404, "nosuch"),
            ("/track", {}, 422, "no symbol"),
            ("/track", {"symbols": ["NOPE"], "tracked": False}, 422, "NOPE"),
        ]:  # fmt: skip
            before = featured.coverage.tracked_symbols()
            refused = client.post(path, json=body)
            assert refused.status_code == code, (path, body, refused.text)
            assert needle in refused.json()["detail"]
            assert featured.coverage.tracked_symbols() == before


def test_python_simulates_a_universe_as_the_cli_does(featured: App) -> None:
    from stockdb.client import StockDB
    from stockdb.simulation.portfolio import simulate_portfolio
    from stockdb.training.requests import simulation_request

    db = StockDB(featured)
    db.universes.create("trio", list(SYMBOLS))
    model = db.train(universe="trio", panel=True)
    result = db.simulate(model.id, universe="trio", fee_bps=1.0)
    assert [run.symbol for run in result.runs] == list(SYMBOLS)
    reference = simulate_portfolio(
        featured.simulation,
        simulation_request({"model_id": model.id, "fee_bps": 1.0}),
        list(SYMBOLS),
    )
    assert result.metrics == reference.metrics
    assert list(result.equity) == list(reference.equity)
    listed = db.simulate(model.id, symbols="SPY,QQQ")
    assert [run.symbol for run in listed.runs] == ["SPY", "QQQ"]
    with pytest.raises(InvalidInput, match="either"):
        db.simulate(model.id, symbol="SPY", universe="trio")
    assert db.track(universe="trio") == sorted(SYMBOLS)
    assert db.track("SPY", tracked=False) == sorted(["QQQ", "IWM"])
