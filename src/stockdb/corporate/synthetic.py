"""Deterministic synthetic corporate actions, consistent with the synthetic bars.

Each symbol gets, from its own seeds: one to three splits between 2004 and 2021 (mostly
forward 2:1, 3:1 or 4:1, now and then a 1:5 reverse split) and, for about two symbols in
three, quarterly cash dividends from 2004 to 2035 worth 0.2-0.8 % of the raw price. The
synthetic provider's raw prices jump at each split's ex-date by exactly the split ratio
(:func:`split_multiplier`), so the split-adjusted synthetic series is continuous. No split
falls after 2021, so recent synthetic bars are the same as before splits existed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from stockdb.corporate.model import CorporateAction, make_action

__all__ = [
    "SPLIT_YEARS",
    "SyntheticActionSource",
    "split_multiplier",
    "synthetic_actions",
    "synthetic_splits",
]

SPLIT_YEARS = (2004, 2021)
DIVIDEND_YEARS = (2004, 2035)
_SPLIT_CHOICES = (2.0, 3.0, 4.0, 2.0, 0.2)


def _rng(*parts: str) -> np.random.Generator:
    digest = hashlib.sha256("|".join(("corporate", *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@lru_cache(maxsize=4096)
def synthetic_splits(symbol: str) -> tuple[CorporateAction, ...]:
    """The symbol's synthetic splits, by ex-date (deterministic; pure)."""
    first, last = SPLIT_YEARS
    rng = _rng("splits", symbol)
    count = int(rng.integers(1, 4))
    years = sorted(rng.choice(np.arange(first, last + 1), size=count, replace=False).tolist())
    out = []
    for year in years:
        day = _weekday_on_or_after(
            date(int(year), 1, 1) + timedelta(days=int(rng.integers(10, 350)))
        )
        ratio = float(_SPLIT_CHOICES[int(rng.integers(0, len(_SPLIT_CHOICES)))])
        kind = "forward_split" if ratio > 1 else "reverse_split"
        out.append(make_action(symbol, kind, day, ratio=ratio, source="synthetic"))
    return tuple(out)


def split_multiplier(symbol: str, day: date) -> float:
    """How much the raw synthetic price of ``symbol`` on ``day`` exceeds the split-adjusted
    one: the product of the ratios of its synthetic splits with an ex-date after ``day``."""
    factor = 1.0
    for split in synthetic_splits(symbol):
        if split.ex_date > day and split.ratio is not None:
            factor *= split.ratio
    return factor


def _dividends(symbol: str) -> list[CorporateAction]:
    from stockdb.providers.synthetic import price_level

    rng = _rng("dividends", symbol)
    if rng.random() >= 0.65:
        return []
    offset = int(rng.integers(0, 20))
    quarterly_yield = float(rng.uniform(0.002, 0.008))
    out = []
    for year in range(DIVIDEND_YEARS[0], DIVIDEND_YEARS[1] + 1):
        for month in (2, 5, 8, 11):
            day = _weekday_on_or_after(date(year, month, 5 + offset))
            before = day - timedelta(days=1)
            cash = round(price_level(symbol, before) * quarterly_yield, 2)
            if cash > 0:
                out.append(make_action(symbol, "cash_dividend", day, cash=cash, source="synthetic"))
    return out


@lru_cache(maxsize=1024)
def synthetic_actions(symbol: str) -> tuple[CorporateAction, ...]:
    """Every synthetic action of ``symbol`` (splits and dividends), by ex-date then type."""
    actions = [*synthetic_splits(symbol), *_dividends(symbol)]
    return tuple(sorted(actions, key=lambda a: (a.ex_date, a.type)))


class SyntheticActionSource:
    """An action source over :func:`synthetic_actions` (the default without Alpaca keys)."""

    name = "synthetic"

    def fetch_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        """Actions of ``symbols`` with an ex-date in ``start..end`` (inclusive)."""
        return [
            a
            for symbol in dict.fromkeys(symbols)
            for a in synthetic_actions(symbol)
            if start <= a.ex_date <= end
        ]

    def close(self) -> None:
        return None
