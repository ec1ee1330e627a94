"""Corporate actions from CSV: ``symbol,type,ex_date,ratio,cash`` with a header row (pure).

``ratio`` (splits) is new shares per old share: ``4``, ``4:1`` or ``1:10`` (new:old).
``cash`` (cash dividends) is the amount per share. Either column may be absent when no row
needs it. The whole file is checked before anything is returned: one bad row fails it all.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from stockdb.corporate.model import CorporateAction, make_action
from stockdb.errors import InvalidInput

__all__ = ["MAX_ROWS", "parse_actions_csv", "parse_ratio"]

MAX_ROWS = 100_000
_REQUIRED = ("symbol", "type", "ex_date")


def parse_ratio(raw: str) -> float:
    """``"4"`` -> 4.0, ``"4:1"`` -> 4.0, ``"1:10"`` -> 0.1; ValueError when malformed."""
    text = raw.strip()
    if ":" in text:
        new, _, old = text.partition(":")
        numerator, denominator = float(new), float(old)
        if denominator <= 0:
            raise ValueError(raw)
        return numerator / denominator
    return float(text)


def _optional(row: dict[str, str | None], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def parse_actions_csv(text: str, source: str = "file") -> list[CorporateAction]:
    """Every action in ``text``. Raises InvalidInput naming the line of the first bad row
    (missing column, unknown type, bad date, bad or missing ratio/cash), for a missing header
    or more than :data:`MAX_ROWS` rows."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InvalidInput(
            f"the CSV needs a header with symbol,type,ex_date and ratio and/or cash "
            f"(missing {', '.join(missing)})"
        )
    reader.fieldnames = header
    if "ratio" not in header and "cash" not in header:
        raise InvalidInput("the CSV needs a ratio column (splits) or a cash column (dividends)")
    out: list[CorporateAction] = []
    for index, row in enumerate(reader, start=2):
        if index - 1 > MAX_ROWS:
            raise InvalidInput(f"the CSV has more than {MAX_ROWS} rows")
        line = reader.line_num
        try:
            raw_ratio, raw_cash = _optional(row, "ratio"), _optional(row, "cash")
            try:
                ex_date = date.fromisoformat((row.get("ex_date") or "").strip())
            except ValueError:
                raise InvalidInput(
                    f"ex_date must be YYYY-MM-DD, got {row.get('ex_date')!r}"
                ) from None
            try:
                ratio = parse_ratio(raw_ratio) if raw_ratio is not None else None
                cash = float(raw_cash) if raw_cash is not None else None
            except ValueError:
                raise InvalidInput(
                    "ratio and cash must be numbers (ratio may be new:old)"
                ) from None
            out.append(
                make_action(
                    (row.get("symbol") or "").strip(),
                    (row.get("type") or "").strip().lower(),
                    ex_date,
                    ratio,
                    cash,
                    source,
                )
            )
        except InvalidInput as exc:
            raise InvalidInput(f"line {line}: {exc}") from None
    keys = [a.key for a in out]
    if len(set(keys)) != len(keys):
        raise InvalidInput("the CSV lists the same (symbol, type, ex_date) twice")
    return out
