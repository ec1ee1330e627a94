"""Arrow tables as HTTP responses: JSON records, CSV text, or a streamed Parquet file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Response
from fastapi.responses import StreamingResponse

from stockdb.formats import to_csv, to_json

__all__ = [
    "PARQUET_MEDIA_TYPE",
    "TABLE_CONTENT",
    "TableFormat",
    "iter_parquet",
    "table_response",
]

TableFormat = Literal["json", "csv", "parquet"]
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
_ROW_GROUP = 65_536
# The non-JSON bodies a table endpoint may answer with, for the OpenAPI document.
TABLE_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    PARQUET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
}


class _ChunkSink:
    """A write-only file that hands written bytes out in chunks (for a streamed Parquet body)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def iter_parquet(table: pa.Table, row_group: int = _ROW_GROUP) -> Iterator[bytes]:
    """``table`` as one Parquet file (zstd), yielded a row group at a time.

    The concatenation of the chunks is a complete Parquet file; memory beyond the table
    itself stays at about one encoded row group.
    """
    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, table.schema, compression="zstd")
    try:
        for start in range(0, max(table.num_rows, 1), row_group):
            writer.write_table(table.slice(start, row_group))
            chunk = sink.drain()
            if chunk:
                yield chunk
    finally:
        writer.close()
    tail = sink.drain()
    if tail:
        yield tail


def table_response(
    table: pa.Table, fmt: TableFormat, filename: str, keep_symbol: bool = False
) -> Response:
    """Answer with ``table`` as JSON records, CSV, or a streamed Parquet file; JSON and CSV
    drop the ``symbol`` column unless ``keep_symbol`` (an answer over several symbols)."""
    drop: tuple[str, ...] = () if keep_symbol else ("symbol",)
    if fmt == "csv":
        return Response(
            to_csv(table, drop),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{filename}.csv"'},
        )
    if fmt == "parquet":
        return StreamingResponse(
            iter_parquet(table),
            media_type=PARQUET_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}.parquet"'},
        )
    return Response(to_json(table, drop=drop), media_type="application/json")
