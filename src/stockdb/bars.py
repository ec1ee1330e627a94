"""The bar schema and the validation every bar passes before it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "SCHEMA_VERSION",
    "Rejection",
    "ValidationResult",
    "conform",
    "empty_bars",
    "validate_bars",
]

SCHEMA_VERSION = "1"

BAR_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("trade_count", pa.int64(), nullable=False),
        pa.field("vwap", pa.float64(), nullable=False),
    ]
)
BAR_COLUMNS = tuple(BAR_SCHEMA.names)


def empty_bars() -> pa.Table:
    """A table with the bar schema and no rows."""
    return BAR_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Select and cast ``table`` to exactly :data:`BAR_SCHEMA` (column order, types, UTC us)."""
    if table.schema.equals(BAR_SCHEMA):  # already conforming: only drop the metadata
        return table if table.schema.metadata is None else table.replace_schema_metadata(None)
    columns = []
    for f in BAR_SCHEMA:
        col = table.column(f.name)
        if pa.types.is_timestamp(col.type) and col.type != f.type:
            if col.type.tz is None:
                raise ValueError("bar timestamps must be timezone-aware UTC")
            col = pc.cast(col, f.type)
        elif col.type != f.type:
            col = pc.cast(col, f.type)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=BAR_SCHEMA)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why some bars were refused: a reason and how many rows it covered."""

    reason: str
    rows: int


@dataclass(slots=True)
class ValidationResult:
    """The bars that passed, and the reasons for the ones that did not."""

    good: pa.Table
    rejections: list[Rejection] = field(default_factory=list)


def validate_bars(
    table: pa.Table, start_us: int | None = None, end_us: int | None = None
) -> ValidationResult:
    """Keep only sane bars: finite positive prices, low <= open/close <= high, volume >= 0,
    trade_count >= 0 and ``start_us <= ts < end_us`` when bounds are given.

    Pure; never raises for bad rows, it reports them as rejections instead.
    """
    table = conform(table)
    if table.num_rows == 0:
        return ValidationResult(table)
    o = table.column("open").to_numpy()
    h = table.column("high").to_numpy()
    lo = table.column("low").to_numpy()
    c = table.column("close").to_numpy()
    vw = table.column("vwap").to_numpy()
    v = table.column("volume").to_numpy()
    n = table.column("trade_count").to_numpy()
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    checks: list[tuple[str, np.ndarray]] = []
    with np.errstate(invalid="ignore"):
        finite = (
            np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c) & np.isfinite(vw)
        )
        checks.append(("non-finite price", ~finite))
        checks.append(("non-positive price", finite & ((lo <= 0) | (vw < 0))))
        checks.append(("high < low", finite & (h < lo)))
        checks.append(
            ("open/close outside high-low", finite & ((o > h) | (o < lo) | (c > h) | (c < lo)))
        )
    checks.append(("negative volume", v < 0))
    checks.append(("negative trade_count", n < 0))
    if start_us is not None:
        checks.append(("ts before requested range", ts < start_us))
    if end_us is not None:
        checks.append(("ts after requested range", ts >= end_us))
    bad = np.zeros(table.num_rows, dtype=bool)
    rejections: list[Rejection] = []
    for reason, mask in checks:
        new = mask & ~bad
        count = int(new.sum())
        if count:
            rejections.append(Rejection(reason, count))
            bad |= new
    good = table.filter(pa.array(~bad)) if bad.any() else table
    return ValidationResult(good, rejections)
