"""Creating the connector's topics with the right partitions and cleanup policy."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connector.clientconf import AuthFailures

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic the connector writes to."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(
    kafka_conf: Mapping[str, str],
    specs: Sequence[TopicSpec],
    *,
    replication_factor: int = -1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing topics; return the names created. Raises ``KafkaException``."""
    refused = AuthFailures()
    admin = AdminClient(refused.watching(kafka_conf))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException:
        refused.check(admin)  # a refusal of the credentials: KafkaAuthError (exit 2)
        raise
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=replication_factor,
                config=dict(s.config),
            )
            for s in missing
        ],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    if created:
        log.info("created topics %s", ", ".join(sorted(created)))
    return created
