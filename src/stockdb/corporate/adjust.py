"""Backward adjustment factors from corporate actions, applied to bars on read (pure).

Bars stay raw in the lake. An action with ex-date ``E`` adjusts every bar of a session before
``E`` (every bar with ``ts`` before 00:00 New York time on ``E``); later bars are untouched,
so the adjusted series ends at today's raw prices. Factors of several actions multiply.

- Split with ratio ``r`` = new shares / old shares (4:1 -> 4, 1:10 -> 0.1): prices (open,
  high, low, close, vwap) are multiplied by ``1 / r`` and volume by ``r`` (rounded to the
  nearest share). ``trade_count`` is never adjusted.
- Cash dividend of ``D`` per share: prices are multiplied by ``1 - D / C``, where ``C`` is the
  raw close before the ex-date (the CRSP-style factor Alpaca applies for
  ``adjustment=dividend``); volume is unchanged. :func:`dividend_factor` states the rule and
  the service picks ``C``: the last raw 1-min close at or before the regular-session close of
  the last stored session before ``E``.
- Actions whose ex-date is after ``as_of`` (announced, not yet effective) are not applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from stockdb.corporate.model import CorporateAction, adjusts_for

__all__ = [
    "PRICE_COLUMNS",
    "AdjustmentStep",
    "adjust_table",
    "applicable",
    "cumulative_factors",
    "day_price_factors",
    "dividend_factor",
    "ex_cutoff_us",
    "split_step",
]

NEW_YORK = ZoneInfo("America/New_York")
PRICE_COLUMNS = ("open", "high", "low", "close", "vwap")


@dataclass(frozen=True, slots=True)
class AdjustmentStep:
    """Multiply prices by ``price_factor`` and volume by ``volume_factor`` for bars with
    ``ts < cutoff_us`` (microseconds since the epoch, UTC)."""

    cutoff_us: int
    price_factor: float
    volume_factor: float
    ex_date: date


def ex_cutoff_us(ex_date: date) -> int:
    """00:00 New York time on ``ex_date`` in epoch microseconds: the first instant the action
    no longer applies to (every bar of an earlier session starts before it)."""
    midnight = datetime.combine(ex_date, time(0), NEW_YORK)
    return int(midnight.timestamp()) * 1_000_000


def applicable(
    actions: Iterable[CorporateAction], adjustment: str, as_of: date
) -> list[CorporateAction]:
    """The actions ``adjustment`` takes into account that are effective by ``as_of``,
    sorted by ex-date (then type)."""
    chosen = [a for a in actions if adjusts_for(adjustment, a) and a.ex_date <= as_of]
    return sorted(chosen, key=lambda a: (a.ex_date, a.type))


def split_step(action: CorporateAction) -> AdjustmentStep:
    """Prices times ``1 / ratio``, volume times ``ratio`` before the ex-date."""
    if not action.is_split or action.ratio is None:
        raise ValueError(f"{action.describe()} is not a split")
    return AdjustmentStep(
        ex_cutoff_us(action.ex_date), 1.0 / action.ratio, action.ratio, action.ex_date
    )


def dividend_factor(cash: float, previous_close: float) -> float | None:
    """``1 - cash / previous_close``: the price factor of a cash dividend before its ex-date.

    None when the factor is meaningless (no positive close, or a dividend at least as large as
    the close), so a bad record never produces zero or negative prices.
    """
    if not (previous_close > 0) or not (cash > 0) or cash >= previous_close:
        return None
    return 1.0 - cash / previous_close


def cumulative_factors(
    ts_us: npt.NDArray[np.int64], steps: Sequence[AdjustmentStep]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-bar price and volume factors: the product over ``steps`` whose cutoff is after the
    bar. ``ts_us`` need not be sorted."""
    price = np.ones(ts_us.size, dtype=np.float64)
    volume = np.ones(ts_us.size, dtype=np.float64)
    if not steps or ts_us.size == 0:
        return price, volume
    ordered = bool(np.all(ts_us[1:] >= ts_us[:-1]))
    for step in steps:
        if ordered:
            stop = int(np.searchsorted(ts_us, step.cutoff_us, side="left"))
            price[:stop] *= step.price_factor
            volume[:stop] *= step.volume_factor
        else:
            before = ts_us < step.cutoff_us
            price[before] *= step.price_factor
            volume[before] *= step.volume_factor
    return price, volume


def adjust_table(table: pa.Table, steps: Sequence[AdjustmentStep]) -> pa.Table:
    """``table`` (bar columns ``ts``, prices, ``volume``; others kept as they are) with every
    step applied. Prices are not rounded; volume is rounded to whole shares. Pure."""
    if not steps or table.num_rows == 0:
        return table
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    price, volume = cumulative_factors(ts, steps)
    if bool(np.all(price == 1.0)) and bool(np.all(volume == 1.0)):
        return table
    for name in PRICE_COLUMNS:
        if name in table.column_names:
            values = table.column(name).to_numpy() * price
            index = table.column_names.index(name)
            table = table.set_column(index, table.field(name), pa.array(values, pa.float64()))
    if "volume" in table.column_names and not bool(np.all(volume == 1.0)):
        raw = table.column("volume").to_numpy().astype(np.float64)
        index = table.column_names.index("volume")
        adjusted = np.rint(raw * volume).astype(np.int64)
        table = table.set_column(index, table.field("volume"), pa.array(adjusted, pa.int64()))
    return table


def day_price_factors(
    days: Iterable[date], steps: Sequence[AdjustmentStep]
) -> Mapping[date, float]:
    """For each session date, the cumulative price factor its bars get (1.0 when none)."""
    ordered = sorted(steps, key=lambda s: s.ex_date)
    out: dict[date, float] = {}
    for day in days:
        factor = 1.0
        for step in ordered:
            if step.ex_date > day:
                factor *= step.price_factor
        out[day] = factor
    return out
