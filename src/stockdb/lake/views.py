"""The browsing database ``{data}/duckdb/market.duckdb``: views only, rebuilt on demand.

It never holds the only copy of anything; it is built in a temp file and swapped in.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import duckdb

from stockdb.config import Settings
from stockdb.errors import StorageError
from stockdb.lake.parquet_lake import ParquetLake

__all__ = ["refresh_views"]

# Written in a storage format the DuckDB CLI installed with stockdb (duckdb-cli) can open.
_CLI_STORAGE: dict[str, str | bool | int | float | list[str]] = {
    "storage_compatibility_version": "v1.4.0"
}
_DERIVED = {"bars_5min": "5 minutes", "bars_15min": "15 minutes", "bars_1hour": "1 hour"}


def _quote(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def _derived_sql(name: str, width: str) -> str:
    # arg_min/arg_max on ts: first()/last() without ORDER BY give wrong opens and closes.
    return f"""
    CREATE VIEW {name} AS
    SELECT symbol,
           time_bucket(INTERVAL '{width}', ts, 'America/New_York') AS ts,
           arg_min(open, ts) AS open, max(high) AS high, min(low) AS low,
           arg_max(close, ts) AS close, sum(volume) AS volume,
           sum(trade_count) AS trade_count,
           sum(vwap * volume) / nullif(sum(volume), 0) AS vwap
    FROM bars_1min GROUP BY ALL ORDER BY symbol, ts
    """


def refresh_views(settings: Settings, lake: ParquetLake) -> tuple[Path, list[str]]:
    """Rebuild the browsing database; returns its path and the views it holds."""
    dest = settings.duckdb_path
    tmp = dest.parent / f".tmp-{uuid.uuid4().hex}.duckdb"
    views: list[str] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(tmp), config=_CLI_STORAGE)
        try:
            if lake.symbols():
                glob = _quote(lake.root)[:-1] + "/*/dt=*/bars.parquet'"
                con.execute(
                    f"CREATE VIEW bars_1min AS SELECT * FROM read_parquet({glob}, "
                    "hive_partitioning = false, union_by_name = true)"
                )
                views.append("bars_1min")
                for name, width in _DERIVED.items():
                    con.execute(_derived_sql(name, width))
                    views.append(name)
            features_root = settings.features_dir
            if any(features_root.glob("*/dt=*/features.parquet")):
                glob = _quote(features_root)[:-1] + "/*/dt=*/features.parquet'"
                con.execute(
                    f"CREATE VIEW features AS SELECT * FROM read_parquet({glob}, "
                    "hive_partitioning = false, union_by_name = true, filename = true)"
                )
                views.append("features")
        finally:
            con.close()
        tmp.replace(dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {dest}: {exc.strerror}") from exc
    return dest, views
