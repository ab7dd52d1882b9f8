"""The published roster (Kafka key -> fingerprint), rebuilt from its compacted topic.

Each roster record carries its user's fingerprint in the ``cf.fingerprint`` header and a
removed user is a tombstone, so folding the committed records in order (``apply_record``)
gives the roster the topic holds, without the registry or Avro decoding. ``load_roster``
does that over Kafka with ``read_committed``; ``roster_digest`` summarizes a roster for the
checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connector.errors import CheckpointError
from connector.records import OutRecord
from connector.roster_feeds import Fingerprint

Roster = dict[str, Fingerprint]  # Kafka key -> fingerprint


def roster_digest(roster: Mapping[str, Fingerprint]) -> str:
    """sha256 of the whole ``key -> fingerprint`` map (order-independent)."""
    text = json.dumps(roster, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def apply_record(
    roster: Roster, key: bytes | None, value: bytes | None, headers: Iterable[Any] | None,
    key_prefix: str = "",
) -> None:
    """Fold one committed topic record into ``roster`` (a tombstone removes the key)."""
    if key is None or not key.decode(errors="replace").startswith(key_prefix):
        return
    name = key.decode(errors="replace")
    if value is None:
        roster.pop(name, None)
        return
    found = {k: v for k, v in headers or () if k == "cf.fingerprint" and v is not None}
    try:
        parsed = json.loads(found.get("cf.fingerprint", b"{}"))
    except ValueError:
        parsed = {}
    ok = isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values())
    roster[name] = parsed if ok else {}  # {} never matches: the user is republished once


def replay(records: Iterable[OutRecord], topic: str, key_prefix: str = "") -> Roster:
    """The roster that ``records`` (committed, in order) leave in ``topic``."""
    roster: Roster = {}
    for r in records:
        if r.topic == topic:
            apply_record(roster, r.key, r.value, r.headers, key_prefix)
    return roster


class RosterReader(Protocol):
    """Rebuilds the published roster from its topic."""

    def load(self, topic: str, key_prefix: str) -> Roster:
        """Every committed key starting with ``key_prefix`` and its fingerprint."""


class KafkaRosterReader:
    """Reads a compacted roster topic with ``read_committed`` to its high watermark."""

    def __init__(self, kafka_conf: Mapping[str, str], *, timeout_s: float = 30.0) -> None:
        """``kafka_conf`` holds bootstrap.servers and security settings."""
        self._conf = dict(kafka_conf)
        self._timeout_s = timeout_s

    def load(self, topic: str, key_prefix: str) -> Roster:
        """See ``load_roster``."""
        return load_roster(self._conf, topic, key_prefix, timeout_s=self._timeout_s)


def load_roster(
    kafka_conf: Mapping[str, str], topic: str, key_prefix: str = "", *, timeout_s: float = 30.0
) -> Roster:
    """Read ``topic`` from the start to the high watermarks taken now; raise CheckpointError.

    Like the offsets topic: ``read_committed`` stops at the last stable offset while a
    transaction is open, so wait until every partition's position passes its high watermark.
    Call it after the publisher's ``start`` has fenced (and so aborted) a predecessor.
    """
    consumer = Consumer({
        **kafka_conf, "group.id": "cfkafka-roster-reader", "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    roster: Roster = {}
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            msg = f"roster topic {topic} is not available: {meta and meta.error}"
            raise CheckpointError(msg)
        ends: dict[int, int] = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                       timeout=timeout_s)
            if high > low:
                ends[p] = high
        if ends:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + timeout_s * 4
        while ends:
            if time.monotonic() > deadline:
                msg = f"timed out reading {topic} to its end (an open transaction?)"
                raise CheckpointError(msg)
            message = consumer.poll(0.5)
            if message is not None:
                error = message.error()
                if error is None:
                    apply_record(roster, message.key(), message.value(), message.headers(),
                                 key_prefix)
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    except KafkaException as exc:
        msg = f"cannot read the roster from {topic}: {exc}"
        raise CheckpointError(msg) from exc
    finally:
        consumer.close()
    return roster
