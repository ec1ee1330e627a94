"""The state store's tables (SQLAlchemy Core), portable between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "agent_controls",
    "alerts",
    "corporate_actions",
    "coverage",
    "feature_builds",
    "feature_partitions",
    "feature_sets",
    "heartbeats",
    "jobs",
    "lake_locks",
    "logs",
    "metadata",
    "models",
    "partition_files",
    "schema_version",
    "simulations",
    "symbols",
]

metadata = MetaData()
TS = DateTime(timezone=True)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", TS, nullable=False),
)

symbols = Table(
    "symbols",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("feed", String(32), nullable=False),
    Column("tracked", Boolean, nullable=False, default=False),
    Column("added_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

coverage = Table(
    "coverage",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("session_date", Date, primary_key=True),
    Column("rows", Integer, nullable=False),
    Column("regular_rows", Integer, nullable=False),
    Column("first_ts", TS),
    Column("last_ts", TS),
    Column("status", String(16), nullable=False),  # a CoverageStatus (never missing)
    Column("source", String(32), nullable=False),
    Column("feed", String(32), nullable=False),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, default=1),
    Column("fetched_at", TS, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(200), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # queued|running|succeeded|failed|cancelled
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("worker", String(200)),
    Column("result", JSON),
    Column("created_at", TS, nullable=False),
    Column("started_at", TS),
    Column("finished_at", TS),
    Column("heartbeat_at", TS),
    Index("ix_jobs_key_status", "key", "status"),
    Index("ix_jobs_status", "status"),
    # At most one queued-or-running job per key, across processes (jobs dedupe).
    Index(
        "ux_jobs_active_key",
        "key",
        unique=True,
        sqlite_where=text("status IN ('queued', 'running')"),
        postgresql_where=text("status IN ('queued', 'running')"),
    ),
)

logs = Table(
    "logs",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("ts", TS, nullable=False),
    Column("level", String(10), nullable=False),
    Column("logger", String(100)),
    Column("agent", String(32)),
    Column("symbol", String(16)),
    Column("stage", String(32)),
    Column("job_id", String(36)),
    Column("message", Text, nullable=False),
    Column("extra", JSON),
    Index("ix_logs_ts", "ts"),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("agent", String(32), primary_key=True),
    Column("worker", String(200), primary_key=True),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # idle|working|paused|stalled|error
    Column("current_job", String(36)),
    Column("progress_done", Integer),
    Column("progress_total", Integer),
    Column("last_success", TS),
    Column("next_step", Text),
    Column("lag_s", Float),
    Column("interval_s", Float, nullable=False),
    Column("updated_at", TS, nullable=False),
)

agent_controls = Table(
    "agent_controls",
    metadata,
    Column("agent", String(32), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", TS, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", TS, nullable=False),
    Column("agent", String(32)),
    Column("kind", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("resolved_at", TS),
)

feature_sets = Table(
    "feature_sets",
    metadata,
    Column("feature_name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("params_hash", String(64), primary_key=True),
    Column("params", JSON, nullable=False),
    Column("code_ref", String(300), nullable=False),
    Column("set_hash", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
)

feature_builds = Table(
    "feature_builds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(16), nullable=False),
    Column("set_hash", String(64), nullable=False),
    Column("first_ts", TS),
    Column("last_ts", TS),
    Column("rows", Integer, nullable=False),
    Column("partitions", Integer, nullable=False),
    Column("full", Boolean, nullable=False),
    Column("built_at", TS, nullable=False),
    Index("ix_feature_builds_symbol", "symbol"),
)

# One row per written feature partition: which set built it from which bars (fingerprint).
feature_partitions = Table(
    "feature_partitions",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("session_date", Date, primary_key=True),
    Column("set_hash", String(64), nullable=False),
    Column("source_fingerprint", String(100), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("built_at", TS, nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", TS, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("tickers", JSON, nullable=False),
    Column("target", String(32), nullable=False),
    Column("horizon", Integer, nullable=False),
    Column("features", JSON, nullable=False),
    Column("feature_set_hash", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("windows", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("class_balance", JSON),
    Column("library_versions", JSON, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("stale", Boolean, nullable=False, default=False),
)

simulations = Table(
    "simulations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("model_id", String(64), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("benchmark_metrics", JSON, nullable=False),
    Column("overlaps_training", Boolean, nullable=False),
    Column("equity_path", Text, nullable=False),
    Column("trades_path", Text, nullable=False),
    Column("stale", Boolean, nullable=False, default=False),
    UniqueConstraint("id"),
)

# Per-symbol writer leases (lake/shared_locks.py) when the state store is not PostgreSQL.
lake_locks = Table(
    "lake_locks",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
)

# Splits and cash dividends per symbol (stockdb.corporate); bars stay raw, adjusted on read.
corporate_actions = Table(
    "corporate_actions",
    metadata,
    Column("symbol", String(16), primary_key=True),
    Column("type", String(32), primary_key=True),  # forward_split|reverse_split|cash_dividend
    Column("ex_date", Date, primary_key=True),
    Column("ratio", Float),  # splits: new shares / old shares
    Column("cash_amount", Float),  # cash dividends: per share
    Column("source", String(32), nullable=False),  # alpaca|synthetic|file
    Column("fetched_at", TS, nullable=False),
)

# The integrity ledger: every partition file written (bars and features), with its row count,
# size and content checksum at write time; ``status`` is ok|damaged|missing once checked.
partition_files = Table(
    "partition_files",
    metadata,
    Column("kind", String(16), primary_key=True),  # bars|features
    Column("rel_path", String(400), primary_key=True),  # relative to the kind's root folder
    Column("symbol", String(16), nullable=False),
    Column("session_date", Date, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(64), nullable=False),
    # The previous write's size and checksum: a crash between recording and renaming leaves
    # the old file, which must still verify.
    Column("prev_size", BigInteger),
    Column("prev_checksum", String(64)),
    Column("status", String(16), nullable=False, default="ok"),
    Column("problem", Text),
    Column("written_at", TS, nullable=False),
    Index("ix_partition_files_symbol", "kind", "symbol"),
)
