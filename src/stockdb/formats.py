"""Serialising bar tables for people and programs: CSV, JSON records, Parquet bytes."""

from __future__ import annotations

import io

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["OUTPUT_FORMATS", "to_csv", "to_json", "to_parquet_bytes", "to_records"]

OUTPUT_FORMATS = ("table", "csv", "json", "parquet")


def _with_iso_ts(table: pa.Table, drop: tuple[str, ...] = ("symbol",)) -> pa.Table:
    """Replace timestamp columns with ISO-8601 UTC strings and drop ``drop`` columns."""
    columns, names = [], []
    for name in table.column_names:
        if name in drop:
            continue
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            seconds = pc.cast(col, pa.timestamp("s", tz="UTC"), safe=False)
            col = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
        columns.append(col)
        names.append(name)
    return pa.Table.from_arrays(columns, names=names)


def to_csv(table: pa.Table, drop: tuple[str, ...] = ("symbol",)) -> bytes:
    """CSV with a header; ``ts`` as ISO-8601 UTC; the symbol column dropped by default."""
    sink = io.BytesIO()
    pacsv.write_csv(_with_iso_ts(table, drop), sink, pacsv.WriteOptions(quoting_style="needed"))
    return sink.getvalue()


def to_records(table: pa.Table, drop: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Row dicts with ISO-8601 UTC timestamps."""
    records: list[dict[str, object]] = _with_iso_ts(table, drop).to_pylist()
    return records


def to_json(table: pa.Table, drop: tuple[str, ...] = ()) -> bytes:
    """A JSON array of row objects."""
    return orjson.dumps(to_records(table, drop), option=orjson.OPT_SERIALIZE_NUMPY)


def to_parquet_bytes(table: pa.Table) -> bytes:
    """The table as a Parquet file in memory."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
