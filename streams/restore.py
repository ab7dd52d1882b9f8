"""Catch the worker's tables up with their changelogs after every rebalance.

Faust 0.15 under exactly_once takes a changelog partition's recovery end ("highwater")
from the consumer's cached last stable offset, which is unknown until that partition was
fetched once; unknown becomes -1, the changelog is taken as empty and recovery is skipped.
After a crash (the local store discarded, see ``StreamsApp.discard_unclean_state``) the
dedup table would start empty and every raw event re-delivered from a partition that had
committed before the crash would be published again.

So the worker reads each active changelog partition itself, read_committed, from the
store's persisted offset (else the log start) to its end, and writes it to the store
before the raw partitions resume: ``catch_up`` runs on Faust's ``on_rebalance_complete``
signal, which the recovery manager awaits before it seeks and resumes the streams. When
Faust's own recovery did run, this reads only what it left (nothing, usually).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: librdkafka's "reached the end of the partition" event (``enable.partition.eof``)
_PARTITION_EOF = -191


@dataclass(frozen=True)
class Record:
    """One changelog record (value None: a tombstone)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None


def latest(records: Iterable[Record]) -> list[Record]:
    """The last record per (topic, partition, key), in offset order: what a store keeps."""
    last: dict[tuple[str, int, bytes], Record] = {}
    for record in records:
        last[(record.topic, record.partition, record.key)] = record
    return sorted(last.values(), key=lambda r: (r.topic, r.partition, r.offset))


def read_to_end(
    conf: Mapping[str, Any], starts: Mapping[tuple[str, int], int | None], timeout_s: float = 120.0
) -> tuple[list[Record], int]:
    """Read each (topic, partition) from its start (None: the log start) to its end.

    Blocking (run it in a thread). read_committed, so the end is the last stable offset:
    records of aborted transactions are skipped and an open transaction's are not read
    (they are aborted, or committed by a worker still owning them). Returns the compacted
    records (see ``latest``) and how many records were read. Raises ``TimeoutError`` when
    a partition does not reach its end within ``timeout_s``.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    if not starts:
        return [], 0
    consumer = Consumer(
        {
            **conf,
            "group.id": f"cfkafka-streams-restore-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.assign(
            [
                TopicPartition(t, p, OFFSET_BEGINNING if o is None else o)
                for (t, p), o in starts.items()
            ]
        )
        pending = set(starts)
        records: list[Record] = []
        read = 0
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                msg = (
                    f"changelog partitions not read to their end in {timeout_s:.0f} s:"
                    f" {sorted(pending)}"
                )
                raise TimeoutError(msg)
            for message in consumer.consume(10_000, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == _PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                        continue
                    msg = f"changelog read failed: {error}"
                    raise RuntimeError(msg)
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                key = message.key()
                if key is None or topic is None or partition is None or offset is None:
                    continue
                read += 1
                records.append(Record(topic, partition, offset, key, message.value()))
            if len(records) > 100_000:
                records = latest(records)
        return latest(records), read
    finally:
        consumer.close()


@dataclass(frozen=True)
class _Message:
    tp: Any
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None


@dataclass(frozen=True)
class _Event:
    message: _Message

    @property
    def key(self) -> bytes:
        """The key as the memory store expects it (raw bytes: the tables' keys are bytes)."""
        return self.message.key

    @property
    def value(self) -> Any:
        """The decoded value (the memory store keeps Python values; RocksDB the bytes)."""
        raw = self.message.value
        return None if raw is None else json.loads(raw)


def apply(table: Any, records: Iterable[Record]) -> int:
    """Write ``records`` (one changelog's) to ``table``'s store the way Faust's recovery
    does (``apply_changelog_batch``: values as stored, tombstones delete, the persisted
    offset advanced); return how many were applied."""
    from faust.types import TP

    events = [
        _Event(_Message(TP(r.topic, r.partition), r.topic, r.partition, r.offset, r.key, r.value))
        for r in records
    ]
    if events:
        table.apply_changelog_batch(events)
    return len(events)


def starts_for(table: Any, tps: Iterable[Any]) -> dict[tuple[str, int], int | None]:
    """Where to read each changelog partition from: after the store's persisted offset."""
    starts: dict[tuple[str, int], int | None] = {}
    for tp in tps:
        persisted = table.data.persisted_offset(tp)
        starts[(tp.topic, tp.partition)] = None if persisted is None else persisted + 1
    return starts


@dataclass
class Uncommitted:
    """Local table writes not yet covered by a committed transaction, per partition.

    Faust writes a table's local store as events are processed, before their transaction
    commits. On a rebalance it drops its transactional producers without committing (the
    next owner's producer fences and aborts the open transaction), so the store can keep
    keys whose outputs were aborted; the dedup table would then drop those events when they
    are delivered again: lost output. The worker notes the previous value of every write
    here, forgets a partition's notes when its transaction commits, and puts the previous
    values back (``rollback``) when partitions are revoked.
    """

    writes: dict[int, list[tuple[Any, bytes, bytes | None]]] = field(default_factory=dict)

    def note(self, table: Any, partition: int, key: bytes, previous: bytes | None) -> None:
        """``key`` of ``table`` (partition ``partition``) had ``previous`` (None: absent)."""
        self.writes.setdefault(partition, []).append((table, key, previous))

    def committed(self, partitions: Iterable[int]) -> None:
        """The transactions of ``partitions`` committed: their writes are final."""
        for partition in partitions:
            self.writes.pop(partition, None)

    def rollback(self) -> int:
        """Put every noted previous value back (newest first); return how many."""
        count = 0
        for partition, entries in self.writes.items():
            by_table: dict[Any, dict[bytes, bytes | None]] = {}
            for table, key, previous in reversed(entries):
                by_table.setdefault(table, {})[key] = previous  # the oldest wins
            for table, values in by_table.items():
                topic = table.changelog_topic.get_topic_name()
                offset = table.data.persisted_offset(_tp(topic, partition))
                apply(table, [Record(topic, partition, -1 if offset is None else offset, k, v)
                              for k, v in values.items()])
                count += len(values)
        self.writes.clear()
        return count


def _tp(topic: str, partition: int) -> Any:
    from faust.types import TP

    return TP(topic, partition)
