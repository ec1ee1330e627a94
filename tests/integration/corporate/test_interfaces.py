"""CLI and REST: import-actions, actions, fetch-actions, bars --adjustment, GET
/symbols/{symbol}/actions, GET /bars?adjustment=, and stale partitions in GET /features."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stockdb.app import App
from stockdb.cli.main import main
from stockdb.corporate.model import make_action
from stockdb.corporate.synthetic import synthetic_actions

from .conftest import EX_DATE, SPLIT_SYMBOL  # type: ignore[import-not-found]

CSV = f"symbol,type,ex_date,ratio,cash\n{SPLIT_SYMBOL},forward_split,{EX_DATE},4:1,\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_list_and_adjusted_bars(
    split_app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "actions.csv"
    path.write_text(CSV + f"{SPLIT_SYMBOL},cash_dividend,2024-03-11,,0.2\n")
    code, out, err = run(capsys, "import-actions", str(path))
    assert code == 0, err
    assert "2 new, 0 changed, 0 unchanged" in out
    code, out, _ = run(capsys, "actions", SPLIT_SYMBOL.lower())
    assert code == 0 and "4:1" in out and "forward_split" in out and "cash_dividend" in out
    code, out, _ = run(capsys, "actions", "--format", "json")
    listed = json.loads(out)
    assert [(a["type"], a["ratio"], a["cash"]) for a in listed] == [
        ("forward_split", 4.0, None),
        ("cash_dividend", None, 0.2),
    ]
    day = "2024-03-05"
    code, raw_out, _ = run(
        capsys, "bars", SPLIT_SYMBOL, "--start", day, "--end", day, "--format", "csv"
    )
    assert code == 0
    code, adj_out, _ = run(
        capsys, "bars", SPLIT_SYMBOL, "--start", day, "--end", day, "--format", "csv",
        "--adjustment", "split",
    )  # fmt: skip
    assert code == 0
    raw, adjusted = pd.read_csv(io.StringIO(raw_out)), pd.read_csv(io.StringIO(adj_out))
    assert (adjusted["close"] == raw["close"] / 4).all()
    assert (adjusted["volume"] == raw["volume"] * 4).all()


def test_cli_refuses_bad_input_and_stores_nothing(
    split_app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(CSV + f"{SPLIT_SYMBOL},forward_split,2024-03-08,0.5,\n")
    code, out, err = run(capsys, "import-actions", str(path))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "line 3" in err and "above 1" in err
    code, _, err = run(capsys, "import-actions", str(tmp_path / "missing.csv"))
    assert code != 0 and "no such file" in err
    code, _, err = run(capsys, "bars", SPLIT_SYMBOL, "--adjustment", "spinoff")
    assert code != 0 and "unknown adjustment" in err
    assert split_app.corporate.actions(SPLIT_SYMBOL) == []


def test_cli_fetch_actions_from_the_synthetic_source(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "fetch-actions", "AAPL", "--start", "2004-01-01")
    assert code == 0, err
    assert "SYNTHETIC" in err
    count = int(out.split("corporate actions: ")[1].split(" new")[0])
    horizon = date.today() + timedelta(days=60)  # announced actions up to 60 days ahead
    want = [a for a in synthetic_actions("AAPL") if date(2004, 1, 1) <= a.ex_date <= horizon]
    assert count == len(want) > 50
    code, out, _ = run(capsys, "fetch-actions", "AAPL", "--start", "2004-01-01")
    assert f"0 new, 0 changed, {count} unchanged" in out


def test_api_actions_adjusted_bars_and_stale_features(
    split_app: App, make_client: Callable[..., Any]
) -> None:
    app = split_app
    service = app.feature_service()
    service.build([SPLIT_SYMBOL])
    client = make_client()
    body = client.get(f"/symbols/{SPLIT_SYMBOL.lower()}/actions").json()
    assert body == {
        "symbol": SPLIT_SYMBOL,
        "actions": [],
        "stale": {"feature_partitions": 0, "feature_reasons": {}, "models": [], "simulations": []},
    }
    assert client.get("/features").json()["stale"] == []
    update = app.corporate.record([make_action(SPLIT_SYMBOL, "forward_split", EX_DATE, ratio=4.0)])
    assert update.rebuild_job is not None
    body = client.get(f"/symbols/{SPLIT_SYMBOL}/actions").json()
    assert [(a["type"], a["ex_date"], a["ratio"]) for a in body["actions"]] == [
        ("forward_split", EX_DATE.isoformat(), 4.0)
    ]
    assert body["stale"]["feature_reasons"] == {"corporate_action": 3}
    stale = client.get("/features").json()["stale"]
    assert stale == [
        {
            "symbol": SPLIT_SYMBOL,
            "timeframe": "1Min",
            "bar_partitions": 7,
            "stale_partitions": 3,
            "reasons": {"corporate_action": 3},
            "first_stale": "2024-03-04",
        }
    ]
    params = {"start": "2024-03-05", "end": "2024-03-05"}
    raw = client.get(f"/bars/{SPLIT_SYMBOL}", params=params).json()
    adjusted = client.get(f"/bars/{SPLIT_SYMBOL}", params={**params, "adjustment": "split"}).json()
    assert [b["close"] / 4 for b in raw] == [b["close"] for b in adjusted]
    assert [b["volume"] * 4 for b in raw] == [b["volume"] for b in adjusted]
    bad = client.get(f"/bars/{SPLIT_SYMBOL}", params={"adjustment": "spin-off"})
    assert bad.status_code == 422
    assert client.get("/symbols/..%2Fx/actions").status_code in (400, 404, 422)
