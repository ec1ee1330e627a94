"""Parsing user-supplied dates and instants into session dates or UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime

from stockdb.errors import InvalidInput

__all__ = ["parse_date", "parse_date_or_instant"]


def parse_date(raw: str | date | None, name: str = "date") -> date | None:
    """``YYYY-MM-DD`` → date; None passes through; InvalidInput otherwise."""
    if raw is None or isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, datetime):
        return raw.date()
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"invalid {name} {raw!r}: use YYYY-MM-DD") from None


def parse_date_or_instant(
    raw: str | date | datetime | None, name: str = "date"
) -> date | datetime | None:
    """A session date (``YYYY-MM-DD``) or an aware instant (RFC-3339; ``Z`` allowed).

    Naive instants are refused rather than guessed.
    """
    if raw is None or isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise InvalidInput(f"{name} must carry a timezone, e.g. 2024-03-05T14:30:00Z")
        return raw.astimezone(UTC)
    text = raw.strip()
    if len(text) == 10:
        return parse_date(text, name)
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(
            f"invalid {name} {raw!r}: use YYYY-MM-DD or an instant like 2024-03-05T14:30:00Z"
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must carry a timezone, e.g. 2024-03-05T14:30:00Z")
    return value.astimezone(UTC)
