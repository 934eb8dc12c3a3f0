"""Logs and metrics: JSON log lines with request ids, Prometheus metrics."""
