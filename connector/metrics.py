"""Prometheus metrics of the connector (served on ``CFKAFKA_METRICS_PORT`` when set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS = Counter("cfkafka_events_total", "Events published (committed)", ["feed"])
DLQ = Counter("cfkafka_dlq_total", "Records sent to the dead-letter topic", ["feed"])
TRANSACTIONS = Counter("cfkafka_transactions_total", "Kafka transactions committed", ["feed"])
TRANSACTION_FAILURES = Counter(
    "cfkafka_transaction_failures_total", "Kafka transactions that failed (aborted)", ["feed"]
)
CURSOR_LAG = Gauge(
    "cfkafka_cursor_lag_seconds", "Now minus the committed position of the feed", ["feed", "scope"]
)
