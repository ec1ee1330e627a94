"""Panel training on 100 symbols x 3 months of minute feature rows.

The whole ``stockdb train --panel`` path (load every symbol, label each on its own rows,
stack, one time cut, fit, score overall and per symbol, register) against the reference of
fitting the same scikit-learn pipeline on the same training rows already stacked in memory:
the ratio is what the panel machinery costs on top of the fit itself.

Run: ``python -m bench panel`` (``STOCKDB_BENCH_PANEL=20`` for fewer symbols).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import print_table
from stockdb.config import Settings
from stockdb.state.store import StateStore
from stockdb.testing.feature_frames import MemorySource, feature_frame, session_minutes
from stockdb.training.models import build_pipeline, resolve_model
from stockdb.training.panel import build_panel, split_panel
from stockdb.training.service import TrainingService, TrainRequest

__all__ = ["main"]

SESSIONS = 63
FEATURES = ("logret_*", "sma_5", "vol_20", "symbol")


def main() -> None:
    symbols = int(os.environ.get("STOCKDB_BENCH_PANEL", "100"))
    ts = session_minutes(SESSIONS)
    names = [f"S{i:03d}" for i in range(symbols)]
    source = MemorySource({n: feature_frame(ts, seed=i) for i, n in enumerate(names)})
    request = TrainRequest(tickers=names, panel=True, features=list(FEATURES))
    with tempfile.TemporaryDirectory() as tmp:
        state = StateStore(f"sqlite:///{Path(tmp) / 's.sqlite'}")
        state.migrate()
        try:
            trainer = TrainingService(Settings(data_dir=Path(tmp) / "data"), state, source)
            start = time.perf_counter()
            record = trainer.train(request)
            t_panel = time.perf_counter() - start
        finally:
            state.dispose()
    panel = build_panel(source, names, list(FEATURES), "direction", 1)
    split = split_panel(panel)
    x, y = panel.x[split.train], panel.y[split.train].astype("int64")
    start = time.perf_counter()
    build_pipeline(resolve_model("logistic_regression", "direction")).fit(x, y)
    t_fit = time.perf_counter() - start
    rows = record.windows["train"]["rows"]
    print_table(
        f"panel training: {symbols} symbols x {SESSIONS} sessions ({len(panel.y):,} rows, "
        f"{rows:,} training rows, {len(panel.features)} features)",
        [
            ("fit only, rows pre-stacked (reference)", f"{t_fit:.2f}", "1.00"),
            ("train --panel end to end", f"{t_panel:.2f}", f"{t_panel / t_fit:.2f}"),
        ],
        ("what", "seconds", "x reference"),
    )


if __name__ == "__main__":
    main()
