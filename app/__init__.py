"""Compatibility package for the spec's entry point ``uvicorn app.api.main:app``."""
