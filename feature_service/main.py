"""``python -m feature_service.main [SYMBOL ...]``: build features for the symbols (default all).

Honours ``STOCKDB_DATA_DIR``, ``SOURCE_DUCKDB_PATH`` (read ``bars_1min`` from that DuckDB
file instead of the Parquet lake), ``DEST_PARQUET_DIR`` (where the wide Parquet goes) and
``DEST_DUCKDB_PATH`` (a DuckDB file that gets a ``features`` view over it).
"""

from __future__ import annotations

import argparse
import sys

from stockdb.app import App
from stockdb.errors import StockDBError, exit_code

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run one build; prints a line per symbol, or one error line on stderr (non-zero exit)."""
    parser = argparse.ArgumentParser(
        prog="python -m feature_service.main", description="Build versioned features."
    )
    parser.add_argument("symbols", nargs="*", help="symbols (default: every symbol with bars)")
    parser.add_argument("--full", action="store_true", help="rewrite every partition")
    args = parser.parse_args(argv)
    try:
        app = App()
        try:
            results = app.features.build(args.symbols or None, full=args.full)
        finally:
            app.close()
    except StockDBError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exit_code(exc)
    for r in results:
        state = "up to date" if r.up_to_date else f"wrote {r.partitions_written} partitions"
        print(
            f"{r.symbol}: {state} of {r.partitions} ({r.rows} rows, set {r.set_hash[:12]}, "
            f"{r.seconds:.2f}s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
