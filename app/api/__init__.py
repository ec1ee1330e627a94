"""Compatibility package: the REST API lives in :mod:`stockdb.api`."""
