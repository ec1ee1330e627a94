"""stockdb: a local warehouse of US-stock minute bars, with features, models and backtests.

``stockdb.open(data_dir)`` returns a :class:`stockdb.client.StockDB`. The import is lazy so
that ``import stockdb.errors`` (and the CLI's start-up) does not pull in pandas and DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stockdb.client import StockDB
    from stockdb.client import open_db as open  # noqa: A004

__all__ = ["StockDB", "open"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "open":
        from stockdb.client import open_db

        return open_db
    if name == "StockDB":
        from stockdb.client import StockDB

        return StockDB
    raise AttributeError(f"module 'stockdb' has no attribute {name!r}")
