"""Feature builds over several symbols on worker processes equal the in-process build."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd

from stockdb.app import App
from stockdb.calendar import Session
from stockdb.config import Settings
from stockdb.features.service import PARALLEL_MIN_SYMBOLS, _build_in_worker, _Recipe
from stockdb.lake.parquet_lake import Lineage
from stockdb.parallel import parallel_map
from stockdb.providers.synthetic import generate_session

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


def _seed(app: App, sessions: list[Session]) -> None:
    for symbol in SYMBOLS:
        with app.lake.writer(symbol):
            app.lake.write_sessions(
                symbol,
                {s.date: (generate_session(symbol, s), "merge") for s in sessions},
                Lineage("synthetic", "synthetic"),
            )


def test_parallel_build_equals_serial_build(
    app: App, sessions: list[Session], tmp_path: Path
) -> None:
    assert len(SYMBOLS) >= PARALLEL_MIN_SYMBOLS
    serial_app = App(Settings(data_dir=tmp_path / "serial"))
    serial_app.__dict__["calendar"] = app.calendar
    try:
        for target in (app, serial_app):
            _seed(target, sessions[:3])
        calls: list[tuple[int, int, str]] = []
        built = app.features.build(SYMBOLS, workers=2, progress=lambda *c: calls.append(c))
        reference = serial_app.features.build(SYMBOLS, workers=1)
        assert [(r.symbol, r.rows, r.partitions_written) for r in built] == [
            (r.symbol, r.rows, r.partitions_written) for r in reference
        ]
        assert calls[0][:2] == (0, len(SYMBOLS)) and calls[-1][:2] == (len(SYMBOLS),) * 2
        for symbol in SYMBOLS:
            pd.testing.assert_frame_equal(
                app.features.read(symbol), serial_app.features.read(symbol)
            )
        # the workers alone (this process not helping) build the same partitions
        recipe = _Recipe(pickle.dumps(app.settings), True, None)
        rebuilt = parallel_map(_build_in_worker, recipe, SYMBOLS, 2, chunk_items=1)
        assert [[(r.symbol, r.rows) for r in rs] for rs in rebuilt] == [
            [(r.symbol, r.rows)] for r in reference
        ]
        for symbol in SYMBOLS:
            pd.testing.assert_frame_equal(
                app.features.read(symbol), serial_app.features.read(symbol)
            )
        # both builds recorded their partitions: a second build has nothing to do
        again = app.features.build(SYMBOLS, workers=2)
        assert sum(r.partitions_written for r in again) == 0
        assert all(s.up_to_date for s in app.features.status(SYMBOLS))
    finally:
        serial_app.close()
