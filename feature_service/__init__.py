"""Compatibility entry point: ``python -m feature_service.main [SYMBOL ...]`` from the repo root."""
