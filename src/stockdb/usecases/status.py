"""What the system and a symbol look like right now: the /health report and a symbol's
corporate actions with what they left stale. The API routes and the CLI render these."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import stockdb
from stockdb.symbols import normalize_symbol

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["Check", "Health", "check_lake", "check_state", "health", "symbol_actions"]


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    status: Literal["ok", "degraded"]
    version: str
    provider: str
    feed: str
    checks: dict[str, Check] = field(default_factory=dict)
    damaged_partitions: int | None = None


def check_state(app: App) -> Check:
    """The state store answers ``SELECT 1`` (the error's class name only, never the URL)."""
    from sqlalchemy import text

    try:
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # health must report, not raise
        return Check(ok=False, detail=f"state store unavailable ({type(exc).__name__})")
    return Check(ok=True, detail=app.state.dialect)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_lake(app: App) -> Check:
    """The lake folder (or, before the first ingest, its nearest parent) is a writable folder."""
    root = app.settings.parquet_dir
    probe = _nearest_existing(root)
    if not probe.is_dir():
        return Check(ok=False, detail="the lake path is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        return Check(ok=False, detail="the lake folder is not writable")
    return Check(ok=True, detail="ready" if root.is_dir() else "empty (no ingest yet)")


def _damaged_count(app: App) -> int | None:
    """Partitions the ledger knows damaged or missing (found by verify or by a reader)."""
    try:
        return app.ledger.damaged_count()
    except Exception:  # health must report, not raise
        return None


def health(app: App) -> Health:
    """The state-store and lake checks, the damaged-partition count and the data source;
    ``status`` is ok only when every check passes (damage is reported, not a failure)."""
    checks = {"state": check_state(app), "lake": check_lake(app)}
    ok = all(c.ok for c in checks.values())
    damaged = _damaged_count(app) if checks["state"].ok else None
    if damaged:
        lake = checks["lake"]
        note = f"{damaged} damaged or missing partitions (run `stockdb verify --repair`)"
        checks["lake"] = Check(ok=lake.ok, detail=f"{lake.detail}; {note}")
    provider = app.default_provider
    return Health(
        status="ok" if ok else "degraded",
        version=stockdb.__version__,
        provider=provider,
        feed=app.settings.alpaca_feed if provider == "alpaca" else provider,
        checks=checks,
        damaged_partitions=damaged,
    )


def symbol_actions(app: App, symbol: str) -> dict[str, Any]:
    """Stored splits and dividends of ``symbol``, its stale feature partitions counted by
    reason, and its stale models and simulations."""
    from stockdb.corporate.staleness import stale_rows

    name = normalize_symbol(symbol)
    reasons: dict[str, int] = {}
    for status in app.features.status([name]):
        for part in status.stale:
            reasons[part.reason] = reasons.get(part.reason, 0) + 1
    marks = stale_rows(app.state, name)
    return {
        "symbol": name,
        "actions": [a.to_dict() for a in app.corporate.actions(name)],
        "stale": {
            "feature_partitions": sum(reasons.values()),
            "feature_reasons": reasons,
            "models": marks.models,
            "simulations": marks.simulations,
        },
    }
