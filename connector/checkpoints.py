"""Checkpoints in a compacted Kafka topic, on Kafka Connect's offsets-topic model.

Key = canonical JSON of the source partition (``{"account":"...","feed":"audit_logs"}``),
value = JSON of the offset (flat primitives). The checkpoint record is written by the
publisher in the same transaction as the records it covers; the store only reads
(``read_committed``, so aborted checkpoints never count) and builds the record.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connector.errors import CheckpointError
from connector.records import OutRecord

OFFSETS_TOPIC = "cloudflare-connector.offsets"
COMMITS_TOPIC = "cloudflare-connector.commits"
log = logging.getLogger(__name__)

Offset = dict[str, Any]


def partition_key(partition: Mapping[str, str]) -> bytes:
    """Canonical JSON bytes of a source partition."""
    return json.dumps(dict(partition), sort_keys=True, separators=(",", ":")).encode()


def commit_record(partition: Mapping[str, str], details: Mapping[str, Any]) -> OutRecord:
    """The audit-trail record of one committed range (``cloudflare-connector.commits``).

    Written in the same transaction as the records and the checkpoint, so the topic lists
    every range that was committed, with its counts: completeness can be audited.
    """
    return OutRecord(
        COMMITS_TOPIC,
        partition_key(partition),
        json.dumps({**partition, **details}, sort_keys=True, separators=(",", ":")).encode(),
    )


class CheckpointStore(Protocol):
    """Reads committed checkpoints and builds the record that commits a new one."""

    def load(self, partition: Mapping[str, str]) -> Offset | None:
        """The last committed offset of ``partition``, or None."""

    def record(self, partition: Mapping[str, str], offset: Offset) -> OutRecord:
        """The record that, committed in a transaction, moves ``partition`` to ``offset``."""


class MemoryCheckpointStore:
    """A store for tests: ``commit`` is called by a fake publisher."""

    topic = OFFSETS_TOPIC

    def __init__(self) -> None:
        """Start empty."""
        self.offsets: dict[bytes, Offset] = {}

    def load(self, partition: Mapping[str, str]) -> Offset | None:
        """The last committed offset of ``partition``."""
        return self.offsets.get(partition_key(partition))

    def record(self, partition: Mapping[str, str], offset: Offset) -> OutRecord:
        """The checkpoint record."""
        return OutRecord(self.topic, partition_key(partition), json.dumps(offset).encode())

    def apply(self, record: OutRecord) -> None:
        """Take a committed checkpoint record into account."""
        assert record.key is not None and record.value is not None  # noqa: S101
        self.offsets[record.key] = json.loads(record.value)


class KafkaCheckpointStore:
    """Reads the offsets topic to its end with ``isolation.level=read_committed``."""

    def __init__(
        self, kafka_conf: Mapping[str, str], *, topic: str = OFFSETS_TOPIC, timeout_s: float = 30
    ) -> None:
        """``kafka_conf`` holds bootstrap.servers and security settings."""
        self.topic = topic
        self._conf = dict(kafka_conf)
        self._timeout_s = timeout_s

    def load(self, partition: Mapping[str, str]) -> Offset | None:
        """The last committed offset of ``partition`` (reads the whole topic)."""
        return self.load_all().get(partition_key(partition))

    def load_all(self) -> dict[bytes, Offset]:
        """Every committed checkpoint, by partition key."""
        consumer = Consumer(
            {
                **self._conf,
                "group.id": "cfkafka-offsets-reader",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            return self._read(consumer)
        except KafkaException as exc:
            msg = f"cannot read checkpoints from {self.topic}: {exc}"
            raise CheckpointError(msg) from exc
        finally:
            consumer.close()

    def _read(self, consumer: Consumer) -> dict[bytes, Offset]:
        """Read every partition up to its high watermark as of now.

        ``read_committed`` stops at the last stable offset while another transaction is open
        (another feed's, or a crashed predecessor's until it is fenced); reading only to that
        point could miss our own newer checkpoint, so wait until the position passes the
        high watermark taken at the start, i.e. until those transactions are resolved.
        """
        metadata = consumer.list_topics(self.topic, timeout=self._timeout_s)
        topic_meta = metadata.topics.get(self.topic)
        if topic_meta is None or topic_meta.error is not None:
            msg = f"offsets topic {self.topic} is not available: {topic_meta and topic_meta.error}"
            raise CheckpointError(msg)
        ends: dict[int, int] = {}
        for p in topic_meta.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=self._timeout_s
            )
            if high > low:
                ends[p] = high
        offsets: dict[bytes, Offset] = {}
        if not ends:
            return offsets
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + self._timeout_s * 4
        while ends:
            if time.monotonic() > deadline:
                msg = f"timed out reading {self.topic} to its end (an open transaction?)"
                raise CheckpointError(msg)
            message = consumer.poll(0.5)
            if message is not None:
                error = message.error()
                if error is None:
                    self._apply(offsets, message.key(), message.value())
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
            positions = consumer.position([TopicPartition(self.topic, p) for p in ends])
            for tp in positions:
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
        return offsets

    @staticmethod
    def _apply(offsets: dict[bytes, Offset], key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            offsets.pop(key, None)
        else:
            offsets[key] = json.loads(value)

    def record(self, partition: Mapping[str, str], offset: Offset) -> OutRecord:
        """The checkpoint record for ``partition``."""
        return OutRecord(
            self.topic,
            partition_key(partition),
            json.dumps(offset, sort_keys=True, separators=(",", ":")).encode(),
        )
