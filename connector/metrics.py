"""Prometheus metrics of the connector (served on ``CFKAFKA_METRICS_PORT`` when set)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

EVENTS = Counter("cfkafka_events_total", "Events published (committed)", ["feed"])
BYTES = Counter("cfkafka_bytes_total", "Bytes of record values published (committed)", ["feed"])
DLQ = Counter("cfkafka_dlq_total", "Records sent to the dead-letter topic", ["feed"])
TRANSACTIONS = Counter("cfkafka_transactions_total", "Kafka transactions committed", ["feed"])
TRANSACTION_FAILURES = Counter(
    "cfkafka_transaction_failures_total", "Kafka transactions that failed (aborted)", ["feed"]
)
CURSOR_LAG = Gauge(
    "cfkafka_cursor_lag_seconds", "Now minus the committed position of the feed", ["feed", "scope"]
)
LAST_COMMIT = Gauge(
    "cfkafka_last_commit_timestamp_seconds",
    "Unix time of the last committed checkpoint (checkpoint age = time() - this)",
    ["feed", "scope"],
)
API_RESPONSES = Counter(
    "cfkafka_api_responses_total",
    "Cloudflare API answers by HTTP status ('error': no answer, e.g. a reset connection); "
    "errors are status >= 400 or 'error', rate limiting is status 429",
    ["status"],
)


def committed(feed: str, scope: str, *, events: int, dead_letters: int, value_bytes: int) -> None:
    """Count one committed transaction of ``feed`` x ``scope``."""
    EVENTS.labels(feed).inc(events)
    BYTES.labels(feed).inc(value_bytes)
    DLQ.labels(feed).inc(dead_letters)
    TRANSACTIONS.labels(feed).inc()
    LAST_COMMIT.labels(feed, scope).set(time.time())
