"""The corporate-action model: splits (new/old ratio) and cash dividends, validated on creation.

Sane ranges, whatever the source (CSV, Alpaca, API): a split ratio lies between
``1 / MAX_SPLIT_FACTOR`` and ``MAX_SPLIT_FACTOR`` (1:10000 to 10000:1, beyond every split on
record, so a typo like ``1e308`` can never zero prices or overflow volumes), a cash dividend is
above 0 and at most :data:`MAX_CASH` per share, and neither may be NaN or infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal, cast

from stockdb.errors import InvalidInput
from stockdb.symbols import normalize_symbol

__all__ = [
    "ACTION_TYPES",
    "ADJUSTMENTS",
    "MAX_CASH",
    "MAX_SPLIT_FACTOR",
    "SPLIT_TYPES",
    "ActionType",
    "Adjustment",
    "CorporateAction",
    "adjusts_for",
    "make_action",
    "parse_adjustment",
]

ActionType = Literal["forward_split", "reverse_split", "cash_dividend"]
ACTION_TYPES: tuple[str, ...] = ("forward_split", "reverse_split", "cash_dividend")
SPLIT_TYPES: frozenset[str] = frozenset({"forward_split", "reverse_split"})
Adjustment = Literal["raw", "split", "dividend", "all"]
ADJUSTMENTS: tuple[str, ...] = ("raw", "split", "dividend", "all")
MAX_SPLIT_FACTOR = 10_000.0
MAX_CASH = 1_000_000.0


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """One action of one symbol, effective from the session ``ex_date``.

    Splits carry ``ratio`` = new shares / old shares (4:1 forward split -> 4.0, 1:10 reverse
    split -> 0.1); cash dividends carry ``cash`` per share, in the currency of the bars.
    """

    symbol: str
    type: ActionType
    ex_date: date
    ratio: float | None = None
    cash: float | None = None
    source: str = "file"
    fetched_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, date]:
        """The identity of an action: (symbol, type, ex_date)."""
        return (self.symbol, self.type, self.ex_date)

    @property
    def is_split(self) -> bool:
        return self.type in SPLIT_TYPES

    def same_terms(self, other: CorporateAction) -> bool:
        """True when ``other`` is the same action with the same ratio and cash amount."""
        return self.key == other.key and self.ratio == other.ratio and self.cash == other.cash

    def with_source(self, source: str, fetched_at: datetime) -> CorporateAction:
        return replace(self, source=source, fetched_at=fetched_at)

    def describe(self) -> str:
        """``4:1 forward_split`` style text for listings and log lines."""
        if self.is_split and self.ratio is not None:
            return f"{_ratio_text(self.ratio)} {self.type}"
        return f"{self.cash:g} {self.type}"

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "type": self.type,
            "ex_date": self.ex_date.isoformat(),
            "ratio": self.ratio,
            "cash": self.cash,
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
        }


def _ratio_text(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:g}:1"
    return f"1:{1 / ratio:g}"


def _check_ratio(kind: str, ratio: float | None) -> None:
    """Raise InvalidInput unless ``ratio`` is a finite split ratio in the range of ``kind``."""
    limit = f"{MAX_SPLIT_FACTOR:g}"
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        raise InvalidInput(f"a {kind} needs a positive, finite ratio (new shares per old share)")
    if kind == "forward_split" and not 1 < ratio <= MAX_SPLIT_FACTOR:
        raise InvalidInput(
            f"a forward_split ratio must be above 1 and at most {limit} ({limit}:1), got {ratio:g}"
        )
    if kind == "reverse_split" and not 1 / MAX_SPLIT_FACTOR <= ratio < 1:
        raise InvalidInput(
            f"a reverse_split ratio must be below 1 and at least 1:{limit}, got {ratio:g}"
        )


def make_action(
    symbol: str,
    type: str,  # noqa: A002 - the column's name
    ex_date: date,
    ratio: float | None = None,
    cash: float | None = None,
    source: str = "file",
    fetched_at: datetime | None = None,
) -> CorporateAction:
    """A validated action. Raises InvalidInput for a bad symbol, an unknown type, a split
    without a finite ratio in range (forward: above 1 up to :data:`MAX_SPLIT_FACTOR`, reverse:
    below 1 down to its inverse), a dividend without a finite cash amount in
    ``(0, MAX_CASH]``, or a value given for the other kind."""
    name = normalize_symbol(symbol)
    if type not in ACTION_TYPES:
        shown = type if len(type) <= 20 else type[:20] + "..."
        raise InvalidInput(f"unknown action type {shown!r}: use one of {', '.join(ACTION_TYPES)}")
    if type in SPLIT_TYPES:
        if cash is not None:
            raise InvalidInput(f"a {type} has a ratio, not a cash amount")
        _check_ratio(type, ratio)
    else:
        if ratio is not None:
            raise InvalidInput("a cash_dividend has a cash amount, not a ratio")
        if cash is None or not math.isfinite(cash) or not 0 < cash <= MAX_CASH:
            raise InvalidInput(
                f"a cash_dividend needs a cash amount per share above 0 and at most {MAX_CASH:,.0f}"
            )
    return CorporateAction(name, cast(ActionType, type), ex_date, ratio, cash, source, fetched_at)


def parse_adjustment(value: str | None) -> Adjustment:
    """``raw`` (default for None), ``split``, ``dividend`` or ``all``; InvalidInput otherwise."""
    if value is None:
        return "raw"
    chosen = value.strip().lower()
    if chosen not in ADJUSTMENTS:
        raise InvalidInput(f"unknown adjustment {value[:20]!r}: use {', '.join(ADJUSTMENTS)}")
    return cast(Adjustment, chosen)


def adjusts_for(adjustment: str, action: CorporateAction) -> bool:
    """Whether ``adjustment`` (raw|split|dividend|all) takes ``action`` into account."""
    if adjustment == "all":
        return True
    if adjustment == "split":
        return action.is_split
    if adjustment == "dividend":
        return action.type == "cash_dividend"
    return False
