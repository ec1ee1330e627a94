"""Ingestion: plan sessions from the calendar, fetch, validate, gap-scan, persist, record."""
