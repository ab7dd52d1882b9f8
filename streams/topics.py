"""Topic names the streams worker reads and writes (DESIGN.md "Topics")."""

from __future__ import annotations

from faust.types import TopicT

from .app import app, settings
from .routing import ALERTS, DATASETS, LEGACY_AUDIT, ROUTES

BY_TOPIC = {d.topic: d for d in DATASETS}

#: route name -> SIEM topic; the OCSF class schema decides the route (streams.routing)
SIEM_TOPICS: dict[str, str] = {r.name: r.topic for r in ROUTES}

RAW_AUDIT_LOGS = "cloudflare.audit_logs.v1"
#: deprecated flattened audit output (``schemas/siem.audit.avsc``); STREAMS_LEGACY_AUDIT
SIEM_AUDIT = LEGACY_AUDIT.topic
DLQ = "cloudflare.dlq.v1"
SEEN_TABLE = "audit_logs-seen"

#: the raw datasets this worker consumes (STREAMS_DATASETS)
ENABLED = tuple(d for d in DATASETS if d.name in settings.datasets)

#: Events the alert rules look at, keyed ``<rule uid>|<subject>`` and partitioned by that
#: key (a repartition: one subject's events meet in one partition, with its rule state).
#: Internal to the worker group (``STREAMS_APP_ID``), like Faust's own changelogs.
ALERT_EVENTS = f"{settings.app_id}-alert-events"
ALERTS_TOPIC = ALERTS.topic

#: Topics that must exist with the same partition count before the worker consumes:
#: under exactly-once, output for source partition p is written in p's transaction.
CO_PARTITIONED: tuple[str, ...] = (
    *(d.topic for d in ENABLED), *SIEM_TOPICS.values(), SIEM_AUDIT, DLQ,
    *((ALERT_EVENTS, ALERTS_TOPIC) if settings.alerts else ()),
)

# Faust channel: raw bytes in (Avro is done by streams.codecs; never pickle).
#: every enabled raw topic as one Faust channel (one agent, one stream: see streams.agents)
raw_topics: TopicT = app.topic(
    *(d.topic for d in ENABLED),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topic_partitions,
)

#: the alert agent's input (see ``ALERT_EVENTS``)
alert_events: TopicT = app.topic(
    ALERT_EVENTS,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topic_partitions,
)
