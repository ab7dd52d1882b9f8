"""streams.state: the pending overlay, flush after commit (values and the next changelog
offset in one write), discard after abort, tombstones, RocksDB reopening, and the
``latest`` semantics of a compacted changelog (the last write of a key wins)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from fake_kafka import FakeMessage

from streams.state import (
    Backend,
    MemoryBackend,
    Partition,
    RocksBackend,
    Table,
    backend_factory,
    decode,
    encode,
    restore,
)


class Delivered:
    """A delivery report's message (only ``offset`` is read)."""

    def __init__(self, offset: int | None) -> None:
        self._offset = offset

    def offset(self) -> int | None:
        return self._offset


@pytest.fixture(params=["memory", "rocksdb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    found = RocksBackend(tmp_path / "t" / "0")
    yield found
    found.close()


def _partition(backend: Backend) -> Partition:
    return Partition("audit_logs-seen", "app-audit_logs-seen-changelog", 0, backend)


def test_pending_writes_are_visible_but_not_stored(backend: Backend):
    part = _partition(backend)
    assert part.set(b"k", {"n": 1}) == b'{"n":1}'
    assert part.get(b"k") == {"n": 1}
    assert part[b"k"] == {"n": 1} and b"k" in part
    assert backend.get(b"k") is None
    assert part.get(b"other", "default") == "default"
    with pytest.raises(KeyError):
        part[b"other"]


def test_flush_stores_the_writes_and_the_offset_after_the_last_delivered(backend: Backend):
    part = _partition(backend)
    part.set(b"a", 1)
    part.set(b"b", 2)
    for offset in (7, 9, 8):  # delivery reports in any order: the highest counts
        part.on_delivery(None, Delivered(offset))
    part.on_delivery("broker down", Delivered(50))  # a failed delivery is no progress
    assert part.flush() == 2
    assert (backend.get(b"a"), backend.get(b"b")) == (b"1", b"2")
    assert backend.offset() == 10
    assert part.pending == {} and part.delivered is None
    assert part.get(b"a") == 1


def test_flush_without_deliveries_keeps_the_stored_offset(backend: Backend):
    part = _partition(backend)
    part.set(b"a", 1)
    part.on_delivery(None, Delivered(3))
    part.flush()
    part.set(b"b", 2)
    assert part.flush() == 1
    assert backend.offset() == 4
    assert backend.get(b"b") == b"2"


def test_discard_forgets_the_writes_and_the_deliveries(backend: Backend):
    part = _partition(backend)
    part.set(b"kept", 1)
    part.on_delivery(None, Delivered(0))
    part.flush()
    part.set(b"kept", 2)
    part.set(b"gone", 3)
    part.on_delivery(None, Delivered(5))
    assert part.discard() == 2
    assert part.get(b"kept") == 1 and part.get(b"gone") is None
    assert part.flush() == 0
    assert backend.offset() == 1, "an aborted transaction's offsets are not stored"


def test_a_tombstone_hides_the_stored_value_and_deletes_it_on_flush(backend: Backend):
    part = _partition(backend)
    part.set(b"k", 1)
    part.flush()
    assert part.set(b"k", None) is None
    assert part.get(b"k") is None and b"k" not in part
    assert backend.get(b"k") == b"1"
    part.flush()
    assert backend.get(b"k") is None
    assert list(part.items()) == []


def test_items_merge_pending_writes_over_stored_values(backend: Backend):
    part = _partition(backend)
    for key, value in ((b"a", 1), (b"b", 2), (b"c", 3)):
        part.set(key, value)
    part.flush()
    part.set(b"b", 20)
    part.set(b"c", None)
    part.set(b"d", 4)
    assert dict(part.items()) == {b"a": 1, b"b": 20, b"d": 4}
    assert sorted(part) == [b"a", b"b", b"d"]
    assert len(part) == 3


def test_the_last_write_of_a_key_wins_like_a_compacted_changelog(backend: Backend):
    # what ``restore`` applies in one batch: later records of a key replace earlier ones
    records = [(b"a", encode(1)), (b"b", encode(1)), (b"a", None), (b"c", encode(2)),
               (b"c", encode(3))]
    values: dict[bytes, bytes | None] = {}
    for key, value in records:
        values[key] = value
    backend.write(values, len(records))
    assert backend.get(b"a") is None
    assert decode(backend.get(b"b")) == 1 and decode(backend.get(b"c")) == 3
    assert sorted(k for k, _ in backend.items()) == [b"b", b"c"]
    assert backend.offset() == len(records)


def test_an_empty_partition_is_falsy_but_not_missing(backend: Backend):
    part = _partition(backend)
    assert not part and part.get(b"x") is None
    assert part == part and part != _partition(MemoryBackend())
    assert len({part, part}) == 1


def test_rocksdb_reopens_with_its_values_and_offset(tmp_path: Path):
    path = tmp_path / "alert-state" / "2"
    first = RocksBackend(path)
    part = Partition("alert-state", "app-alert-state-changelog", 2, first)
    part.set(b"rule|user:a", {"events": [1, 2]})
    part.set(b"gone", 1)
    part.on_delivery(None, Delivered(41))
    part.flush()
    part.set(b"gone", None)
    part.set(b"later", 5)
    part.on_delivery(None, Delivered(42))
    part.flush()
    part.set(b"never", 6)  # never flushed (the transaction did not commit)
    first.close()

    again = RocksBackend(path)
    try:
        assert again.offset() == 43
        stored = dict(again.items())
        assert set(stored) == {b"rule|user:a", b"later"}
        assert decode(stored[b"rule|user:a"]) == {"events": [1, 2]}
        assert b"changelog-offset" not in stored, "the offset is not a table key"
    finally:
        again.close()


def test_a_new_rocksdb_has_no_offset(tmp_path: Path):
    fresh = RocksBackend(tmp_path / "x" / "0")
    try:
        assert fresh.offset() is None and list(fresh.items()) == []
        fresh.write({}, 5)
        assert fresh.offset() == 5
    finally:
        fresh.close()


def test_memory_backend_close_forgets_everything():
    backend = MemoryBackend()
    backend.write({b"k": b"1"}, 3)
    backend.close()
    assert (backend.get(b"k"), backend.offset()) == (None, None)


def test_backend_factory(tmp_path: Path):
    memory = backend_factory("memory://", tmp_path)
    first, second = memory("t", 0), memory("t", 0)
    assert isinstance(first, MemoryBackend) and first is not second
    rocks = backend_factory("rocksdb://", tmp_path)("members-state", 3)
    try:
        assert isinstance(rocks, RocksBackend)
        rocks.write({b"k": b"1"}, None)
        assert (tmp_path / "members-state" / "3").is_dir()
    finally:
        rocks.close()
    with pytest.raises(ValueError, match="rocksdb:// or memory://"):
        backend_factory("redis://", tmp_path)


def test_table_opens_each_partition_once_and_closes_it():
    opened: list[tuple[str, int]] = []
    closed: list[int] = []

    class Tracked(MemoryBackend):
        def close(self) -> None:
            closed.append(1)
            super().close()

    def factory(table: str, number: int) -> Backend:
        opened.append((table, number))
        return Tracked()

    table = Table("audit_logs-seen", "app-audit_logs-seen-changelog", factory)
    part = table.open(1)
    assert table.open(1) is part
    assert (part.topic, part.number, part.table) == (
        "app-audit_logs-seen-changelog", 1, "audit_logs-seen")
    table.open(2)
    assert opened == [("audit_logs-seen", 1), ("audit_logs-seen", 2)]
    table.close(1)
    table.close(7)  # not open: nothing to do
    assert set(table.partitions) == {2} and closed == [1]
    table.close_all()
    assert table.partitions == {} and closed == [1, 1]


@pytest.mark.parametrize("value", [None, 0, "x", {"a": [1, None]}])
def test_encode_decode_round_trip(value: Any):
    assert decode(encode(value)) == value
    assert (encode(value) is None) == (value is None)


# --- restore: a fake confluent_kafka.Consumer (``restore`` imports it when called) ---------


Record = FakeMessage  # a changelog record or the end-of-partition event


class Changelogs:
    """The changelog partitions a fake consumer reads (``logs``), and what it was asked."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list[Record]] = {}
        self.confs: list[dict[str, Any]] = []
        self.assigned: list[tuple[str, int, int]] = []
        self.closed = 0
        self.stuck = False
        self.broken: KafkaError | None = None

    def add(self, topic: str, partition: int, *records: tuple[bytes | None, Any]) -> None:
        log = self.logs.setdefault((topic, partition), [])
        for key, value in records:
            log.append(Record(topic, partition, len(log), key, encode(value)))

    def consumer(self, conf: dict[str, Any]) -> Any:
        self.confs.append(conf)
        outer = self

        class Consumer:
            def __init__(self) -> None:
                self.positions: dict[tuple[str, int], int] = {}
                self.eof: set[tuple[str, int]] = set()

            def assign(self, tps: list[TopicPartition]) -> None:
                for tp in tps:
                    outer.assigned.append((tp.topic, tp.partition, tp.offset))
                    self.positions[(tp.topic, tp.partition)] = (
                        0 if tp.offset == OFFSET_BEGINNING else tp.offset)

            def consume(self, num_messages: int, timeout: float) -> list[Record]:
                if outer.broken is not None:
                    return [Record("t", 0, 0, None, None, outer.broken)]
                if outer.stuck:
                    return []
                out: list[Record] = []
                for tp, position in sorted(self.positions.items()):
                    log = outer.logs.get(tp, [])
                    taken = log[position:position + num_messages - len(out)]
                    out += taken
                    self.positions[tp] = position + len(taken)
                    if self.positions[tp] >= len(log) and tp not in self.eof:
                        self.eof.add(tp)
                        out.append(Record(*tp, len(log), None, None,
                                          KafkaError(KafkaError._PARTITION_EOF)))  # noqa: SLF001
                return out

            def close(self) -> None:
                outer.closed += 1

        return Consumer()


class Recording(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[dict[bytes, bytes | None], int | None]] = []

    def write(self, values: Mapping[bytes, bytes | None], offset: int | None) -> None:
        self.writes.append((dict(values), offset))
        super().write(values, offset)


@pytest.fixture
def changelogs(monkeypatch: pytest.MonkeyPatch) -> Changelogs:
    found = Changelogs()
    monkeypatch.setattr(confluent_kafka, "Consumer", found.consumer)
    return found


CHANGELOG = "app-audit_logs-seen-changelog"


def test_restore_applies_the_last_write_of_each_key_and_stores_the_next_offset(
    changelogs: Changelogs,
):
    changelogs.add(CHANGELOG, 0, (b"a", 1), (b"b", 1), (b"a", None), (b"c", 2), (b"c", 3),
                   (None, 9))
    changelogs.add(CHANGELOG, 1, (b"z", 5))
    zero = Partition("audit_logs-seen", CHANGELOG, 0, MemoryBackend())
    one = Partition("audit_logs-seen", CHANGELOG, 1, MemoryBackend())
    zero.backend.write({b"a": encode(0)}, None)  # a stored key the changelog deletes
    assert restore({"bootstrap.servers": "x:1"}, [zero, one]) == 6
    assert dict(zero.items()) == {b"b": 1, b"c": 3}
    assert dict(one.items()) == {b"z": 5}
    assert (zero.backend.offset(), one.backend.offset()) == (5, 1)
    (conf,) = changelogs.confs
    assert conf["isolation.level"] == "read_committed"
    assert conf["enable.partition.eof"] is True and conf["enable.auto.commit"] is False
    assert conf["bootstrap.servers"] == "x:1"
    assert sorted(changelogs.assigned) == [(CHANGELOG, 0, OFFSET_BEGINNING),
                                           (CHANGELOG, 1, OFFSET_BEGINNING)]
    assert changelogs.closed == 1


def test_restore_reads_only_what_was_written_since_the_stored_offset(changelogs: Changelogs):
    changelogs.add(CHANGELOG, 2, (b"a", 1), (b"b", 2), (b"a", 3), (b"c", 4))
    backend = Recording()
    backend.write({b"a": encode(1), b"b": encode(2)}, 2)
    part = Partition("audit_logs-seen", CHANGELOG, 2, backend)
    assert restore({}, [part]) == 2
    assert changelogs.assigned == [(CHANGELOG, 2, 2)]
    assert dict(part.items()) == {b"a": 3, b"b": 2, b"c": 4}
    assert backend.offset() == 4


def test_restore_stores_in_batches_with_the_offset_of_each(changelogs: Changelogs):
    changelogs.add(CHANGELOG, 0, *((f"k{i}".encode(), i) for i in range(5)))
    backend = Recording()
    part = Partition("audit_logs-seen", CHANGELOG, 0, backend)
    assert restore({}, [part], batch=2) == 5
    offsets = [offset for _, offset in backend.writes]
    assert offsets[:2] == [2, 4] and offsets[-1] == 5
    assert all(len(values) <= 2 for values, _ in backend.writes)
    assert len(part) == 5


def test_restore_with_nothing_to_read_creates_no_consumer(changelogs: Changelogs):
    assert restore({}, []) == 0
    assert changelogs.confs == []


def test_restore_times_out_when_a_changelog_does_not_reach_its_end(changelogs: Changelogs):
    changelogs.stuck = True
    part = Partition("alert-state", "app-alert-state-changelog", 0, MemoryBackend())
    with pytest.raises(TimeoutError, match="alert-state-changelog"):
        restore({}, [part], timeout_s=0.05)
    assert changelogs.closed == 1


def test_restore_fails_on_a_read_error(changelogs: Changelogs):
    changelogs.broken = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied")
    part = Partition("alert-state", "app-alert-state-changelog", 0, MemoryBackend())
    with pytest.raises(RuntimeError, match="changelog read failed"):
        restore({}, [part])
    assert changelogs.closed == 1


def test_the_first_write_of_a_transaction_reports_its_delivery(backend: Backend):
    part = Partition("seen", "app-seen-changelog", 0, backend)
    assert part.report() == part.on_delivery
    assert part.report() is None and part.report() is None
    part.set(b"a", 1)
    part.on_delivery(None, Delivered(7))
    part.flush()
    assert backend.offset() == 8
    assert part.report() == part.on_delivery  # a new transaction
    part.discard()
    assert part.report() == part.on_delivery
