"""conform: any bar-like table becomes exactly BAR_SCHEMA; a conforming one is not copied."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from stockdb.bars import BAR_SCHEMA, conform
from stockdb.calendar import TradingCalendar
from stockdb.providers.synthetic import generate_session


def test_conforming_table_is_kept_and_loses_only_its_metadata(calendar: TradingCalendar) -> None:
    table = generate_session("SPY", calendar.session(date(2024, 3, 11)))
    assert conform(table) is table
    tagged = table.replace_schema_metadata({b"stockdb.provider": b"synthetic"})
    out = conform(tagged)
    assert out.schema.metadata is None and out.schema.equals(BAR_SCHEMA) and out.equals(table)
    assert out.column("close").chunk(0).buffers()[1].address == (
        table.column("close").chunk(0).buffers()[1].address
    )


def test_other_layouts_are_cast_to_the_schema(calendar: TradingCalendar) -> None:
    table = generate_session("SPY", calendar.session(date(2024, 3, 11)))
    loose = pa.table(
        {
            "vwap": table.column("vwap"),
            "ts": table.column("ts").cast(pa.timestamp("ns", tz="UTC")),
            **{n: table.column(n) for n in table.column_names if n not in ("vwap", "ts")},
            "extra": pa.array([1] * table.num_rows),
        }
    )
    out = conform(loose)
    assert out.schema.equals(BAR_SCHEMA) and out.equals(table)
