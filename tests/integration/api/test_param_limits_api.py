"""POST /train and /simulate and `stockdb train/simulate` refuse unbounded or non-finite
numbers up front: 422 / exit 2 naming the limit, and no job is queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stockdb.app import App
from stockdb.cli.main import main

from ...conftest import snapshot  # type: ignore[import-not-found]

LIMIT = "n_estimators of random_forest must be a whole number from 1 to 1000; got 100000000"


def test_a_hundred_million_trees_is_422_naming_the_limit(seeded: App, client: Any) -> None:
    body = {"tickers": ["SPY"], "model": "random_forest", "params": {"n_estimators": 100000000}}
    response = client.post("/train", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": LIMIT}
    assert client.get("/jobs").json() == []


@pytest.mark.parametrize(
    ("path", "raw", "needle"),
    [
        ("/train", '{"tickers":["SPY"],"params":{"C":NaN}}', "params.C must hold finite"),
        ("/train", '{"tickers":["SPY"],"params":{"C":Infinity}}', "params.C must hold finite"),
        ("/train", '{"tickers":["SPY"],"train_fraction":NaN}', "train_fraction"),
        ("/train", '{"tickers":["SPY"],"horizon":1e308}', "horizon"),
        ("/simulate", '{"model_id":"m1","cash":Infinity}', "cash"),
        ("/simulate", '{"model_id":"m1","fee_bps":NaN}', "fee_bps"),
    ],
)
def test_non_finite_json_numbers_are_422(
    seeded: App, client: Any, path: str, raw: str, needle: str
) -> None:
    response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]
    assert client.get("/jobs").json() == []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--model", "random_forest", "--params", '{"n_estimators": 100000000}'), LIMIT),
        (("--model", "random_forest", "--params", '{"max_depth": NaN}'), "finite"),
        (("--model", "logistic_regression", "--params", '{"max_iter": 1e12}'), "max_iter"),
        (("--train-fraction", "nan"), "train_fraction must be a finite number"),
        (("--validation-fraction", "inf"), "validation_fraction must be a finite number"),
        (("--walk-forward", "100000"), "walk_forward.n_splits must be between 2 and 50"),
    ],
)
def test_cli_train_refuses_the_same(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str
) -> None:
    before = snapshot(data_dir.parent)
    code, out, err = run(capsys, "train", "--tickers", "SPY", *argv)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"error: {err.strip()[7:]}"] and needle in err, err
    assert snapshot(data_dir.parent) == before


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--cash", "nan"), "cash"),
        (("--cash", "inf"), "cash"),
        (("--fee-bps", "nan"), "fee_bps"),
        (("--slippage-bps", "1e400"), "slippage_bps"),
    ],
)
def test_cli_simulate_refuses_non_finite_numbers(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str
) -> None:
    code, out, err = run(capsys, "simulate", "--model", "m1", *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize("symbol", ["\ufb00", "sp\u0131", "\uff33\uff30\uff39"])
def test_look_alike_symbols_are_422_on_the_api(seeded: App, client: Any, symbol: str) -> None:
    for method, path in (
        ("get", f"/bars/{symbol}"),
        ("post", f"/ingest/{symbol}?start=2024-03-04&end=2024-03-04"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 422, response.text
        assert "only ASCII" in response.json()["detail"]
    assert client.get("/jobs").json() == []
