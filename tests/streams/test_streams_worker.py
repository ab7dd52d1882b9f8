"""streams.worker with fake confluent-kafka clients (no broker): transactions commit offsets
and table writes together, aborts discard and rewind, retries, fencing, rebalances, the
at-least-once path, the run loop (a refused output to the DLQ) and the commit watchdog.

``Broker`` is the little shared world the fakes live in: partition logs, the group's
committed offsets and the records of committed transactions (what a read_committed reader
would see).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaError, KafkaException
from confluent_kafka import TopicPartition as KafkaTP
from fake_kafka import FakeMessage

import streams.worker
from streams import dlq
from streams.dlq import DeadLetter
from streams.handlers import Handlers, Sink, Source, Stats, write
from streams.metrics import AgentMetrics
from streams.pipeline import Options
from streams.routing import Dataset
from streams.settings import Settings
from streams.state import MemoryBackend, Partition
from streams.topics import DLQ
from streams.worker import Worker, WorkerError, status

COMMIT_RETRY_S = Settings.commit_retry_s

RAW = "cloudflare.audit_logs.v1"
ALERTS_IN = "app-alert-events"
SEEN = "audit_logs-seen"
OUT = "out.v1"
NOW = 1_780_000_000.0
GROUP_METADATA = object()

TP = tuple[str, int]


def kafka_error(code: int = KafkaError._TIMED_OUT, *, fatal: bool = False,  # noqa: SLF001
                retriable: bool = False, abort: bool = False) -> KafkaException:
    return KafkaException(KafkaError(code, "simulated", fatal=fatal, retriable=retriable,
                                     txn_requires_abort=abort))


class Message(FakeMessage):
    """A consumed record or a delivery report; the key defaults to ``topic/partition/offset``."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None = None,
                 value: bytes | None = b"v", error: KafkaError | None = None) -> None:
        super().__init__(topic, partition, offset,
                         key if key is not None else f"{topic}/{partition}/{offset}".encode(),
                         value, error, int(NOW * 1000))


class Broker:
    def __init__(self) -> None:
        self.logs: dict[TP, list[Message]] = {}
        #: the consumer group's committed offsets
        self.group: dict[TP, int] = {}
        #: (topic, partition, key, value) of committed transactions / delivered records
        self.visible: list[tuple[str, int, bytes | None, bytes | None]] = []
        self.next_offset: dict[TP, int] = {}
        #: offsets committed at each transaction commit, in order
        self.commits: list[dict[TP, int]] = []
        #: the keys visible on ``OUT`` right after each of those commits
        self.out_at_commit: list[set[bytes | None]] = []

    def append(self, topic: str, partition: int, n: int) -> list[Message]:
        log = self.logs.setdefault((topic, partition), [])
        added = [Message(topic, partition, len(log) + i) for i in range(n)]
        log.extend(added)
        return added

    def offset_for(self, topic: str, partition: int) -> int:
        offset = self.next_offset.get((topic, partition), 0)
        self.next_offset[(topic, partition)] = offset + 1
        return offset


class FakeConsumer:
    def __init__(self, broker: Broker, clock: Clock) -> None:
        self.broker = broker
        self.clock = clock
        self.calls = 0
        self.conf: dict[str, Any] = {}
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.topics: list[str] = []
        self.positions: dict[TP, int] = {}
        self.seeks: list[tuple[str, int, int]] = []
        self.commits: list[dict[TP, int]] = []
        self.closed = False
        #: run before each ``consume`` (a rebalance, a stop, injected messages)
        self.script: list[Callable[[FakeConsumer], list[Message] | None]] = []
        self.on_idle: Callable[[], None] | None = None
        self.commit_error: KafkaException | None = None
        #: raised by the next ``committed`` calls, one each
        self.committed_errors: list[KafkaException] = []

    def subscribe(self, topics: list[str], on_assign: Callable[..., None],
                  on_revoke: Callable[..., None], on_lost: Callable[..., None]) -> None:
        self.topics = topics
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def assign(self, *tps: TP) -> None:
        """A rebalance that assigns ``tps`` (fetching from the committed offsets)."""
        for tp in tps:
            self.positions[tp] = self.broker.group.get(tp, 0)
        self.callbacks["assign"](self, [KafkaTP(t, p) for t, p in tps])

    def revoke(self) -> None:
        tps = [KafkaTP(t, p) for t, p in self.positions]
        self.callbacks["revoke"](self, tps)
        self.positions = {}

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        self.calls += 1
        assert self.calls < 10_000, "the worker loops without end"
        if self.script:
            injected = self.script.pop(0)(self)
            if injected is not None:
                return injected
        out: list[Message] = []
        for tp in sorted(self.positions):
            log = self.broker.logs.get(tp, [])
            while self.positions[tp] < len(log) and len(out) < num_messages:
                out.append(log[self.positions[tp]])
                self.positions[tp] += 1
        if not out:
            self.clock.now += max(timeout, 0.0)  # waited for records that did not come
            if self.on_idle is not None:
                self.on_idle()
        return out

    def committed(self, partitions: list[KafkaTP], timeout: float = -1) -> list[KafkaTP]:
        if self.committed_errors:
            raise self.committed_errors.pop(0)
        return [KafkaTP(tp.topic, tp.partition,
                        self.broker.group.get((tp.topic, tp.partition), OFFSET_INVALID))
                for tp in partitions]

    def seek(self, tp: KafkaTP) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))
        key = (tp.topic, tp.partition)
        if key in self.positions:
            self.positions[key] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def consumer_group_metadata(self) -> object:
        return GROUP_METADATA

    def commit(self, offsets: list[KafkaTP], asynchronous: bool = True) -> None:  # noqa: FBT001
        assert asynchronous is False
        if self.commit_error is not None:
            raise self.commit_error
        done = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        self.commits.append(done)
        self.broker.group.update(done)

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """A transactional producer; failures are queued per call name (``fail``)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.conf: dict[str, Any] = {}
        self.calls: list[str] = []
        self.fail: dict[str, list[KafkaException]] = {}
        self.open = False
        self.produced: list[tuple[str, int, bytes | None, bytes | None, Any]] = []
        #: (topic, partition, key, headers) of every ``produce``
        self.headers: list[tuple[str, int, bytes | None, Any]] = []
        self.offsets: dict[TP, int] = {}
        #: at_least_once: topics whose deliveries fail at ``flush``
        self.undeliverable: set[str] = set()
        self.remaining = 0
        self.before_commit: Callable[[], None] | None = None
        #: errors for the ``error_cb``, served by ``poll``
        self.errors: list[KafkaError] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        queued = self.fail.get(name)
        if queued:
            raise queued.pop(0)

    def init_transactions(self, timeout: float = -1) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        assert not self.open, "a transaction is already open"
        self._call("begin_transaction")
        self.open = True

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                partition: int = -1, headers: Any = None,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        if "transactional.id" in self.conf:
            assert self.open, "produce outside a transaction"
        self.produced.append((topic, partition, key, value, on_delivery))
        self.headers.append((topic, partition, key, headers))

    def _deliver(self, failing: set[str]) -> None:
        for topic, partition, key, value, on_delivery in self.produced:
            offset = self.broker.offset_for(topic, partition)
            error = "delivery failed" if topic in failing else None
            if error is None:
                self.broker.visible.append((topic, partition, key, value))
            if on_delivery is not None:
                on_delivery(error, Message(topic, partition, offset, key, value))
        self.produced = []

    def send_offsets_to_transaction(self, offsets: list[KafkaTP], metadata: object,
                                    timeout: float = -1) -> None:
        assert metadata is GROUP_METADATA
        self._call("send_offsets_to_transaction")
        self.offsets = {(tp.topic, tp.partition): tp.offset for tp in offsets}

    def commit_transaction(self, timeout: float = -1) -> None:
        if self.before_commit is not None:
            self.before_commit()
        self._call("commit_transaction")
        self._deliver(set())
        self.broker.group.update(self.offsets)
        self.broker.commits.append(self.offsets)
        self.broker.out_at_commit.append({k for t, _, k, _ in self.broker.visible if t == OUT})
        self.offsets = {}
        self.open = False

    def abort_transaction(self, timeout: float = -1) -> None:
        self._call("abort_transaction")
        for topic, partition, *_ in self.produced:
            self.broker.offset_for(topic, partition)  # aborted records take offsets too
        self.produced = []
        self.offsets = {}
        self.open = False

    def poll(self, timeout: float = 0) -> int:
        """Serves the errors librdkafka queued (``errors``) to the ``error_cb``."""
        errors, self.errors = self.errors, []
        for error in errors:
            self.conf["error_cb"](error)
        return 0

    def flush(self, timeout: float = -1) -> int:
        self.calls.append("flush")
        self._deliver(self.undeliverable)
        return self.remaining


class StubHandlers(Handlers):
    """Real ``write`` (changelog records with the partition's ``on_delivery``) and sweeps;
    ``raw``/``alert`` dedupe by key and send one output each (no codecs)."""

    def __init__(self, options: Options | None = None) -> None:
        super().__init__(None, options or Options(), 3, Stats(),  # type: ignore[arg-type]
                         {"audit_logs": AgentMetrics("audit_logs")}, lambda: NOW)
        self.handled: list[tuple[str, int, int]] = []
        self.on_record: Callable[[Source], None] | None = None

    def raw(self, source: Source, dataset: Dataset, table: Partition, sink: Sink) -> None:
        self.handled.append((source.topic, source.partition, source.offset))
        if self.on_record is not None:
            self.on_record(source)
        assert source.key is not None
        if table.get(source.key) is not None:
            self.stats.duplicates += 1
            return
        sink(OUT, source.partition, source.key, source.value)
        write(sink, table, source.key, int(self.now()))  # after the output, as ``Handlers.raw``

    def alert(self, source: Source, table: Partition, sink: Sink) -> None:
        self.handled.append((source.topic, source.partition, source.offset))
        assert source.key is not None
        write(sink, table, source.key, {"n": (table.get(source.key) or {"n": 0})["n"] + 1})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
        self.broker = Broker()
        self.clock = Clock()
        self.consumer = FakeConsumer(self.broker, self.clock)
        #: every producer the worker made (a fenced one is replaced); the first made here
        self.producers = [FakeProducer(self.broker)]
        self._handed_out = 0
        self.restored: list[list[tuple[str, int]]] = []
        self.sleeps: list[float] = []

        def restore(conf: dict[str, Any], partitions: list[Partition]) -> int:
            self.restored.append([(p.table, p.number) for p in partitions])
            return 0

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.clock.now += seconds

        monkeypatch.setattr(streams.worker, "restore", restore)
        monkeypatch.setattr(streams.worker.time, "sleep", sleep)
        settings: dict[str, Any] = {"app_id": "app", "datasets": ("audit_logs",),
                                    "store": "memory://", "instance_id": "test",
                                    "commit_interval_s": 0.1} | overrides
        self.settings = Settings(**settings)
        self.handlers = StubHandlers()

        def consumer_factory(conf: dict[str, Any]) -> FakeConsumer:
            self.consumer.conf = conf
            return self.consumer

        def producer_factory(conf: dict[str, Any]) -> FakeProducer:
            if self._handed_out:
                self.producers.append(FakeProducer(self.broker))
            self._handed_out += 1
            self.producer.conf = conf
            return self.producer

        self._producer_factory = producer_factory
        self.worker = Worker(self.settings, self.handlers, lambda t, n: MemoryBackend(),
                             consumer_factory=consumer_factory,
                             producer_factory=producer_factory, clock=self.clock)

    @property
    def producer(self) -> FakeProducer:
        """The producer the worker uses now."""
        return self.producers[-1]

    def connect(self, *tps: TP) -> Worker:
        """The clients made as ``run`` makes them, subscribed, ``tps`` assigned."""
        worker = self.worker
        worker.producer = self._producer_factory(worker._producer_conf())  # noqa: SLF001
        worker.consumer = self.consumer
        self.consumer.subscribe([], worker.on_assign, worker.on_revoke, worker.on_lost)
        if tps:
            self.consumer.assign(*tps)
        return worker

    def handle(self, topic: str, partition: int, n: int) -> list[Message]:
        """``n`` new records of ``topic/partition`` handled in the open transaction."""
        added = self.broker.append(topic, partition, n)
        for message in added:
            self.worker.handle(message)
        self.consumer.positions[(topic, partition)] = added[-1].offset() + 1
        return added

    def table(self, name: str, number: int) -> Partition:
        return self.worker.tables[name].partitions[number]

    def out(self) -> list[bytes | None]:
        return [key for topic, _, key, _ in self.broker.visible if topic == OUT]


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Harness]:
    return lambda **overrides: Harness(monkeypatch, **overrides)


def assert_aborted_and_replaced(h: Harness, old: FakeProducer) -> None:
    """``old`` aborted its transaction (its last call) and the worker went on with a new
    producer, made after it and initialised (librdkafka #5456/#5511: the old one's next
    ``send_offsets_to_transaction`` can block for good after a coordinator outage)."""
    assert old.calls[-1] == "abort_transaction"
    assert h.producers[h.producers.index(old) + 1:] == [h.producer], "one new producer"
    assert h.worker.producer is h.producer is not old
    assert h.producer.calls[:1] == ["init_transactions"]
    assert h.producer.conf == old.conf and h.producer.conf["transactional.id"] == "app-test"


def test_a_batch_commits_its_next_offsets_and_stores_table_writes_only_after(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0), (RAW, 1))
    h.broker.group[(RAW, 1)] = 5
    h.broker.logs[(RAW, 1)] = [Message(RAW, 1, i) for i in range(5)]
    first = h.handle(RAW, 0, 3)
    h.handle(RAW, 1, 2)
    part0 = h.table(SEEN, 0)
    stored_at_commit: list[bytes | None] = []
    h.producer.before_commit = lambda: stored_at_commit.append(
        part0.backend.get(first[0].key() or b""))
    assert part0.get(first[0].key()) == int(NOW) and part0.backend.get(first[0].key()) is None

    worker.commit()

    assert h.broker.commits == [{(RAW, 0): 3, (RAW, 1): 7}]
    assert h.producer.calls.count("begin_transaction") == 1
    assert stored_at_commit == [None], "table writes are stored only after the commit"
    for message in first:
        assert part0.backend.get(message.key() or b"") == str(int(NOW)).encode()
    assert part0.pending == {}
    changelog = h.settings.changelog(SEEN)
    # the stored offset is the one after the transaction's first changelog record of the
    # partition (its delivery is the one reported): a restore reads this transaction again
    assert h.broker.next_offset[(changelog, 0)] == 3
    assert h.broker.next_offset[(changelog, 1)] == 2
    assert part0.backend.offset() == h.table(SEEN, 1).backend.offset() == 1
    assert sorted(h.out()) == sorted(m.key() for m in first) + [
        f"{RAW}/1/{i}".encode() for i in (5, 6)]
    assert (worker.in_transaction, worker.positions, worker.stats.committed) == (False, {}, 1)


def test_commit_without_an_open_transaction_does_nothing(harness: Callable[..., Harness]):
    h = harness()
    h.connect((RAW, 0)).commit()
    assert h.producer.calls == []


@pytest.mark.parametrize("failing", ["send_offsets_to_transaction", "commit_transaction"])
def test_a_commit_that_requires_abort_discards_the_writes_and_rewinds(
    harness: Callable[..., Harness], failing: str
):
    h = harness()
    worker = h.connect((RAW, 0), (RAW, 1))
    h.broker.logs[(RAW, 0)] = [Message(RAW, 0, i) for i in range(2)]
    h.broker.group[(RAW, 0)] = 2
    h.handle(RAW, 0, 2)
    h.handle(RAW, 1, 3)
    first = h.producer
    first.fail[failing] = [kafka_error(abort=True)]

    assert worker.commit() is False

    assert_aborted_and_replaced(h, first)
    assert h.broker.commits == [] and h.out() == []
    for number in (0, 1):
        part = h.table(SEEN, number)
        assert part.pending == {} and list(part.backend.items()) == []
    assert sorted(h.consumer.seeks) == [(RAW, 0, 2), (RAW, 1, OFFSET_BEGINNING)]
    assert h.consumer.positions == {(RAW, 0): 2, (RAW, 1): 0}
    assert (worker.stats.aborted, worker.stats.committed, worker.in_transaction) == (1, 0, False)
    # the same records again, in a new transaction that commits: each output once
    for tp in ((RAW, 0), (RAW, 1)):
        for message in h.broker.logs[tp][h.consumer.positions[tp]:]:
            worker.handle(message)
    assert worker.commit() is True
    assert h.broker.commits == [{(RAW, 0): 4, (RAW, 1): 3}]
    assert len(h.out()) == len(set(h.out())) == 5
    assert first.calls[-1] == "abort_transaction", "the old producer is not used again"
    assert h.producer.calls == ["init_transactions", "begin_transaction",
                                "send_offsets_to_transaction", "commit_transaction"]


def test_a_non_retriable_commit_error_aborts(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    first = h.producer
    first.fail["commit_transaction"] = [kafka_error(KafkaError.INVALID_TXN_STATE)]
    assert worker.commit() is False
    assert first.calls.count("commit_transaction") == 1 and h.sleeps == []
    assert_aborted_and_replaced(h, first)
    assert worker.stats.aborted == 1 and h.broker.commits == []


def test_a_retriable_commit_error_is_retried_without_resending_offsets(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    (message,) = h.handle(RAW, 0, 1)
    h.producer.fail["commit_transaction"] = [kafka_error(retriable=True),
                                             kafka_error(retriable=True)]
    worker.commit()
    assert h.sleeps == [1.0, 1.0]
    assert h.producer.calls.count("send_offsets_to_transaction") == 1
    assert h.producer.calls.count("commit_transaction") == 3
    assert "abort_transaction" not in h.producer.calls
    assert h.broker.commits == [{(RAW, 0): 1}]
    assert h.table(SEEN, 0).backend.get(message.key() or b"") is not None


def test_retries_give_up_after_the_commit_retry_time_and_abort(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    first = h.producer
    first.fail["commit_transaction"] = [kafka_error(retriable=True) for _ in range(1000)]
    assert worker.commit() is False
    assert COMMIT_RETRY_S <= sum(h.sleeps) <= COMMIT_RETRY_S + 2
    assert_aborted_and_replaced(h, first)
    assert worker.stats.aborted == 1 and h.table(SEEN, 0).pending == {}


@pytest.mark.parametrize("failing", ["send_offsets_to_transaction", "commit_transaction",
                                     "abort_transaction"])
def test_a_fenced_producer_is_replaced_and_the_records_read_again(
    harness: Callable[..., Harness], failing: str
):
    h = harness()
    worker = h.connect((RAW, 0), (RAW, 1))
    h.broker.logs[(RAW, 1)] = [Message(RAW, 1, i) for i in range(4)]
    h.broker.group[(RAW, 1)] = 4
    h.consumer.positions[(RAW, 1)] = 4
    (message,) = h.handle(RAW, 0, 1)
    fenced = h.producer
    if failing == "abort_transaction":
        fenced.fail["commit_transaction"] = [kafka_error(abort=True)]
    fenced.fail[failing] = [kafka_error(KafkaError._FENCED, fatal=True)]  # noqa: SLF001

    worker.commit()

    assert len(h.producers) == 2 and worker.producer is h.producer is not fenced
    assert h.producer.calls == ["init_transactions"]
    assert h.producer.conf["transactional.id"] == fenced.conf["transactional.id"] == "app-test"
    assert h.table(SEEN, 0).get(message.key()) is None, "the table writes are discarded"
    assert h.broker.commits == [] and h.out() == []
    # every assigned partition goes back to its committed offset
    assert sorted(h.consumer.seeks) == [(RAW, 0, OFFSET_BEGINNING), (RAW, 1, 4)]
    assert (worker.in_transaction, worker.stats.aborted, worker.stats.committed) == (
        False, 1, 0)
    worker.handle(message)  # read again: the new producer commits it
    worker.commit()
    assert h.broker.commits == [{(RAW, 0): 1}] and h.out() == [message.key()]


def test_a_producer_fenced_again_and_again_stops_the_worker(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    for _ in range(streams.worker.RENEW_MAX):
        h.handle(RAW, 0, 1)
        h.producer.fail["commit_transaction"] = [kafka_error(fatal=True)]
        worker.commit()
        h.clock.now += 1.0
    assert len(h.producers) == streams.worker.RENEW_MAX + 1
    h.handle(RAW, 0, 1)
    h.producer.fail["commit_transaction"] = [kafka_error(fatal=True)]
    with pytest.raises(WorkerError, match="app-test"):
        worker.commit()
    assert h.broker.commits == []


def test_fencing_far_apart_is_survived(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    for _ in range(streams.worker.RENEW_MAX + 3):
        h.handle(RAW, 0, 1)
        h.producer.fail["commit_transaction"] = [kafka_error(fatal=True)]
        worker.commit()
        h.clock.now += streams.worker.RENEW_WINDOW_S
    assert len(h.producers) == streams.worker.RENEW_MAX + 4


def test_a_fenced_begin_in_the_loop_replaces_the_producer(harness: Callable[..., Harness]):
    h = harness()
    h.broker.append(RAW, 0, 3)
    h.producer.fail["begin_transaction"] = [kafka_error(fatal=True)]
    h.consumer.script = [lambda c: c.assign((RAW, 0))]
    h.consumer.on_idle = lambda: h.worker.stop() if h.broker.commits else None
    assert h.worker.run() == 0
    assert len(h.producers) == 2
    assert h.broker.commits == [{(RAW, 0): 3}]
    assert sorted(h.out()) == sorted(m.key() for m in h.broker.logs[(RAW, 0)])


def test_on_revoke_commits_the_open_transaction(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 2)
    h.consumer.revoke()
    assert h.broker.commits == [{(RAW, 0): 2}]
    assert worker.in_transaction is False and worker.assigned == set()
    late = h.broker.append(RAW, 0, 1)[0]  # fetched before the revoke: not ours any more
    worker.handle(late)
    assert worker.positions == {} and len(h.handlers.handled) == 2


def test_on_revoke_without_a_transaction_commits_nothing(harness: Callable[..., Harness]):
    h = harness()
    h.connect((RAW, 0))
    h.consumer.revoke()
    assert h.producer.calls == []


def test_an_abort_during_revoke_does_not_seek_leaving_partitions(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 2)
    first = h.producer
    first.fail["commit_transaction"] = [kafka_error(abort=True)]
    h.consumer.revoke()
    assert_aborted_and_replaced(h, first)
    assert h.consumer.seeks == [] and worker.stats.aborted == 1
    assert h.broker.commits == [] and worker.in_transaction is False


def test_on_lost_aborts_the_open_transaction(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    (message,) = h.handle(RAW, 0, 1)
    first = h.producer
    h.consumer.callbacks["lost"](h.consumer, [KafkaTP(RAW, 0)])
    assert_aborted_and_replaced(h, first)
    assert "commit_transaction" not in first.calls
    assert h.consumer.seeks == []
    assert h.table(SEEN, 0).get(message.key()) is None
    assert (worker.in_transaction, worker.assigned, worker.stats.aborted) == (False, set(), 1)


def test_records_of_unassigned_partitions_and_unknown_topics_are_ignored(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    worker.handle(Message(RAW, 1, 0))
    worker.handle(Message("cloudflare.http_requests.v1", 0, 0))  # not an enabled dataset
    assert h.handlers.handled == [] and worker.positions == {}
    assert h.producer.produced == [] and 1 not in worker.tables[SEEN].partitions


def test_alert_inputs_go_to_the_alert_table(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0), (ALERTS_IN, 2))
    worker.handle(Message(ALERTS_IN, 2, 0, key=b"rule|user:a"))
    worker.handle(Message(ALERTS_IN, 2, 1, key=b"rule|user:a"))
    worker.commit()
    part = h.table("alert-state", 2)
    assert part.backend.get(b"rule|user:a") == b'{"n":2}'
    assert h.broker.commits == [{(ALERTS_IN, 2): 2}]


def test_on_assign_restores_the_assigned_partitions_and_closes_the_others(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0), (RAW, 1), (ALERTS_IN, 1))
    assert sorted(h.restored[0]) == [("alert-state", 1), (SEEN, 0), (SEEN, 1)]
    assert worker.ready
    h.consumer.revoke()
    h.consumer.assign((RAW, 1))
    assert h.restored[1] == [(SEEN, 1)]
    assert set(worker.tables[SEEN].partitions) == {1}
    assert worker.tables["alert-state"].partitions == {}
    assert worker.assigned == {(RAW, 1)}


def test_at_least_once_commits_with_flush_and_a_consumer_commit(
    harness: Callable[..., Harness]
):
    h = harness(processing_guarantee="at_least_once")
    worker = h.connect((RAW, 0))
    assert "transactional.id" not in h.producer.conf
    messages = h.handle(RAW, 0, 2)
    worker.commit()
    assert h.producer.calls == ["flush"]
    assert h.consumer.commits == [{(RAW, 0): 2}]
    part = h.table(SEEN, 0)
    assert all(part.backend.get(m.key() or b"") for m in messages)
    assert part.backend.offset() == 1  # after the first changelog record of the commit


def test_at_least_once_a_delivery_failure_aborts(harness: Callable[..., Harness]):
    h = harness(processing_guarantee="at_least_once")
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 2)
    h.producer.undeliverable = {OUT}
    worker.commit()
    assert h.consumer.commits == []
    assert h.table(SEEN, 0).pending == {} and list(h.table(SEEN, 0).backend.items()) == []
    assert h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)]
    assert worker.stats.aborted == 1
    assert "abort_transaction" not in h.producer.calls


def test_at_least_once_undelivered_records_or_a_failed_offset_commit_abort(
    harness: Callable[..., Harness]
):
    h = harness(processing_guarantee="at_least_once")
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    h.producer.remaining = 1
    worker.commit()
    assert worker.stats.aborted == 1 and h.consumer.commits == []
    h.producer.remaining = 0
    h.handle(RAW, 0, 1)
    h.consumer.commit_error = kafka_error(KafkaError.REBALANCE_IN_PROGRESS)
    worker.commit()
    assert worker.stats.aborted == 2 and h.table(SEEN, 0).pending == {}


def test_at_least_once_a_failed_changelog_delivery_aborts(harness: Callable[..., Harness]):
    # the local store must not keep a write its changelog does not have
    h = harness(processing_guarantee="at_least_once")
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    h.producer.undeliverable = {h.settings.changelog(SEEN)}
    worker.commit()
    assert h.consumer.commits == []
    part = h.table(SEEN, 0)
    assert list(part.backend.items()) == [] and part.backend.offset() is None
    assert worker.stats.aborted == 1 and h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)]
    h.producer.undeliverable = set()
    h.handle(RAW, 0, 1)
    worker.commit()  # the failure was reported once: the next commit goes through
    assert h.consumer.commits == [{(RAW, 0): 2}]


def test_sweep_tombstones_expired_keys_in_a_committed_transaction(
    harness: Callable[..., Harness]
):
    h = harness(dedup_horizon_s=3600)
    worker = h.connect((RAW, 0))
    part = h.table(SEEN, 0)
    part.set(b"old", int(NOW) - 3601)
    part.set(b"new", int(NOW) - 10)
    part.flush()
    worker.sweep()
    assert h.producer.calls == ["begin_transaction", "commit_transaction"]
    changelog = h.settings.changelog(SEEN)
    assert [(t, p, k, v) for t, p, k, v in h.broker.visible] == [(changelog, 0, b"old", None)]
    assert [k for k, _ in part.backend.items()] == [b"new"]
    assert worker.in_transaction is False
    worker.sweep()  # nothing left to expire: no transaction
    assert h.producer.calls == ["begin_transaction", "commit_transaction"]


def test_run_handles_until_stopped_and_commits_what_is_open(harness: Callable[..., Harness]):
    h = harness()
    h.broker.append(RAW, 0, 3)
    h.broker.append(ALERTS_IN, 0, 2)
    h.consumer.script = [lambda c: c.assign((RAW, 0), (ALERTS_IN, 0))]
    h.consumer.on_idle = h.worker.stop  # the clock stands still: no interval commit
    assert h.worker.run() == 0
    assert h.producer.calls[0] == "init_transactions"
    assert sorted(h.consumer.topics) == sorted([RAW, ALERTS_IN])
    assert h.consumer.conf["isolation.level"] == "read_committed"
    assert h.consumer.conf["group.id"] == "app"
    assert h.producer.conf["transactional.id"] == "app-test"
    assert h.broker.commits == [{(RAW, 0): 3, (ALERTS_IN, 0): 2}]
    assert h.producer.calls.count("begin_transaction") == 1
    assert h.consumer.closed
    assert all(t.partitions == {} for t in h.worker.tables.values()), "stores closed"
    assert len(h.handlers.handled) == 5


def test_run_commits_every_interval(harness: Callable[..., Harness]):
    h = harness()
    h.broker.append(RAW, 0, 2)

    def idle() -> None:  # consume waited ``timeout`` (the fake consumer moves the clock)
        if len(h.broker.commits) == 1 and len(h.broker.logs[(RAW, 0)]) == 2:
            h.broker.append(RAW, 0, 1)
        elif len(h.broker.commits) == 2:
            h.worker.stop()

    h.consumer.script = [lambda c: c.assign((RAW, 0))]
    h.consumer.on_idle = idle
    assert h.worker.run() == 0
    assert h.broker.commits == [{(RAW, 0): 2}, {(RAW, 0): 3}]
    assert h.producer.calls.count("begin_transaction") == 2


def test_run_skips_consumer_errors_and_stops_on_a_fatal_one(harness: Callable[..., Harness]):
    h = harness()
    transient = KafkaError(KafkaError._TRANSPORT, "down")  # noqa: SLF001
    fatal = KafkaError(KafkaError._FATAL, "fenced", fatal=True)  # noqa: SLF001
    h.consumer.script = [lambda c: c.assign((RAW, 0)),
                         lambda c: [Message(RAW, 0, 0, error=transient)],
                         lambda c: [Message(RAW, 0, 0, error=fatal)]]
    with pytest.raises(WorkerError, match="consumer failed"):
        h.worker.run()
    assert h.consumer.closed and h.handlers.handled == []


def test_status_is_healthy_only_when_ready_and_running(harness: Callable[..., Harness]):
    h = harness()
    metrics = {"audit_logs": AgentMetrics("audit_logs")}
    assert [s["healthy"] for s in status(h.worker, metrics)] == [False]
    h.connect((RAW, 0))
    assert [s["healthy"] for s in status(h.worker, metrics)] == [True]
    h.worker.stop()
    assert [s["healthy"] for s in status(h.worker, metrics)] == [False]


def test_an_abort_mid_batch_does_not_commit_past_the_aborted_records(
    harness: Callable[..., Harness]
):
    # after a commit aborts in the middle of a consume() batch, the rest of the batch must
    # not be handled in a new transaction whose commit would move the offset past the
    # aborted records before they are read again (lost if the worker dies in between)
    h = harness()
    h.broker.append(RAW, 0, 150)

    def slow(source: Source) -> None:
        h.clock.now += 0.01  # 100 records take 1 s: the loop commits after the 100th

    h.handlers.on_record = slow
    h.producer.fail["commit_transaction"] = [kafka_error(abort=True)]
    h.consumer.script = [lambda c: c.assign((RAW, 0))]
    h.consumer.on_idle = h.worker.stop
    first = h.producer
    assert h.worker.run() == 0
    assert h.worker.stats.aborted == 1
    assert len(h.producers) == 2 and first.calls[-1] == "abort_transaction"
    assert h.producer.calls[0] == "init_transactions"
    # the rest of the batch is dropped: the first 100 records, then all 150 from offset 0
    assert h.handlers.handled == [(RAW, 0, i) for i in [*range(100), *range(150)]]
    assert h.broker.commits, "the records are committed in the end"
    # no commit may move the group's offset past a record whose output is not committed
    log = h.broker.logs[(RAW, 0)]
    for offsets, visible in zip(h.broker.commits, h.broker.out_at_commit, strict=True):
        missing = [m.offset() for m in log[:offsets[(RAW, 0)]] if m.key() not in visible]
        assert missing == [], f"committed offset {offsets[(RAW, 0)]} skips {missing[:3]}..."
    assert h.broker.group[(RAW, 0)] == 150
    assert sorted(h.out()) == sorted(m.key() for m in log), "each output once"


def test_a_long_sweep_commits_in_chunks(harness: Callable[..., Harness],
                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(streams.worker, "SWEEP_CHUNK", 2)
    h = harness(dedup_horizon_s=3600)
    worker = h.connect((RAW, 0), (ALERTS_IN, 0))
    part = h.table(SEEN, 0)
    for i in range(5):
        part.set(f"old{i}".encode(), int(NOW) - 4000)
    part.set(b"new", int(NOW))
    part.flush()
    alerts = h.table("alert-state", 0)
    alerts.set(b"no.such.rule|user:x", {"last": 0})  # a rule that is gone: spent
    alerts.flush()
    worker.sweep()
    changelog = h.settings.changelog(SEEN)
    assert [len([k for t, _, k, _ in h.broker.visible[:n] if t == changelog])
            for n in (2, 4)] == [2, 4]
    assert len(h.broker.commits) == 3, "2 + 2 + (1 dedup key + 1 alert state)"
    assert [k for k, _ in part.backend.items()] == [b"new"]
    assert list(alerts.backend.items()) == []
    assert worker.in_transaction is False


def test_sweep_leaves_roster_tables_alone(harness: Callable[..., Harness]):
    h = harness(datasets=("members",), alerts=False, dedup_horizon_s=60)
    worker = h.connect(("cloudflare.members.v1", 0))
    part = h.table("members-state", 0)
    part.set(b"acc/user", "digest")  # not a time: would look expired to the dedup sweep
    part.flush()
    worker.sweep()
    assert h.producer.calls == [] and part.get(b"acc/user") == "digest"


def test_a_fenced_produce_in_the_loop_replaces_the_producer(harness: Callable[..., Harness]):
    h = harness()
    h.broker.append(RAW, 0, 2)
    first = h.producer
    original = first.produce
    failures = [kafka_error(fatal=True)]

    def produce(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        original(*args, **kwargs)

    first.produce = produce  # type: ignore[method-assign]
    h.consumer.script = [lambda c: c.assign((RAW, 0))]
    h.consumer.on_idle = lambda: h.worker.stop() if h.broker.commits else None
    assert h.worker.run() == 0
    assert len(h.producers) == 2 and h.broker.commits == [{(RAW, 0): 2}]
    assert len(h.out()) == 2


def run_with_a_refused_output(h: Harness, records: int) -> Message:
    """Run the worker over ``records`` raw records of partition 0 while the producer refuses
    the output of the second one at once (MSG_SIZE_TOO_LARGE); return that record."""
    poison = h.broker.append(RAW, 0, records)[1]
    producer = h.producer
    original = producer.produce

    def produce(topic: str, value: bytes | None = None, key: bytes | None = None,
                **kwargs: Any) -> None:
        if topic == OUT and key == poison.key():
            raise kafka_error(KafkaError.MSG_SIZE_TOO_LARGE)
        original(topic, value, key, **kwargs)

    producer.produce = produce  # type: ignore[method-assign]
    h.consumer.script = [lambda c: c.assign((RAW, 0))]
    h.consumer.on_idle = h.worker.stop
    assert h.worker.run() == 0
    return poison


def test_an_output_the_producer_refuses_does_not_stop_the_stream(
    harness: Callable[..., Harness]
):
    # a record the producer refuses synchronously (KafkaException from produce, e.g.
    # MSG_SIZE_TOO_LARGE for an output over message.max.bytes) must not escape Worker.run:
    # the worker would exit, restart, read the same record again and exit again (a poison
    # pill). The source record goes to the DLQ instead.
    h = harness()
    poison = run_with_a_refused_output(h, 3)
    assert h.broker.group[(RAW, 0)] == 3
    assert sorted(h.out()) == sorted(m.key() for m in h.broker.logs[(RAW, 0)]
                                     if m is not poison)
    assert h.worker.stats.dead_letters == 1 and h.worker.stats.aborted == 0
    assert len(h.producers) == 1 and h.broker.commits == [{(RAW, 0): 3}]
    assert [(t, p, k, v) for t, p, k, v in h.broker.visible if t == DLQ] == [
        (DLQ, 0, poison.key(), poison.value())]
    (headers,) = [dict(hs) for t, _, _, hs in h.producers[0].headers if t == DLQ]
    reason = headers.pop("dlq.reason").decode()
    assert reason.startswith("Kafka refused an output of this record: ")
    assert "MSG_SIZE_TOO_LARGE" in reason
    headers.pop("dlq.time")
    expected = dict(dlq.headers(DeadLetter("encode", reason), RAW, 0, 1, datetime.now(UTC)))
    assert headers == {k: v for k, v in expected.items() if k not in ("dlq.reason", "dlq.time")}
    assert headers["dlq.stage"] == b"encode" and headers["dlq.source"] == f"{RAW}/0/1".encode()


def test_a_failed_send_offsets_is_not_retried_but_aborts(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    first = h.producer
    first.fail["send_offsets_to_transaction"] = [kafka_error(retriable=True)]
    assert worker.commit() is False
    assert first.calls.count("send_offsets_to_transaction") == 1
    assert "commit_transaction" not in first.calls and h.sleeps == []
    # the next send_offsets_to_transaction goes to a new producer (librdkafka #5456/#5511)
    assert_aborted_and_replaced(h, first)
    assert worker.stats.aborted == 1 and h.table(SEEN, 0).pending == {}
    h.handle(RAW, 0, 1)
    assert worker.commit() is True
    assert first.calls.count("send_offsets_to_transaction") == 1
    assert h.producer.calls.count("send_offsets_to_transaction") == 1
    assert h.broker.commits == [{(RAW, 0): 2}]


def lost(h: Harness, code: int = KafkaError._TRANSPORT) -> FakeProducer:  # noqa: SLF001
    """The current producer's ``error_cb`` gets ``code`` at its next poll (a broker connection
    lost: librdkafka reports it so whatever the producer was doing)."""
    producer = h.producer
    producer.errors.append(KafkaError(code, "127.0.0.1:9092/1: Connect failed"))
    return producer


@pytest.mark.parametrize("code", [KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN])  # noqa: SLF001
def test_a_producer_that_lost_kafka_between_transactions_is_replaced_before_the_next(
    harness: Callable[..., Harness], code: int
):
    # librdkafka #5456/#5511: after a Kafka outage the old producer's next
    # send_offsets_to_transaction can block for good (seen in tests/e2e/test_idle_outage_e2e.py)
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 2)
    assert worker.commit() is True
    old = lost(h, code)
    calls_before = list(old.calls)
    h.handle(RAW, 0, 3)  # the first write of the next transaction begins it
    assert old.calls == calls_before, "the old producer begins no transaction"
    assert worker.producer is h.producer is not old and len(h.producers) == 2
    assert h.producer.calls == ["init_transactions", "begin_transaction"]
    assert h.producer.conf == old.conf
    assert worker.commit() is True
    assert h.broker.commits == [{(RAW, 0): 2}, {(RAW, 0): 5}]
    assert len(h.out()) == len(set(h.out())) == 5
    assert worker.stats.aborted == 0, "nothing was open: nothing to read again"


def test_a_producer_that_lost_kafka_during_a_transaction_aborts_it_before_sending_offsets(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 3)
    old = lost(h)
    assert worker.commit() is False
    assert "send_offsets_to_transaction" not in old.calls
    assert_aborted_and_replaced(h, old)
    assert h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)] and h.broker.commits == []
    assert worker.stats.aborted == 1 and h.table(SEEN, 0).pending == {}
    for message in h.broker.logs[(RAW, 0)]:  # read again: the new producer commits them
        worker.handle(message)
    assert worker.commit() is True
    assert h.broker.commits == [{(RAW, 0): 3}] and len(h.out()) == len(set(h.out())) == 3


def test_other_producer_errors_keep_the_producer(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    lost(h, KafkaError._MSG_TIMED_OUT)  # noqa: SLF001 - a delivery's concern, not the link's
    lost(h, KafkaError._AUTHENTICATION)  # noqa: SLF001
    h.handle(RAW, 0, 1)
    assert worker.commit() is True
    assert len(h.producers) == 1 and h.broker.commits == [{(RAW, 0): 1}]


def test_a_failing_abort_is_retried(harness: Callable[..., Harness]):
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 1)
    first = h.producer
    first.fail["commit_transaction"] = [kafka_error(abort=True)]
    first.fail["abort_transaction"] = [kafka_error(retriable=True)]
    assert worker.commit() is False
    assert first.calls.count("abort_transaction") == 2 and h.sleeps == [1.0]
    assert_aborted_and_replaced(h, first)
    assert len(h.producers) == 2 and worker.stats.aborted == 1


def test_an_abort_that_keeps_failing_replaces_the_producer_once(
    harness: Callable[..., Harness]
):
    h = harness()
    worker = h.connect((RAW, 0))
    (message,) = h.handle(RAW, 0, 1)
    first = h.producer
    first.fail["commit_transaction"] = [kafka_error(abort=True)]
    first.fail["abort_transaction"] = [kafka_error(retriable=True) for _ in range(1000)]
    assert worker.commit() is False
    assert COMMIT_RETRY_S <= sum(h.sleeps) <= COMMIT_RETRY_S + 2
    assert_aborted_and_replaced(h, first)  # by renew_producer, not a second time after it
    assert h.producer.calls == ["init_transactions"]
    assert worker.stats.aborted == 1 and h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)]
    assert h.table(SEEN, 0).get(message.key()) is None


def test_an_abort_rewinds_every_assigned_partition(harness: Callable[..., Harness]):
    # records fetched but not handled yet (partition 1 here) are dropped by the loop after
    # an abort: their partitions must go back to the committed offsets too
    h = harness()
    worker = h.connect((RAW, 0), (RAW, 1))
    h.broker.logs[(RAW, 1)] = [Message(RAW, 1, i) for i in range(6)]
    h.broker.group[(RAW, 1)] = 4
    h.consumer.positions[(RAW, 1)] = 6  # 4 and 5 fetched, not handled
    h.handle(RAW, 0, 2)
    h.producer.fail["commit_transaction"] = [kafka_error(abort=True)]
    assert worker.commit() is False
    assert worker.positions == {}
    assert sorted(h.consumer.seeks) == [(RAW, 0, OFFSET_BEGINNING), (RAW, 1, 4)]
    assert h.consumer.positions == {(RAW, 0): 0, (RAW, 1): 4}


def test_init_transactions_is_retried_while_kafka_is_unreachable(
    harness: Callable[..., Harness]
):
    h = harness()
    h.producer.fail["init_transactions"] = [kafka_error(retriable=True)]
    h.consumer.on_idle = h.worker.stop
    assert h.worker.run() == 0
    assert h.producer.calls.count("init_transactions") == 2 and h.sleeps == [1.0]
    fenced = harness()
    fenced.producer.fail["init_transactions"] = [kafka_error(fatal=True)]
    with pytest.raises(WorkerError, match="app-test"):
        fenced.worker.run()


def test_init_transactions_waits_for_kafka_as_long_as_it_takes(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
):
    # an outage longer than any deadline: the worker waits (backing off to every 10 s), it
    # does not give up, and the watchdog does not count the waits as a blocked call
    h = harness()
    blocked: list[float | None] = []
    h.producer.fail["init_transactions"] = [kafka_error(retriable=True) for _ in range(60)]
    h.consumer.on_idle = h.worker.stop
    real_sleep = streams.worker.time.sleep

    def sleep(seconds: float) -> None:
        blocked.append(h.worker.blocked_since)
        real_sleep(seconds)

    monkeypatch.setattr(streams.worker.time, "sleep", sleep)
    assert h.worker.run() == 0
    assert h.producer.calls.count("init_transactions") == 61
    assert h.sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0] and set(h.sleeps[4:]) == {10.0}
    assert sum(h.sleeps) > 3 * COMMIT_RETRY_S
    assert set(blocked) == {None}


def test_a_stop_during_a_wait_for_kafka_ends_the_worker_cleanly(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
):
    h = harness()
    h.producer.fail["init_transactions"] = [kafka_error(retriable=True) for _ in range(1000)]
    real_sleep = streams.worker.time.sleep

    def sleep(seconds: float) -> None:
        real_sleep(seconds)
        if len(h.sleeps) == 5:
            h.worker.stop()

    monkeypatch.setattr(streams.worker.time, "sleep", sleep)
    assert h.worker.run() == 0
    assert h.producer.calls.count("init_transactions") == 6


def test_an_abort_through_a_long_outage_waits_and_reads_the_records_again(
    harness: Callable[..., Harness]
):
    # Kafka down for longer than the commit and abort deadlines: abort gives up, the new
    # producer and the committed offsets are waited for, then the records come again
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 3)
    old = h.producer
    old.fail["commit_transaction"] = [kafka_error(retriable=True) for _ in range(1000)]
    old.fail["abort_transaction"] = [kafka_error(retriable=True) for _ in range(1000)]
    failing_init = [kafka_error(retriable=True) for _ in range(40)]
    real_factory = h._producer_factory  # noqa: SLF001

    def factory(conf: dict[str, Any]) -> FakeProducer:
        made = real_factory(conf)
        made.fail["init_transactions"] = failing_init
        return made

    worker._producer_factory = factory  # noqa: SLF001
    h.consumer.committed_errors = [kafka_error(retriable=True) for _ in range(30)]
    assert worker.commit() is False
    assert worker.producer is h.producer is not old
    assert h.producer.calls.count("init_transactions") == 41
    assert h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)]
    assert sum(h.sleeps) > 5 * COMMIT_RETRY_S
    for message in h.broker.logs[(RAW, 0)]:
        worker.handle(message)
    assert worker.commit() is True
    assert h.broker.commits == [{(RAW, 0): 3}] and len(h.out()) == len(set(h.out())) == 3


def test_a_send_offsets_that_hangs_gives_the_producer_up(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
):
    # librdkafka #5456: send_offsets_to_transaction can block past its timeout until Kafka
    # is back (seen in test_a_busy_worker_rides_out_an_outage_longer_than_every_deadline)
    monkeypatch.setattr(streams.worker, "HANG_GRACE_S", -29.8)  # waited for 0.2 s
    h = harness()
    worker = h.connect((RAW, 0))
    h.handle(RAW, 0, 3)
    old = h.producer
    release = threading.Event()
    old.send_offsets_to_transaction = lambda *args: release.wait(10)  # type: ignore[assignment,method-assign]
    try:
        assert worker.commit() is False
    finally:
        release.set()
    assert worker.producer is h.producer is not old and h.producer.calls == ["init_transactions"]
    assert not {"abort_transaction", "commit_transaction"} & set(old.calls)
    assert h.consumer.seeks == [(RAW, 0, OFFSET_BEGINNING)] and h.broker.commits == []
    assert worker.stats.aborted == 1 and h.table(SEEN, 0).pending == {}
    assert worker._renewals == [], "not a fencing: it does not count towards RENEW_MAX"  # noqa: SLF001
    for message in h.broker.logs[(RAW, 0)]:
        worker.handle(message)
    assert worker.commit() is True
    assert h.broker.commits == [{(RAW, 0): 3}] and len(h.out()) == len(set(h.out())) == 3


class Stopping:
    """``worker.stopping`` for the watchdog: ``wait`` returns at once, False ``rounds``
    times (the watchdog looks), then True (stopped)."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return len(self.waits) > self.rounds

    def is_set(self) -> bool:
        return len(self.waits) > self.rounds


@pytest.mark.parametrize(("since", "stuck_s", "exits"), [
    (-100.0, 1.0, [3]),  # a commit blocked 100 s, stuck after 1 s: exit code 3
    (-100.0, 300.0, []),  # blocked, but not for long yet
    (None, 0.0, []),  # no commit running
])
def test_watch_commits_exits_when_a_commit_is_stuck(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch,
    since: float | None, stuck_s: float, exits: list[int]
):
    exited: list[int] = []
    monkeypatch.setattr(streams.worker.os, "_exit", exited.append)
    monkeypatch.setattr(streams.worker.logging, "shutdown", lambda: None)
    h = harness()
    stopping = Stopping(rounds=1)
    h.worker.stopping = stopping  # type: ignore[assignment]
    h.worker.blocked_since = None if since is None else time.monotonic() + since
    thread = streams.worker.watch_commits(h.worker, stuck_s)
    thread.join(timeout=5.0)
    assert not thread.is_alive() and thread.daemon
    assert exited == exits
    assert stopping.waits == [10.0, 10.0], "looks every 10 s until stopped"


def test_watch_commits_sees_the_commit_of_the_worker(harness: Callable[..., Harness]):
    # the watchdog reads ``blocked_since``: set while a commit runs, cleared after
    h = harness()
    worker = h.connect((RAW, 0))
    seen: list[float | None] = []
    h.handle(RAW, 0, 1)
    h.producer.before_commit = lambda: seen.append(worker.blocked_since)
    before = time.monotonic()
    assert worker.commit() is True
    assert len(seen) == 1 and seen[0] is not None and before <= seen[0] <= time.monotonic()
    assert worker.blocked_since is None
    h.handle(RAW, 0, 1)
    h.producer.fail["commit_transaction"] = [kafka_error(abort=True)]
    h.producer.before_commit = lambda: seen.append(worker.blocked_since)
    assert worker.commit() is False  # an abort (and a new producer) clears it too
    assert seen[1] is not None and worker.blocked_since is None


def test_a_refused_record_leaves_no_table_write(harness: Callable[..., Harness]):
    h = harness()
    run_with_a_refused_output(h, 2)
    assert h.worker.stats.dead_letters == 1 and h.broker.group[(RAW, 0)] == 2
    changelog = h.settings.changelog(SEEN)
    assert [k for t, _, k, _ in h.broker.visible if t == changelog] == [
        h.broker.logs[(RAW, 0)][0].key()]


def test_sigusr1_dumps_the_stacks_while_the_main_thread_is_blocked_in_c(tmp_path: Path):
    # a hung librdkafka call never returns to Python, so a Python-level handler would never
    # run: the dump must come from the C handler (faulthandler) at once
    script = tmp_path / "blocked.py"
    script.write_text(
        "import ctypes, sys, threading\n"
        "import streams.worker\n"
        "class W:\n"
        "    stopping = threading.Event()\n"
        "    def stop(self): self.stopping.set()\n"
        "streams.worker.install_signals(W())\n"
        "def blocked_in_c():\n"
        "    print('ready', flush=True)\n"
        "    ctypes.CDLL(None).system(b'sleep 3')  # waitpid, retried on EINTR inside libc\n"
        "blocked_in_c()\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        assert proc.stderr is not None
        time.sleep(0.3)
        proc.send_signal(signal.SIGUSR1)
        dump = b""
        deadline = time.monotonic() + 2.0
        while b"in blocked_in_c" not in dump and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 0.1)[0]:
                dump += os.read(proc.stderr.fileno(), 65536)
        assert proc.poll() is None, "the dump came while the call was still blocked"
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = dump.decode()
    assert "most recent call first" in text and "in blocked_in_c" in text, text
