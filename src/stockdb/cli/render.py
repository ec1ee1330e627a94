"""Rendering tables for the terminal and writing machine formats to stdout or a file."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from stockdb.cli.common import out_console
from stockdb.errors import InvalidInput, StorageError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["emit", "print_records"]


def print_records(
    records: Sequence[Mapping[str, object]], title: str | None = None, note: str | None = None
) -> None:
    """A rich table of row dicts (all rows; callers cap them)."""
    console = out_console()
    if not records:
        console.print(f"{title + ': ' if title else ''}no rows")
        return
    table = Table(title=title, show_lines=False)
    for name in records[0]:
        table.add_column(name, justify="right" if name not in ("ts", "symbol") else "left")
    for rec in records:
        table.add_row(*("" if v is None else str(v) for v in rec.values()))
    console.print(table)
    if note:
        console.print(note, style="dim")


def emit(
    table: pa.Table,
    fmt: str,
    output: Path | None,
    title: str,
    table_rows: int = 20,
    keep_symbol: bool = False,
) -> None:
    """Write ``table`` as table|csv|json|parquet to ``output`` or stdout; the ``symbol``
    column is dropped from table, CSV and JSON unless ``keep_symbol`` (several symbols)."""
    from stockdb.formats import to_csv, to_json, to_parquet_bytes, to_records

    drop: tuple[str, ...] = () if keep_symbol else ("symbol",)
    if fmt == "table":
        shown = table.slice(max(0, table.num_rows - table_rows)) if table_rows else table
        note = (
            f"showing the latest {shown.num_rows} of {table.num_rows} rows "
            "(use --limit, or --format csv for all)"
            if shown.num_rows < table.num_rows
            else None
        )
        print_records(to_records(shown, drop=drop), title, note)
        return
    if fmt == "csv":
        data = to_csv(table, drop)
    elif fmt == "json":
        data = to_json(table, drop=drop)
    elif fmt == "parquet":
        if output is None and sys.stdout.isatty():
            raise InvalidInput("--format parquet writes binary: give --output FILE or redirect")
        data = to_parquet_bytes(table)
    else:
        raise InvalidInput(f"unknown format {fmt!r}: use table, csv, json or parquet")
    if output is not None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise StorageError(f"cannot write {output}: {exc.strerror}") from exc
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
