"""Shared fixtures: settings on a temp data dir, a cached calendar, file-tree snapshots."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from stockdb.app import App
from stockdb.calendar import Session, TradingCalendar
from stockdb.config import Settings

# `make test` replays the same generated examples every run (a red CI is then a real defect,
# reproducible here); `make fuzz` explores new ones (STOCKDB_HYPOTHESIS=explore).
hypothesis_settings.register_profile("replay", derandomize=True)
hypothesis_settings.register_profile("explore", max_examples=2_000)
hypothesis_settings.load_profile(os.environ.get("STOCKDB_HYPOTHESIS", "replay"))


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Streamlit's AppTest swaps ``sys.modules["__main__"]`` for its page script; a process
    pool spawned later would re-run that script in its children. Put the real one back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir; the environment points every Settings() at it, keys cleared."""
    path = tmp_path / "data"
    monkeypatch.chdir(tmp_path)  # no stray .env from the repository
    monkeypatch.setenv("STOCKDB_DATA_DIR", str(path))
    for name in list(os.environ):
        if name.startswith(("ALPACA_", "APCA_", "STOCKDB_QUEUE", "STOCKDB_STATE", "STOCKDB_API")):
            monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings()


@pytest.fixture
def app(settings: Settings, calendar: TradingCalendar) -> Iterator[App]:
    stockdb = App(settings, calendar=calendar)  # the session-wide calendar (slow to build)
    yield stockdb
    stockdb.close()


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root`` (folders as '<dir>').

    SQLite's ``-shm`` file is left out: it is a shared-memory index that readers update while
    another connection holds the database open; it never holds data.
    """
    result: dict[str, str] = {}
    if not root.exists():
        return result
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.endswith("-shm"):
            continue
        if path.is_dir():
            result[rel] = "<dir>"
        else:
            result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def write_synthetic(app: App, symbols: Iterable[str], sessions: Iterable[Session]) -> None:
    """Store synthetic minute bars of ``symbols`` for ``sessions`` straight into the lake,
    as an ingest would, without a provider or the state's coverage rows."""
    from stockdb.lake.parquet_lake import Lineage
    from stockdb.providers.synthetic import generate_session

    days = list(sessions)
    for symbol in symbols:
        with app.lake.writer(symbol):
            app.lake.write_sessions(
                symbol,
                {s.date: (generate_session(symbol, s), "merge") for s in days},
                Lineage("synthetic", "synthetic"),
            )
