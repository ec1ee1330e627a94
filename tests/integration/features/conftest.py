"""Fixtures for feature-store integration tests: a temp lake of synthetic bars."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.calendar import Session
from stockdb.features.service import FeatureService
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import generate_session

WriteFn = Callable[[str, list[Session]], None]


@pytest.fixture(autouse=True)
def _no_path_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOURCE_DUCKDB_PATH", "DEST_DUCKDB_PATH", "DEST_PARQUET_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sessions(app: App) -> list[Session]:
    """Twelve sessions including a holiday gap (2024-01-15) and a weekend."""
    return app.calendar.sessions(date(2024, 1, 8), date(2024, 1, 24))


@pytest.fixture
def write_bars(app: App) -> WriteFn:
    def write(symbol: str, chosen: list[Session]) -> None:
        with app.lake.writer(symbol):
            for s in chosen:
                app.lake.write_session(
                    symbol, s.date, generate_session(symbol, s), Lineage("synthetic", "synthetic")
                )

    return write


@pytest.fixture
def service(app: App) -> Iterator[FeatureService]:
    yield app.feature_service()


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root``."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def digest() -> Callable[[Path], dict[str, str]]:
    return tree_digest
