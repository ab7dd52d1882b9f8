"""Changelog-backed key-value state: one store per (table, partition), Kafka Streams style.

A table (``audit_logs-seen``, ``members-state``, ``alert-state``) has a compacted changelog
topic ``<app id>-<table>-changelog`` with one partition per source partition: the state of
source partition p lives in changelog partition p (the names and the record format, raw key
and JSON value, are the ones Faust used, so tables written by earlier versions restore).

Writes go to a pending overlay first; the worker produces their changelog records in the
open transaction and calls ``flush`` only after that transaction committed (``discard``
after an abort). So the local backend never holds a write whose transaction did not
commit, and a crash cannot leave state the changelog does not have: no "unclean state"
to throw away. The backend persists the next changelog offset to read with every flush,
atomically with the values (RocksDB write batch), so a restart or a partition coming back
reads only the changelog written since (``restore``).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: librdkafka's "reached the end of the partition" event (``enable.partition.eof``)
PARTITION_EOF = -191

_MISSING = object()


class Backend(Protocol):
    """Where one table partition's committed values live."""

    def get(self, key: bytes) -> bytes | None:
        """The stored value (None: absent)."""

    def write(self, values: Mapping[bytes, bytes | None], offset: int | None) -> None:
        """Set (None: delete) ``values`` and, if given, the next changelog offset, atomically."""

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every stored key and value."""

    def offset(self) -> int | None:
        """The next changelog offset to read (None: from the log start)."""

    def close(self) -> None:
        """Release the backend (its data stays, if it is persistent)."""


class MemoryBackend:
    """A dict (``memory://``: unit tests, and workers that restore from the log start)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._offset: int | None = None

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, values: Mapping[bytes, bytes | None], offset: int | None) -> None:
        for key, value in values.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        if offset is not None:
            self._offset = offset

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self.data.items()))

    def offset(self) -> int | None:
        return self._offset

    def close(self) -> None:
        self.data.clear()
        self._offset = None


class RocksBackend:
    """A RocksDB database per table partition (``rocksdb://``), values and the changelog
    offset in one write batch."""

    _OFFSET = b"changelog-offset"

    def __init__(self, path: Path) -> None:
        from rocksdict import BlockBasedOptions, Options, Rdict

        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        # Bloom filters (memtable and files): most lookups are new keys (dedup misses),
        # which then skip the skiplist and file searches (2.6 -> 0.5 µs a lookup here)
        options.set_memtable_whole_key_filtering(True)
        options.set_memtable_prefix_bloom_ratio(0.1)
        table = BlockBasedOptions()
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        self._db: Any = Rdict(str(path), options=options,
                              column_families={"meta": Options(raw_mode=True)})
        self._meta: Any = self._db.get_column_family_handle("meta")

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write(self, values: Mapping[bytes, bytes | None], offset: int | None) -> None:
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for key, value in values.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if offset is not None:
            batch.put(self._OFFSET, str(offset).encode(), self._meta)
        self._db.write(batch)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        yield from self._db.items()

    def offset(self) -> int | None:
        meta = self._db.get_column_family("meta")
        try:
            raw = meta.get(self._OFFSET)
        finally:
            del meta
        return None if raw is None else int(raw)

    def close(self) -> None:
        del self._meta
        self._db.close()
        del self._db


def encode(value: Any) -> bytes | None:
    """A changelog value: JSON (None: a tombstone)."""
    if type(value) is int:  # a dedup key's first-seen time: json.dumps's text, 10x faster
        return str(value).encode()
    return None if value is None else json.dumps(value, separators=(",", ":")).encode()


def decode(raw: bytes | None) -> Any:
    """A stored or changelog value back to Python (None stays None)."""
    return None if raw is None else json.loads(raw)


class Partition(Mapping[bytes, Any]):
    """One table partition: the committed backend plus the open transaction's writes.

    ``get`` is what ``streams.pipeline.process`` reads (a ``Mapping``-like lookup).
    """

    def __init__(self, table: str, topic: str, number: int, backend: Backend) -> None:
        self.table = table
        #: the changelog topic (records of this partition go to its partition ``number``)
        self.topic = topic
        self.number = number
        self.backend = backend
        self.pending: dict[bytes, bytes | None] = {}
        #: highest changelog offset delivered for the open transaction's reported writes
        self.delivered: int | None = None
        #: the open transaction's first write asked for its delivery report (``report``)
        self._reported = False

    def get(self, key: bytes, default: Any = None) -> Any:
        raw = self.pending.get(key, _MISSING)
        if raw is _MISSING:
            raw = self.backend.get(key)
        return default if raw is None else decode(raw)  # type: ignore[arg-type]

    def __getitem__(self, key: bytes) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None

    def __iter__(self) -> Iterator[bytes]:
        return (key for key, _ in self.items())

    # a set member (the transaction's touched partitions), by identity (``Mapping`` would
    # compare contents and be unhashable); object's slots, not Python methods: one set.add
    # per record
    __hash__ = object.__hash__
    __eq__ = object.__eq__

    def set(self, key: bytes, value: Any) -> bytes | None:
        """Write ``key`` (None: delete) in the open transaction; return the changelog value."""
        raw = encode(value)
        self.pending[key] = raw
        return raw

    def report(self) -> Callable[[Any, Any], None] | None:
        """``on_delivery`` for the open transaction's first changelog write, None after.

        The stored offset only has to be at or before the end of what the stored values
        hold: a restore then reads up to one transaction again (the same writes, in order),
        and every other record is spared a Python delivery callback.
        """
        if self._reported:
            return None
        self._reported = True
        return self.on_delivery

    def on_delivery(self, error: Any, message: Any) -> None:
        """Delivery report of one of this partition's changelog records (librdkafka thread
        -> served by ``poll``/``flush``/``commit_transaction``)."""
        if error is None and message.offset() is not None:
            offset = int(message.offset())
            if self.delivered is None or offset > self.delivered:
                self.delivered = offset

    def flush(self) -> int:
        """The transaction committed: its writes become the stored state; return how many."""
        count = len(self.pending)
        offset = None if self.delivered is None else self.delivered + 1
        if self.pending or offset is not None:
            self.backend.write(self.pending, offset)
        self.pending = {}
        self.delivered = None
        self._reported = False
        return count

    def discard(self) -> int:
        """The transaction aborted: forget its writes; return how many."""
        count = len(self.pending)
        self.pending = {}
        self.delivered = None
        self._reported = False
        return count

    def items(self) -> Iterator[tuple[bytes, Any]]:  # type: ignore[override]
        """Every key and value as the open transaction sees them."""
        pending = dict(self.pending)
        for key, raw in self.backend.items():
            if key in pending:
                continue
            yield key, decode(raw)
        for key, value in pending.items():
            if value is not None:
                yield key, decode(value)

    def __len__(self) -> int:
        return sum(1 for _ in self.items())


BackendFactory = Callable[[str, int], Backend]


def backend_factory(store: str, datadir: Path) -> BackendFactory:
    """``rocksdb://`` (one database per table partition under ``datadir``) or ``memory://``."""
    if store.startswith("memory:"):
        return lambda table, number: MemoryBackend()
    if store.startswith("rocksdb:"):
        return lambda table, number: RocksBackend(datadir / table / str(number))
    msg = f"STREAMS_STORE must be rocksdb:// or memory://, got {store!r}"
    raise ValueError(msg)


class Table:
    """A named table: its open partitions and its changelog topic."""

    def __init__(self, name: str, changelog: str, factory: BackendFactory) -> None:
        self.name = name
        self.changelog = changelog
        self._factory = factory
        self.partitions: dict[int, Partition] = {}

    def open(self, number: int) -> Partition:
        """The partition ``number`` (opened on first use)."""
        found = self.partitions.get(number)
        if found is None:
            found = Partition(self.name, self.changelog, number, self._factory(self.name, number))
            self.partitions[number] = found
        return found

    def close(self, number: int) -> None:
        """Close partition ``number`` (revoked); its pending writes must be gone by now."""
        found = self.partitions.pop(number, None)
        if found is not None:
            found.backend.close()

    def close_all(self) -> None:
        for number in list(self.partitions):
            self.close(number)


def wipe(datadir: Path) -> None:
    """Delete every local store (they are rebuilt from the changelogs)."""
    shutil.rmtree(datadir, ignore_errors=True)


def restore(
    conf: Mapping[str, Any], partitions: list[Partition], timeout_s: float = 300.0,
    batch: int = 10_000,
) -> int:
    """Read each partition's changelog from its stored offset to its end and store it.

    Blocking. read_committed, so the end is the last stable offset: records of aborted
    transactions are skipped, and an open transaction of a dead worker is not read (it
    aborts on its timeout). Writes go to the backend in batches with the offset after the
    last record applied, so an interrupted restore resumes. Returns how many records were
    read; raises ``TimeoutError`` when a partition does not reach its end in ``timeout_s``.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    if not partitions:
        return 0
    consumer = Consumer({
        **conf,
        "group.id": f"cfkafka-streams-restore-{time.time_ns()}",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    by_tp = {(p.topic, p.number): p for p in partitions}
    starts = {tp: part.backend.offset() for tp, part in by_tp.items()}
    read = 0
    try:
        consumer.assign([TopicPartition(t, n, OFFSET_BEGINNING if o is None else o)
                         for (t, n), o in starts.items()])
        pending = set(by_tp)
        values: dict[tuple[str, int], dict[bytes, bytes | None]] = {tp: {} for tp in by_tp}
        last: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + timeout_s

        def store(tp: tuple[str, int]) -> None:
            if tp in last:
                by_tp[tp].backend.write(values[tp], last[tp] + 1)
                values[tp] = {}

        while pending:
            if time.monotonic() > deadline:
                msg = f"changelogs not read to their end in {timeout_s:.0f} s: {sorted(pending)}"
                raise TimeoutError(msg)
            for message in consumer.consume(batch, timeout=0.5):
                error = message.error()
                tp = (message.topic(), message.partition())
                if error is not None:
                    if error.code() == PARTITION_EOF:
                        pending.discard(tp)
                        continue
                    msg = f"changelog read failed: {error}"
                    raise RuntimeError(msg)
                key = message.key()
                if key is None:
                    continue
                read += 1
                values[tp][key] = message.value()  # type: ignore[index]
                last[tp] = message.offset()  # type: ignore[index,assignment]
                if len(values[tp]) >= batch:  # type: ignore[index]
                    store(tp)  # type: ignore[arg-type]
        for tp in by_tp:
            store(tp)
        return read
    finally:
        consumer.close()
