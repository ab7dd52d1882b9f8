"""Topic and table names the streams worker reads and writes (DESIGN.md "Topics")."""

from __future__ import annotations

from .routing import ALERTS, DATASETS, LEGACY_AUDIT, ROUTES, Dataset
from .settings import Settings

BY_TOPIC = {d.topic: d for d in DATASETS}

#: route name -> SIEM topic; the OCSF class schema decides the route (streams.routing)
SIEM_TOPICS: dict[str, str] = {r.name: r.topic for r in ROUTES}

RAW_AUDIT_LOGS = "cloudflare.audit_logs.v1"
#: deprecated flattened audit output (``schemas/siem.audit.avsc``); STREAMS_LEGACY_AUDIT
SIEM_AUDIT = LEGACY_AUDIT.topic
DLQ = "cloudflare.dlq.v1"
ALERTS_TOPIC = ALERTS.topic
#: the alert rules' state table (``<rule uid>|<subject>`` -> the rule's state, JSON)
ALERT_TABLE = "alert-state"


def enabled(settings: Settings) -> tuple[Dataset, ...]:
    """The raw datasets this worker consumes (``STREAMS_DATASETS``)."""
    return tuple(d for d in DATASETS if d.name in settings.datasets)


def tables(settings: Settings) -> dict[str, str]:
    """Table name -> changelog topic, for every table the worker keeps."""
    names = [d.table for d in enabled(settings)]
    if settings.alerts:
        names.append(ALERT_TABLE)
    return {name: settings.changelog(name) for name in names}


def inputs(settings: Settings) -> tuple[str, ...]:
    """Every topic the worker consumes: the enabled raw topics, and the alert rules' inputs.

    Events the alert rules look at are keyed ``<rule uid>|<subject>`` and partitioned by
    that key (a repartition: one subject's events meet in one partition, with its rule
    state); the topic is internal to the worker group (``STREAMS_APP_ID``).
    """
    raw = tuple(d.topic for d in enabled(settings))
    return (*raw, settings.alert_events) if settings.alerts else raw


def co_partitioned(settings: Settings) -> tuple[str, ...]:
    """Topics that must have ``CFKAFKA_TOPIC_PARTITIONS`` partitions: the output of source
    partition p goes to partition p (and its state to changelog partition p)."""
    return (
        *(d.topic for d in enabled(settings)), *SIEM_TOPICS.values(), SIEM_AUDIT, DLQ,
        *((settings.alert_events, ALERTS_TOPIC) if settings.alerts else ()),
    )
