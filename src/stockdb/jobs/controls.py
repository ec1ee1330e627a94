"""Start/stop switches per agent, persisted in ``agent_controls`` so they survive restarts."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from stockdb.errors import InvalidInput
from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = ["AGENTS", "AgentControls", "check_agent"]

AGENTS = ("backfill", "live", "features")


def check_agent(name: str) -> str:
    """The agent name, lower-cased; InvalidInput when it is not one of :data:`AGENTS`."""
    agent = name.strip().lower()
    if agent not in AGENTS:
        raise InvalidInput(f"unknown agent {name!r}: use one of {', '.join(AGENTS)}")
    return agent


class AgentControls:
    """Whether each agent may take new work (an agent without a row is enabled)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        c = tables.agent_controls.c
        # built once: every submit and every running job's stop check asks this
        self._enabled = select(c.enabled).where(c.agent == bindparam("p_agent", type_=c.agent.type))

    def enabled(self, agent: str) -> bool:
        with self.store.engine.connect() as conn:
            value = conn.execute(self._enabled, {"p_agent": agent}).scalar()
        return True if value is None else bool(value)

    def all(self) -> dict[str, bool]:
        """Every known agent's switch."""
        c = tables.agent_controls.c
        with self.store.engine.connect() as conn:
            rows = dict(conn.execute(select(c.agent, c.enabled)).fetchall())
        return {a: bool(rows.get(a, True)) for a in AGENTS}

    def set(self, agent: str, enabled: bool) -> None:
        """Start (``enabled``) or stop ``agent``; raises InvalidInput for an unknown name."""
        name = check_agent(agent)
        with self.store.engine.begin() as conn:
            self.store.upsert(
                conn,
                tables.agent_controls,
                [{"agent": name, "enabled": enabled, "updated_at": self.store.clock.now()}],
                ["agent"],
            )
