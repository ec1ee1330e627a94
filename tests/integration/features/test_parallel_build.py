"""Feature builds over several symbols on worker processes equal the in-process build."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd

from stockdb.app import App
from stockdb.calendar import Session
from stockdb.cli.features import _LIKELY_PARALLEL
from stockdb.config import Settings
from stockdb.features.service import PARALLEL_MIN_SYMBOLS, _build_in_worker, _Recipe
from stockdb.parallel import parallel_map

from ...conftest import write_synthetic  # type: ignore[import-not-found]
from .conftest import tree_digest

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]


def _seed(app: App, sessions: list[Session]) -> None:
    write_synthetic(app, SYMBOLS, sessions)


def files(app: App) -> tuple[dict[str, str], list[tuple[object, ...]]]:
    rows = [
        (e.rel_path, e.symbol, e.session_date, e.rows, e.size, e.checksum, e.status)
        for e in app.ledger.entries("features")
    ]
    digests = tree_digest(app.settings.features_dir)
    return {k: v for k, v in digests.items() if not k.endswith("records.json")}, rows


def records(app: App) -> dict[str, object]:
    """The higher timeframes' records.json files, all but the build times and the bar files'
    fingerprints (their mtimes differ between the two lakes)."""
    out: dict[str, object] = {}
    for path in sorted(app.settings.features_dir.glob("tf=*/*/records.json")):
        data = json.loads(path.read_text())
        for record in [*data["builds"], *data["partitions"]]:
            record.pop("built_at", None)
            record.pop("source_fingerprint", None)
        out[path.relative_to(app.settings.features_dir).as_posix()] = data
    return out


def test_parallel_build_equals_serial_build(
    app: App, sessions: list[Session], tmp_path: Path
) -> None:
    assert len(SYMBOLS) >= PARALLEL_MIN_SYMBOLS == _LIKELY_PARALLEL  # the CLI's copy
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
        assert files(app) == files(serial_app)  # byte for byte, and the same ledger rows
        # the workers alone (this process not helping) build the same partitions
        recipe = _Recipe(pickle.dumps(app.settings), pickle.dumps(app.calendar), True, None)
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

        # higher timeframes: built once, then kept current by every build of all timeframes
        for target, n in ((app, 2), (serial_app, 1)):
            target.features.build(SYMBOLS, timeframe="1Hour", workers=n)
            _seed(target, sessions[3:5])
        built = app.features.build(SYMBOLS, workers=2)
        reference = serial_app.features.build(SYMBOLS, workers=1)
        assert [(r.symbol, r.timeframe, r.rows, r.partitions_written) for r in built] == [
            (r.symbol, r.timeframe, r.rows, r.partitions_written) for r in reference
        ]
        assert {r.timeframe for r in built} == {"1Min", "1Hour"}
        assert files(app) == files(serial_app)  # tf=1Hour files too
        assert records(app) == records(serial_app)
    finally:
        serial_app.close()
