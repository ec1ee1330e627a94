"""A feature-build job on two workers: the CPU lane's child process is not daemonic, so the
build there spreads the symbols over a process pool like the CLI does (by default once the
build is big enough); it writes exactly what a one-process build writes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from stockdb.app import App
from stockdb.config import Settings
from stockdb.features.service import PARALLEL_MIN_SYMBOLS
from stockdb.jobs.runtime import Runtime
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import generate_session

from .conftest import wait_for

SYMBOLS = [f"J{k:02d}" for k in range(PARALLEL_MIN_SYMBOLS)]


def _seed(app: App) -> None:
    sessions = app.calendar.sessions(date(2024, 3, 4), date(2024, 3, 6))
    for symbol in SYMBOLS:
        with app.lake.writer(symbol):
            app.lake.write_sessions(
                symbol,
                {s.date: (generate_session(symbol, s), "merge") for s in sessions},
                Lineage("synthetic", "synthetic"),
            )


def _features(app: App) -> dict[str, bytes]:
    root = app.settings.features_dir
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.glob("*/dt=*/*.parquet")}


def test_a_feature_job_builds_like_one_process(
    app: App, runtimes: Callable[..., Runtime], tmp_path: Path
) -> None:
    _seed(app)
    jobs = runtimes(workers=1, agents=()).jobs
    job = jobs.submit("features", "features:parallel", {"symbols": SYMBOLS, "workers": 2})
    done = wait_for(lambda: (j := jobs.get(job.id)).finished_at and j, 240, "the feature job")
    assert done.status == "succeeded", done.error
    assert done.result is not None and len(done.result["builds"]) == len(SYMBOLS)

    serial = App(Settings(data_dir=tmp_path / "serial"), calendar=app.calendar)
    try:
        _seed(serial)
        serial.features.build(SYMBOLS, workers=1)
        assert _features(app) == _features(serial) and len(_features(serial)) == 3 * len(SYMBOLS)
    finally:
        serial.close()
