"""The ``features`` view in a DuckDB file (``DEST_DUCKDB_PATH``) over the written Parquet.

Only that view is (re)created: other tables and views in the file are left alone, so the
destination may be the same database that holds the source ``bars_1min`` table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from stockdb.errors import StorageError
from stockdb.features.layout import FEATURE_FILE, FeatureLayout

__all__ = ["create_features_view"]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_features_view(db_path: Path, layout: FeatureLayout) -> bool:
    """(Re)create ``features`` (symbol, then the wide columns) in ``db_path``.

    Returns False, touching nothing, when no feature partition exists yet. Raises
    StorageError when the database cannot be opened for writing (e.g. locked elsewhere).
    """
    if not layout.symbols():
        return False
    root = str(layout.root.resolve())
    pattern = _literal(f"{root}/*/dt=*/{FEATURE_FILE}")
    sql = (
        "CREATE OR REPLACE VIEW features AS SELECT "
        "regexp_extract(filename, '([^/]+)/dt=[0-9-]+/[^/]+$', 1) AS symbol, "
        "* EXCLUDE (filename) FROM read_parquet("
        f"{pattern}, hive_partitioning = false, union_by_name = true, filename = true)"
    )
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(db_path))
    except (OSError, duckdb.Error) as exc:
        raise StorageError(f"cannot open DEST_DUCKDB_PATH {db_path}: {exc}") from exc
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        raise StorageError(f"cannot create the features view in {db_path}: {exc}") from exc
    finally:
        con.close()
    return True
