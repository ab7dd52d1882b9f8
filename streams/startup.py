"""Before the worker consumes: create missing topics, check co-partitioning, register schemas.

Runs once per worker process before it joins its group. Creating the raw topics
(``cloudflare.<dataset>.v1``) here means a broker with topic auto-creation never makes
them with its default partition count; the changelog topics are created compacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry.error import SchemaRegistryError

from connector.clientconf import AuthFailures, registry_refusal
from schemas.registry import registry_client

from .codecs import Codecs, connect
from .settings import Settings
from .topics import co_partitioned, tables

log = logging.getLogger(__name__)


class TopologyError(RuntimeError):
    """Topics exist with partition counts the worker cannot process correctly."""


def partition_counts(admin: AdminClient, names: Iterable[str]) -> dict[str, int]:
    """Partition count of each existing topic in ``names`` (missing topics are absent)."""
    metadata = admin.list_topics(timeout=30)
    return {
        name: len(metadata.topics[name].partitions)
        for name in names
        if name in metadata.topics and metadata.topics[name].error is None
    }


def ensure_topics(
    admin: AdminClient, names: Iterable[str], partitions: int, replication: int,
    config: dict[str, str] | None = None,
) -> None:
    """Create each missing topic in ``names`` with ``partitions``; tolerate creation races."""
    names = list(names)
    existing = partition_counts(admin, names)
    missing = [n for n in names if n not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=replication,
                  config=config or {}) for n in missing],
        operation_timeout=30,
    )
    for name, future in futures.items():
        try:
            future.result()
            log.info("created topic %s (%d partitions)", name, partitions)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise


def check_partitions(counts: dict[str, int], expected: int, exactly_once: bool) -> list[str]:
    """Problems with ``counts`` (topic -> partitions); raise ``TopologyError`` under EOS."""
    problems = [
        f"{name} has {n} partitions, expected {expected}"
        for name, n in sorted(counts.items())
        if n != expected
    ]
    if problems and exactly_once:
        msg = (
            "exactly_once writes the output for source partition p in p's transaction, so "
            "raw, SIEM and DLQ topics need CFKAFKA_TOPIC_PARTITIONS partitions: "
            + "; ".join(problems)
        )
        raise TopologyError(msg)
    return problems


def resolve_replication(admin: AdminClient, replication: int) -> int:
    """``-1`` (broker default) -> min(3, brokers) for the changelog topics."""
    if replication > 0:
        return replication
    return max(1, min(3, len(admin.list_topics(timeout=30).brokers)))


def prepare(settings: Settings) -> Codecs:
    """Create and check topics (the changelogs compacted), register every SIEM schema;
    return the codecs."""
    refused = AuthFailures()
    admin = AdminClient(refused.watching(settings.client_conf()))
    topics = co_partitioned(settings)
    changelogs = list(tables(settings).values())
    try:
        ensure_topics(admin, topics, settings.topic_partitions, settings.replication_factor)
        ensure_topics(admin, changelogs, settings.topic_partitions,
                      resolve_replication(admin, settings.replication_factor),
                      {"cleanup.policy": "compact"})
        counts = partition_counts(admin, [*topics, *changelogs])
    except KafkaException:
        refused.check(admin)  # a refusal of the credentials: KafkaAuthError
        raise
    exactly_once = settings.processing_guarantee == "exactly_once"
    for problem in check_partitions(counts, settings.topic_partitions, exactly_once):
        log.warning("topic layout: %s", problem)
    try:
        return connect(registry_client(settings.registry_url, settings.registry_conf))
    except SchemaRegistryError as exc:
        settings_error = registry_refusal(exc, settings.registry_url)
        if settings_error is not None:
            raise settings_error from None  # exit 2, naming the settings
        raise
