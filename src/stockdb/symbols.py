"""Symbol validation: the one gate every symbol passes before touching a path or a query."""

from __future__ import annotations

import re
from collections.abc import Iterable

from stockdb.errors import InvalidInput

__all__ = ["SYMBOL_PATTERN", "normalize_symbol", "normalize_symbols"]

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.-]{0,9}$")
# Only ASCII blanks are trimmed: anything else outside ASCII is refused as typed.
_BLANKS = " \t\r\n"


def normalize_symbol(raw: str) -> str:
    """Upper-case ASCII ``raw`` and check it against ``^[A-Z][A-Z0-9.-]{0,9}$`` (no ``..``).

    The check runs on the text as typed: a non-ASCII character is refused, never folded
    (``str.upper`` would turn ``ﬀ`` into ``FF`` and ``spı`` into ``SPI``). Raises InvalidInput
    for anything else (paths, SQL, empty strings, overlong names).
    """
    text = raw.strip(_BLANKS)
    symbol = text.upper() if text.isascii() else ""
    if not SYMBOL_PATTERN.fullmatch(symbol) or ".." in symbol:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        reason = "" if text.isascii() else " (only ASCII characters are allowed)"
        raise InvalidInput(
            f"invalid symbol {shown!r}{reason}: use 1-10 ASCII letters, digits, dots or "
            "dashes, starting with a letter"
        )
    return symbol


def normalize_symbols(raw: Iterable[str]) -> list[str]:
    """Validate each symbol (comma-separated items allowed), dropping duplicates, keeping order."""
    seen: dict[str, None] = {}
    for item in raw:
        for part in item.split(","):
            if part.strip(_BLANKS):
                seen.setdefault(normalize_symbol(part), None)
    if not seen:
        raise InvalidInput("no symbol given")
    return list(seen)
