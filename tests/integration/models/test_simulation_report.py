"""The HTML tearsheet through the CLI (`stockdb simulations report`) and the REST API."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.cli.main import main
from stockdb.simulation.service import SimulationRecord

from ...conftest import snapshot  # type: ignore[import-not-found]

with warnings.catch_warnings():  # starlette warns at import when httpx2 is not installed
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_cli_writes_the_report(
    app: App, simulated: SimulationRecord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "out" / "sheet.html"
    dest.parent.mkdir()
    assert main(["simulations", "report", simulated.id, "--out", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {dest}" in out, err
    page = dest.read_text(encoding="utf-8")
    assert page == app.simulation.report(simulated.id)
    assert page.count('class="plotly-graph-div"') == 4 and "<script src" not in page
    assert simulated.model_id in page and "out of sample from" in page
    assert [p.name for p in dest.parent.iterdir()] == ["sheet.html"]  # no temp file left


@pytest.mark.parametrize(
    ("argv", "needle", "code"),
    [
        (("simulations", "report", "nope"), "no simulation", 3),
        (("simulations", "report", "../x"), "invalid simulation id", 2),
    ],
)
def test_cli_report_bad_input(
    app: App,
    simulated: SimulationRecord,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    needle: str,
    code: int,
) -> None:
    before = snapshot(tmp_path)
    assert main([*argv, "--out", str(tmp_path / "r.html")]) == code
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_cli_report_into_a_missing_folder(
    simulated: SimulationRecord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulations", "report", simulated.id, "--out", str(tmp_path / "no" / "r.html")])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err
    assert not (tmp_path / "no").exists()


def test_api_serves_the_report(app: App, simulated: SimulationRecord) -> None:
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        response = client.get(f"/simulations/{simulated.id}/report")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.text == app.simulation.report(simulated.id)
        missing = client.get("/simulations/nope/report")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        bad = client.get("/simulations/..bad/report")
        assert bad.status_code == 422 and isinstance(bad.json()["detail"], str)
        spec = client.get("/openapi.json").json()["paths"]["/simulations/{simulation_id}/report"]
        assert "text/html" in spec["get"]["responses"]["200"]["content"]
