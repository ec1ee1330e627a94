"""Names vulture cannot see being used: frameworks call them (pydantic, http.server, Huey,
the module-level ``__getattr__`` protocol, file-like objects), dataclass and schema fields
that are serialised rather than read, and public Python API. ``make check`` runs vulture with
this file; add a name here only when a framework or a caller outside this repository uses it.
"""

# ruff: noqa
from stockdb.testing import fake_alpaca

_ = object()

# module-level __getattr__ (PEP 562): stockdb.open and friends resolved lazily
__getattr__  # stockdb/__init__.py

# pydantic / pydantic-settings configuration and response-schema fields
_.model_config
_.feature_reasons  # api/routes/actions.py response field
_.reported_state  # api/schemas.py response fields
_.next_step
_.logger
_.stage
_.stale_partitions
_.first_stale
_.damaged_partitions

# file-like protocol used by the streaming Parquet response (api/tables.py)
_.tell
_.writable

# signal handlers get (signum, frame)
signum

# http.server hooks and settings in the fake Alpaca server
_.daemon_threads
_.allow_reuse_address
_.handle_error
client_address
_.protocol_version
_.disable_nagle_algorithm
_.log_message
_.do_GET
_.close_connection

# Huey consumer hooks overridden in jobs/queue.py and its shutdown setting in jobs/runtime.py
_._set_signal_handlers
_._create_worker
_.shutdown_timeout
# Huey hooks jobs/queue.py replaces: no revocation, schema kept on one connection
_.is_revoked
_.revoke
_.revoke_all
_.initialize_schema

# dataclass fields reported in summaries, job results and the API (serialised via asdict)
_.source_partitions  # features/builder.py
_.recursive  # features/definitions.py
_.sessions_planned  # ingest/backfill.py
_.checksum  # state/ledger.py
_.written_at

# public Python API (stockdb.open(...).build_features) and the dashboard's REST client
_.build_features
_.cancel_job
_.damaged_count  # state/ledger.py: the damaged-partition count /health reports

# pytest reads these module attributes; uvicorn reads should_exit
pytestmark
_.should_exit

# tests/unit/api/test_schema_parity.py: a dataclass field that exists only to be the drift under test
_.new_field
