"""Every API response model against the dataclass it is written from.

The API has one response style: a route builds its body from a service's dataclass
(``asdict``/``to_dict``) and answers with ``json_response`` (orjson: ISO-8601 instants, NaN
as null); the pydantic model in ``response_model`` documents it in /openapi.json. These tests
keep the two from drifting apart: the same field names (with each deliberate difference
listed here), the same JSON schema per shared field, and a real instance's body validating
under the model (``extra="forbid"``, so a new dataclass field fails until the model has it).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, TypeAdapter

from stockdb.api.routes.actions import ActionModel
from stockdb.api.routes.jobs import job_body
from stockdb.api.routes.models import ModelModel, SimulationModel
from stockdb.api.schemas import (
    AlertInfo,
    FeatureBuildInfo,
    GapRowModel,
    HealthCheck,
    HealthResponse,
    HeartbeatModel,
    JobModel,
    SymbolSummaryModel,
)
from stockdb.corporate.model import CorporateAction
from stockdb.features.records import BuildRecord
from stockdb.ingest.gaps import GapRow
from stockdb.jobs.records import JobRecord
from stockdb.obs.heartbeats import Alert, Heartbeat, HeartbeatView
from stockdb.simulation.store import SimulationRecord
from stockdb.state.coverage import CoverageStatus, SymbolSummary
from stockdb.training.registry import ModelRecord
from stockdb.usecases.status import Check, Health

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


class Pair(typing.NamedTuple):
    dataclass: type
    model: type[BaseModel]
    added: frozenset[str] = frozenset()  # fields the route adds to the dataclass's
    dropped: frozenset[str] = frozenset()  # dataclass fields the route leaves out
    retyped: frozenset[str] = frozenset()  # shared fields the route converts


PAIRS = [
    Pair(SymbolSummary, SymbolSummaryModel),
    Pair(GapRow, GapRowModel),
    Pair(JobRecord, JobModel, added=frozenset({"fraction"})),
    # a view: "state" says stalled when the heartbeat is too old; reported_state is the stored one
    Pair(
        Heartbeat,
        HeartbeatModel,
        added=frozenset({"reported_state", "stalled", "age_s"}),
    ),
    Pair(Alert, AlertInfo),
    Pair(BuildRecord, FeatureBuildInfo),
    Pair(CorporateAction, ActionModel),
    Pair(ModelRecord, ModelModel),
    Pair(
        SimulationRecord,
        SimulationModel,
        added=frozenset({"equity", "trades"}),
        dropped=frozenset({"equity_path", "trades_path"}),
    ),
    Pair(Check, HealthCheck),
    Pair(Health, HealthResponse, retyped=frozenset({"checks"})),
]


def _ids(pair: Pair) -> str:
    return pair.model.__name__


def _schema(annotation: Any) -> dict[str, Any]:
    schema = TypeAdapter(annotation).json_schema()
    return json.loads(json.dumps(schema).replace('"prefixItems"', '"items"'))


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_field_names_match(pair: Pair) -> None:
    fields = {f.name for f in dataclasses.fields(pair.dataclass)}
    assert pair.added.isdisjoint(fields) and pair.dropped <= fields
    assert set(pair.model.model_fields) == (fields - pair.dropped) | pair.added


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_shared_fields_have_the_same_json_schema(pair: Pair) -> None:
    hints = typing.get_type_hints(pair.dataclass)
    shared = set(pair.model.model_fields) - pair.added - pair.retyped
    for name in sorted(shared):
        field = pair.model.model_fields[name]
        assert _schema(hints[name]) == _schema(field.annotation), f"{pair.model.__name__}.{name}"


def _body(value: Any) -> Any:
    """What the client receives: the body through orjson and back."""
    return json.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))


def test_real_bodies_validate_under_their_models() -> None:
    summary = SymbolSummary(
        "SPY", "alpaca", "iex", True, 3, 1, 1, 1, 0, 0, 900, date(2024, 3, 4), None, T0
    )
    SymbolSummaryModel.model_validate(_body(dataclasses.asdict(summary)))
    gap = GapRow(date(2024, 3, 4), CoverageStatus.IN_PROGRESS, 10, 5, 390, 960, False, T0, None)
    parsed = GapRowModel.model_validate(_body(gap.to_dict()))
    assert parsed.status is CoverageStatus.IN_PROGRESS
    job = JobRecord(
        "j1", "ingest", "k", {"a": 1}, "running", 1, 4, None, 1, None, "w", None, T0, T0, None
    )
    assert JobModel.model_validate(_body(job_body(job))).fraction == 0.25
    beat = Heartbeat("live", "w1", "working", 60.0, T0, lag_s=1.5, host="h", pid=7)
    view = HeartbeatModel.model_validate(_body(HeartbeatView(beat, 500.0, True).to_dict()))
    assert (view.state, view.reported_state) == ("stalled", "working")
    AlertInfo.model_validate(_body(Alert(1, T0, "live", "stalled", "m", None).to_dict()))
    build = BuildRecord("SPY", "abc", T0, T0, 10, 1, False, T0)
    FeatureBuildInfo.model_validate(_body(dataclasses.asdict(build)))
    action = CorporateAction("SPY", "forward_split", date(2024, 3, 4), ratio=4.0)
    ActionModel.model_validate(_body(dataclasses.asdict(action)))


def test_an_unlisted_difference_fails() -> None:
    """The parity check catches a field added on one side only (the drift it exists for)."""

    @dataclasses.dataclass
    class Grown:
        symbol: str
        rows: int
        new_field: float

    class Old(BaseModel):
        symbol: str
        rows: str

    with pytest.raises(AssertionError):
        test_field_names_match(Pair(Grown, Old))
    with pytest.raises(AssertionError):
        test_shared_fields_have_the_same_json_schema(
            Pair(Grown, Old, dropped=frozenset({"new_field"}))
        )
