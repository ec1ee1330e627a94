"""The use-case layer: every entry point (CLI, REST API, Python client, ``stockdb up``, job
handlers) calls these operations instead of assembling the parts itself.

- :mod:`stockdb.usecases.ingest`: ingest requests (one default range, the synthetic-data
  notice, the provider's lifetime, the corporate-action sync), run now or queued as a job.
- :mod:`stockdb.usecases.operations`: agent switches and their derived state, train and
  simulate submissions (validation, existence checks, dedupe keys), tracking symbols.
"""
