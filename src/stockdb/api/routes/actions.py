"""GET /symbols/{symbol}/actions: a symbol's splits and dividends and what they left stale."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from stockdb.api.context import Ctx, Symbol
from stockdb.api.errors import ERROR_RESPONSES, json_response
from stockdb.usecases.status import symbol_actions

__all__ = ["ActionModel", "SymbolActions", "router"]

router = APIRouter(tags=["symbols"])


class ActionModel(BaseModel):
    """One split (``ratio`` = new shares per old share) or cash dividend (``cash`` per share)."""

    model_config = ConfigDict(extra="forbid")

    symbol: str
    type: Literal["forward_split", "reverse_split", "cash_dividend"]
    ex_date: date
    ratio: float | None
    cash: float | None
    source: str
    fetched_at: datetime | None


class StaleState(BaseModel):
    """Derived data of the symbol that no longer reflects its adjusted history."""

    model_config = ConfigDict(extra="forbid")

    feature_partitions: int
    feature_reasons: dict[str, int]
    models: list[str]
    simulations: list[str]


class SymbolActions(BaseModel):
    """The symbol's corporate actions by ex-date, and what is stale."""

    model_config = ConfigDict(extra="forbid")

    symbol: str
    actions: list[ActionModel]
    stale: StaleState


@router.get(
    "/symbols/{symbol}/actions",
    operation_id="get_actions",
    response_model=SymbolActions,
    responses=ERROR_RESPONSES,
    summary="Corporate actions of a symbol and what they left stale",
)
def get_actions(ctx: Ctx, symbol: Symbol) -> Response:
    """Stored splits and cash dividends of ``symbol`` (empty when none), the count of its
    stale feature partitions by reason (``corporate_action`` after a new split), and its stale
    models and simulations."""
    return json_response(symbol_actions(ctx.app, symbol))
