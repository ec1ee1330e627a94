"""Symbol validation: the one gate every symbol passes before touching a path or a query."""

from __future__ import annotations

import re
from collections.abc import Iterable

from stockdb.errors import InvalidInput

__all__ = ["SYMBOL_PATTERN", "normalize_symbol", "normalize_symbols"]

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


def normalize_symbol(raw: str) -> str:
    """Upper-case ``raw`` and check it against ``^[A-Z][A-Z0-9.]{0,9}$``.

    Raises InvalidInput for anything else (paths, SQL, empty strings, overlong names).
    """
    symbol = raw.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol) or ".." in symbol:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise InvalidInput(
            f"invalid symbol {shown!r}: use 1-10 letters, digits or dots, starting with a letter"
        )
    return symbol


def normalize_symbols(raw: Iterable[str]) -> list[str]:
    """Validate each symbol (comma-separated items allowed), dropping duplicates, keeping order."""
    seen: dict[str, None] = {}
    for item in raw:
        for part in item.split(","):
            if part.strip():
                seen.setdefault(normalize_symbol(part), None)
    if not seen:
        raise InvalidInput("no symbol given")
    return list(seen)
