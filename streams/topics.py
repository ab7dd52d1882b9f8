"""Topic names the streams worker reads and writes (DESIGN.md "Topics")."""

from __future__ import annotations

from faust.types import TopicT

from .app import app, settings

RAW_AUDIT_LOGS = "cloudflare.audit_logs.v1"
SIEM_AUDIT = "siem.audit.v1"
DLQ = "cloudflare.dlq.v1"
SEEN_TABLE = "audit_logs-seen"

#: Topics that must exist with the same partition count before the worker consumes:
#: under exactly-once, output for source partition p is written in p's transaction.
CO_PARTITIONED: tuple[str, ...] = (RAW_AUDIT_LOGS, SIEM_AUDIT, DLQ)

# Faust channels: raw bytes in and out (Avro is done by streams.codecs; never pickle).


def _bytes_topic(name: str) -> TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


raw_audit_logs = _bytes_topic(RAW_AUDIT_LOGS)
siem_audit = _bytes_topic(SIEM_AUDIT)
dead_letters = _bytes_topic(DLQ)
