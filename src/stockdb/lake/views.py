"""The browsing database ``{data}/duckdb/market.duckdb``: views only, rebuilt on demand.

It never holds the only copy of anything; it is built in a temp file and swapped in. One
refresh runs at a time (a file lock), and each starts by sweeping the temp files a killed
refresh left behind. A damaged partition fails the refresh with one line naming it.
"""

from __future__ import annotations

import contextlib
import fcntl
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb

from stockdb.config import Settings
from stockdb.errors import StorageError
from stockdb.lake.integrity import damaged, first_unreadable
from stockdb.lake.parquet_lake import ParquetLake
from stockdb.lake.rollups import ROLLUPS

__all__ = ["refresh_views", "sweep_temp_databases"]

_TEMP_PREFIX = ".tmp-"

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
           arg_max(close, ts) AS close, CAST(sum(volume) AS BIGINT) AS volume,
           CAST(sum(trade_count) AS BIGINT) AS trade_count,
           sum(vwap * volume) / nullif(sum(volume), 0) AS vwap
    FROM bars_1min GROUP BY ALL ORDER BY symbol, ts
    """


def _rollup_views(lake: ParquetLake) -> dict[str, str]:
    """View name -> file glob of the maintained rollups, when every stored symbol has them
    (a lake written before rollups existed keeps the derived 1-hour view until a rebuild)."""
    out: dict[str, str] = {}
    symbols = set(lake.symbols())
    for rollup in ROLLUPS:
        base = lake.rollups.root / f"tf={rollup.name}"
        have = {p.name for p in base.iterdir()} if base.is_dir() else set()
        if symbols <= have:
            name = "bars_" + rollup.name.lower().replace("-", "_")
            out[name] = _quote(base)[:-1] + "/*/year=*/bars.parquet'"
    return out


def sweep_temp_databases(folder: Path) -> int:
    """Delete the temp databases (and their WAL files) a killed refresh left in ``folder``."""
    removed = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.startswith(_TEMP_PREFIX) and ".duckdb" in entry.name:
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
    return removed


@contextlib.contextmanager
def _refresh_lock(folder: Path) -> Iterator[None]:
    with (folder / ".refresh.lock").open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build(con: duckdb.DuckDBPyConnection, settings: Settings, lake: ParquetLake) -> list[str]:
    views: list[str] = []
    if lake.symbols():
        glob = _quote(lake.root)[:-1] + "/*/dt=*/bars.parquet'"
        con.execute(
            f"CREATE VIEW bars_1min AS SELECT * REPLACE (CAST(volume AS BIGINT) AS volume, "
            f"CAST(trade_count AS BIGINT) AS trade_count) FROM read_parquet({glob}, "
            "hive_partitioning = false, union_by_name = true)"
        )
        views.append("bars_1min")
        rolled = _rollup_views(lake)
        for name, width in _DERIVED.items():
            if name not in rolled:
                con.execute(_derived_sql(name, width))
                views.append(name)
        for name, glob in rolled.items():
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet({glob}, "
                "hive_partitioning = false) ORDER BY symbol, ts"
            )
            views.append(name)
    features_root = settings.features_dir
    if any(features_root.glob("*/dt=*/features.parquet")):
        glob = _quote(features_root)[:-1] + "/*/dt=*/features.parquet'"
        con.execute(
            f"CREATE VIEW features AS SELECT * FROM read_parquet({glob}, "
            "hive_partitioning = false, union_by_name = true, filename = true)"
        )
        views.append("features")
    return views


def refresh_views(settings: Settings, lake: ParquetLake) -> tuple[Path, list[str]]:
    """Rebuild the browsing database; returns its path and the views it holds.

    Raises DamagedPartition naming the first unreadable partition (the old database stays),
    StorageError when the disk refuses; never leaves a temp file behind.
    """
    dest = settings.duckdb_path
    tmp = dest.parent / f"{_TEMP_PREFIX}{uuid.uuid4().hex}.duckdb"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _refresh_lock(dest.parent):
            sweep_temp_databases(dest.parent)
            try:
                con = duckdb.connect(str(tmp), config=_CLI_STORAGE)
                try:
                    views = _build(con, settings, lake)
                finally:
                    con.close()
                tmp.replace(dest)
            except duckdb.Error as exc:
                files = sorted(lake.root.glob("*/dt=*/bars.parquet"))
                files += sorted(lake.rollups.root.glob("tf=*/*/year=*/bars.parquet"))
                files += sorted(settings.features_dir.glob("*/dt=*/features.parquet"))
                culprit = first_unreadable(files)
                if culprit is None:
                    raise StorageError(f"cannot build {dest}: {exc}") from exc
                raise damaged(*culprit) from exc
            finally:
                sweep_temp_databases(dest.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {dest}: {exc.strerror}") from exc
    return dest, views
