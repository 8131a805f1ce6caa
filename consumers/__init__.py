"""Sinks that read hub topics for other purposes (audit store, reports, alerts)."""
