"""Which period a simulation covers: out of sample by default, overlap only when asked."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Protocol

import pandas as pd

from stockdb.errors import InvalidInput

__all__ = ["Period", "first_date", "out_of_sample_start", "overlaps"]

_NEW_YORK = "America/New_York"


class Period(Protocol):
    """The dates a simulation asks for (a SimulationRequest)."""

    @property
    def start(self) -> date | None: ...

    @property
    def end(self) -> date | None: ...

    @property
    def in_sample(self) -> bool: ...


def overlaps(window: dict[str, Any] | None, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """True when ``[start, end]`` shares any instant with a ``{"start", "end"}`` ISO window."""
    if not window or window.get("start") is None or window.get("end") is None:
        return False
    lo = pd.Timestamp(window["start"])
    hi = pd.Timestamp(window["end"])
    return bool(start <= hi and end >= lo)


def out_of_sample_start(window: dict[str, Any] | None) -> date | None:
    """The first New York date after a ``{"end"}`` training window (None without one)."""
    if not window or window.get("end") is None:
        return None
    last = pd.Timestamp(window["end"])
    last = last.tz_localize("UTC") if last.tzinfo is None else last
    return last.tz_convert(_NEW_YORK).date() + timedelta(days=1)


def first_date(request: Period, model_id: str, train: dict[str, Any] | None) -> date | None:
    """The first date to load: the request's, else the out-of-sample default (see
    :meth:`SimulationService.preflight`).

    Raises InvalidInput for an ``end`` before the out-of-sample start, and (unless
    ``in_sample``) for explicit dates overlapping the training window's sessions."""
    oos_from = out_of_sample_start(train)
    if request.in_sample or oos_from is None or not train:
        return request.start
    allow = "pass --in-sample (in_sample: true) to simulate over the training window"
    if request.start is None:
        if request.end is not None and request.end < oos_from:
            raise InvalidInput(
                f"nothing out of sample is left: model {model_id} trained on bars through "
                f"{oos_from - timedelta(days=1)}, after end {request.end}; {allow}"
            )
        return oos_from
    first = pd.Timestamp(train["start"])
    first = first.tz_localize("UTC") if first.tzinfo is None else first
    if request.start < oos_from and (
        request.end is None or request.end >= first.tz_convert(_NEW_YORK).date()
    ):
        raise InvalidInput(
            f"{request.start}..{request.end or 'the last bar'} overlaps model {model_id}'s "
            f"training window ({train['start']} to {train['end']}); start on or after "
            f"{oos_from} or {allow}"
        )
    return request.start
