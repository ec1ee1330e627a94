"""Fetching a backfill's corporate actions, shared by ingest jobs and the foreground CLI."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from stockdb.errors import StockDBError
from stockdb.jsonsafe import json_safe

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["sync_actions"]

log = logging.getLogger("stockdb.corporate")


def sync_actions(
    app: App, symbols: Sequence[str], start: date, provider: str | None
) -> dict[str, Any]:
    """Fetch the symbols' splits and dividends from ``start`` on and record them (marking
    stale what a new one invalidates). A failure is logged and reported, never fatal: the
    bars are stored and the next run fetches the actions again."""
    names = list(symbols)
    try:
        source = app.action_source(provider)
        try:
            update = app.corporate.sync(names, source, start)
        finally:
            source.close()
    except StockDBError as exc:
        log.warning(
            f"corporate actions not fetched: {exc}", extra={"stage": "actions", "symbols": names}
        )
        return {"error": str(exc)}
    return dict(json_safe(update.to_dict()))
