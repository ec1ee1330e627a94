"""How the dashboard shows values to people: New York times, empty cells, data-source badge.

Pure functions (no Streamlit, no HTTP), so they are unit-tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

__all__ = [
    "TIME_ZONE",
    "TZ_LABEL",
    "human_time",
    "human_times",
    "provider_badge",
    "table",
]

TIME_ZONE = "America/New_York"
TZ_LABEL = "New York time"
_NY = ZoneInfo(TIME_ZONE)


def human_time(value: Any, seconds: bool = True) -> str:
    """An instant (ISO text, datetime or Timestamp) as New York wall-clock time,
    ``2026-11-25 07:15:09 ET``; a bare date stays ``2026-11-25``; empty for None or ''."""
    if value is None or value == "" or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return text
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    elif isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return ""
        moment = value.to_pydatetime()
    elif isinstance(value, datetime):
        moment = value
    else:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    local = moment.astimezone(_NY)
    return local.strftime("%Y-%m-%d %H:%M:%S ET" if seconds else "%Y-%m-%d %H:%M ET")


def human_times(stamps: pd.Series, seconds: bool = False) -> pd.Series:
    """A UTC ``datetime64`` column as New York wall-clock text (``2024-03-04 09:30 ET``)."""
    fmt = "%Y-%m-%d %H:%M:%S ET" if seconds else "%Y-%m-%d %H:%M ET"
    return stamps.dt.tz_convert(TIME_ZONE).dt.strftime(fmt)


def _cells(values: list[Any]) -> list[str]:
    """A column with gaps as text: empty for missing, whole floats without ``.0``."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))]
    whole = all(isinstance(v, float) and v.is_integer() for v in present)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            out.append("")
        elif isinstance(v, float):
            out.append(str(int(v)) if whole else f"{v:.6g}")
        else:
            out.append(str(v))
    return out


def table(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    times: Iterable[str] = (),
    first: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows ready for ``st.dataframe``: the ``times`` columns as New York text, missing values
    as empty cells (a column with gaps becomes text, so nothing shows ``None``), and the
    ``first`` columns moved to the left so the fields people need are never off-screen."""
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for column in times:
        if column in frame.columns:
            frame[column] = [human_time(v) for v in frame[column].tolist()]
    for column in frame.columns:
        values = frame[column]
        if values.isna().any():
            frame[column] = _cells(values.astype(object).tolist())
    order = [c for c in first if c in frame.columns]
    return frame.loc[:, [*order, *(c for c in frame.columns if c not in order)]]


def provider_badge(health: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(label, explanation)`` of the badge each page shows when the API serves synthetic
    bars (None for a real provider or when /health does not say)."""
    provider = str(health.get("provider") or "")
    if provider != "synthetic":
        return None
    return (
        "SYNTHETIC DATA",
        "No Alpaca keys are set, so every bar here is generated, not real market data. "
        "Set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY and restart for real bars.",
    )
