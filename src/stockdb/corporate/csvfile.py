"""Corporate actions from CSV: ``symbol,type,ex_date,ratio,cash`` with a header row (pure).

``ratio`` (splits) is new shares per old share: ``4``, ``4:1`` or ``1:10`` (new:old).
``cash`` (cash dividends) is the amount per share. Either column may be absent when no row
needs it. The whole file is checked before anything is returned: one bad row fails it all.
Ratios and cash amounts must be finite and within the ranges of :mod:`stockdb.corporate.model`
(splits 1:10000 to 10000:1). Errors name the line a bad record starts on: a field longer than
the csv module's limit, a quote never closed, text after a closing quote.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import date

from stockdb.corporate.model import CorporateAction, make_action
from stockdb.errors import InvalidInput

__all__ = ["MAX_ROWS", "parse_actions_csv", "parse_ratio"]

MAX_ROWS = 100_000
_REQUIRED = ("symbol", "type", "ex_date")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(value)
    return value


def parse_ratio(raw: str) -> float:
    """``"4"`` -> 4.0, ``"4:1"`` -> 4.0, ``"1:10"`` -> 0.1; ValueError when malformed or not
    finite (``nan``, ``inf``, ``1e999``, ``1e308:1e-308``). The range is checked by
    :func:`~stockdb.corporate.model.make_action`."""
    text = raw.strip()
    if ":" in text:
        new, _, old = text.partition(":")
        numerator, denominator = _finite(float(new)), _finite(float(old))
        if denominator <= 0:
            raise ValueError(raw)
        return _finite(numerator / denominator)
    return _finite(float(text))


def _shown(value: str | None, size: int = 20) -> str:
    text = value or ""
    return repr(text if len(text) <= size else text[:size] + "...")


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's error as a sentence a person can act on."""
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters"
    if "unexpected end of data" in text:
        return 'a quoted field opens here and is never closed (missing closing ")'
    if "expected after" in text:
        return "text follows a closing quote; quote the whole field or drop the quotes"
    if "new-line character seen in unquoted field" in text or "line contains NUL" in text:
        return f"malformed CSV ({text})"
    return f"malformed CSV ({text[:80]})"


def _records(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Each record with the line it starts on; InvalidInput naming that line on a csv error."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"line {start}: {_csv_problem(exc)}") from None
        yield start, row


def _optional(row: dict[str, str | None], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def parse_actions_csv(text: str, source: str = "file") -> list[CorporateAction]:
    """Every action in ``text``. Raises InvalidInput naming the line of the first bad row
    (missing column, unknown type, bad date, bad or missing ratio/cash), for a missing header
    or more than :data:`MAX_ROWS` rows."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise InvalidInput(f"line 1: {_csv_problem(exc)}") from None
    header = [h.strip().lower() for h in (fieldnames or [])]
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
    for index, (line, row) in enumerate(_records(reader), start=1):
        if index > MAX_ROWS:
            raise InvalidInput(f"the CSV has more than {MAX_ROWS} rows")
        try:
            raw_ratio, raw_cash = _optional(row, "ratio"), _optional(row, "cash")
            try:
                ex_date = date.fromisoformat((row.get("ex_date") or "").strip())
            except ValueError:
                raise InvalidInput(
                    f"ex_date must be YYYY-MM-DD, got {_shown(row.get('ex_date'))}"
                ) from None
            try:
                ratio = parse_ratio(raw_ratio) if raw_ratio is not None else None
                cash = _finite(float(raw_cash)) if raw_cash is not None else None
            except ValueError:
                raise InvalidInput(
                    "ratio and cash must be finite numbers (ratio may be new:old)"
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
