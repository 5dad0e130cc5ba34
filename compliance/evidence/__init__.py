"""Detector evidence: finding schema, ingestion, blob store, custody, correlation into cases."""
