"""The stream worker: a confluent-kafka consume -> process -> produce loop in transactions.

One consumer (group ``STREAMS_APP_ID``, read_committed) over every enabled raw topic and
the alert rules' inputs; one transactional producer (``<app id>-<instance id>``). A batch
of records is handled (``streams.handlers``), its outputs and table writes are produced,
and every ``STREAMS_COMMIT_INTERVAL_S`` the consumed offsets are sent to the transaction
and it commits (KIP-447: the consumer group's generation fences a worker that lost its
partitions). Only then do the table writes become local state (``streams.state``). If the
commit fails, the transaction is aborted, the writes are discarded and the consumer goes
back to the committed offsets: the same records are handled again, nothing is lost or
published twice. A Kafka outage holds the commit (retried) and never advances an offset.

Rebalances: on revoke the open transaction commits (like Kafka Streams); on assign each
partition's tables are caught up with their changelogs before its records are consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from types import FrameType
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from .dedupe import sweep_interval_s
from .dlq import DeadLetter
from .handlers import Handlers, Headers, Source, Stats, dead_letter, write
from .lane import NativeLane
from .metrics import AgentMetrics
from .routing import Dataset
from .settings import Settings
from .state import BackendFactory, Partition, Table, restore
from .topics import ALERT_TABLE, enabled, inputs, tables

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
#: a call into the Kafka client blocked this long ends the process (``watch_commits``)
STUCK_S = 180.0
#: tombstones per transaction in a sweep
SWEEP_CHUNK = 5000
#: a fenced producer is renewed at most RENEW_MAX times in RENEW_WINDOW_S, then the worker exits
RENEW_MAX = 3
RENEW_WINDOW_S = 300.0
#: producer errors after which it is replaced before it sends offsets (``_check_producer``)
DISCONNECTED = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})  # noqa: SLF001
#: how much longer than its own timeout a ``_bounded`` producer call is waited for
HANG_GRACE_S = 5.0
#: the longest wait between two attempts while Kafka is unreachable
MAX_BACKOFF_S = 10.0


class WorkerError(RuntimeError):
    """The worker cannot go on (fenced by a newer instance, a fatal producer error)."""


TP = tuple[str, int]


class Worker:
    """Runs until ``stop`` (SIGTERM / SIGINT); see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        handlers: Handlers,
        backends: BackendFactory,
        *,
        consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
        producer_factory: Callable[[dict[str, Any]], Any] = Producer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.stats: Stats = handlers.stats
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        self._consumer_factory = consumer_factory
        self._producer_factory = producer_factory
        self._clock = clock
        self.tables = {name: Table(name, topic, backends)
                       for name, topic in tables(settings).items()}
        self.datasets: dict[str, Dataset] = {d.topic: d for d in enabled(settings)}
        self.alert_topic = settings.alert_events if settings.alerts else None
        #: raw topic -> its short path (``streams.lane``); at-least-once checks every
        #: delivery, so only under exactly_once
        self.lanes: dict[str, NativeLane] = {}
        if self.exactly_once:
            for topic, dataset in self.datasets.items():
                lane = NativeLane.of(handlers, dataset)
                if lane is not None:
                    self.lanes[topic] = lane
        if self.lanes:
            log.info("short path (streams.lane) for %s", ", ".join(sorted(self.lanes)))
        self.consumer: Any = None
        self.producer: Any = None
        #: next offset to commit per consumed partition of the open transaction
        self.positions: dict[TP, int] = {}
        #: table partitions written in the open transaction
        self.touched: set[Partition] = set()
        self.assigned: set[TP] = set()
        self.in_transaction = False
        self.transaction_began = 0.0
        self.ready = False
        self.stopping = threading.Event()
        #: at_least_once: delivery failures since the last commit
        self._failed: list[str] = []
        self._sweep_s = sweep_interval_s(settings.dedup_horizon_s)
        #: when the producer was renewed (``renew_producer``)
        self._renewals: list[float] = []
        #: how long the commits since the last progress line took
        self.commit_seconds: list[float] = []
        #: monotonic time the running call into the Kafka client that may block (a commit,
        #: an abort, ...) began (``watch_commits``)
        self.blocked_since: float | None = None
        #: the producer lost a broker connection (its ``error_cb``): it must not send
        #: offsets any more (``_check_producer``)
        self._disconnected = False

    # --- Kafka clients ---------------------------------------------------------------

    def _consumer_conf(self) -> dict[str, Any]:
        # the worker's defaults, then ``KAFKA_CONF_*``, then what its guarantees need
        return {
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.settings.session_timeout_s * 1000,
            "heartbeat.interval.ms": max(1000, self.settings.session_timeout_s * 1000 // 5),
            # a restore runs inside the rebalance callback
            "max.poll.interval.ms": 900_000,
            "queued.max.messages.kbytes": 65536,
            **self.settings.client_conf(),
            "group.id": self.settings.app_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
        }

    def _producer_conf(self) -> dict[str, Any]:
        timeout_ms = self.settings.transaction_timeout_s * 1000
        conf: dict[str, Any] = {
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
            **self.settings.client_conf(),
            "enable.idempotence": True,
        }
        if self.exactly_once:
            conf |= {
                "error_cb": self._producer_error,
                "transactional.id": self.settings.transactional_id,
                "transaction.timeout.ms": timeout_ms,
                "message.timeout.ms": timeout_ms,
            }
        return conf

    def _send(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
              headers: Headers | None = None,
              on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        """Produce one record (in the open transaction); wait for room when the queue is full."""
        if not self.in_transaction:  # a sweep's first write
            self._begin()
        callback = on_delivery
        if not self.exactly_once:  # a failed delivery must stop the offsets' commit
            callback = self._check_delivery if on_delivery is None else _both(
                on_delivery, self._check_delivery)
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition,
                                      headers=list(headers) if headers else None,
                                      on_delivery=callback)
                return
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:
                if exc.args[0].fatal():
                    raise _Fenced(str(exc.args[0])) from exc
                raise

    def _producer_error(self, error: KafkaError) -> None:
        if error.code() in DISCONNECTED:
            self._disconnected = True

    def _new_producer(self) -> None:
        """A new producer in place of the current one, its transactional id registered
        (which fences the old one: the broker aborts its open transaction)."""
        self._disconnected = False
        self.producer = self._producer_factory(self._producer_conf())
        if self.exactly_once:
            self._init_transactions()

    def _check_producer(self) -> bool:
        """Serve the producer's callbacks; True when it lost a broker connection since it
        was made. Such a producer's ``send_offsets_to_transaction`` can block for good once
        Kafka is back (librdkafka #5456/#5511: a stale group coordinator, the call's timeout
        never checked), so it is replaced before it sends offsets."""
        self.producer.poll(0)
        return self._disconnected

    def _bounded(self, name: str, call: Callable[[], None], timeout_s: float) -> None:
        """``call`` on a helper thread, waited for ``timeout_s`` at most: a producer call that
        can hang past its own timeout until Kafka is back (``send_offsets_to_transaction``,
        librdkafka #5456). Its error is raised here; ``_Hung`` when it has not returned
        (the producer must then be given up: its thread ends once Kafka answers)."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                errors.append(exc)

        thread = threading.Thread(target=run, name=f"kafka-{name}", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            msg = f"{name} has not returned in {timeout_s:.0f} s (Kafka unreachable?)"
            raise _Hung(msg)
        if errors:
            raise errors[0]

    @contextlib.contextmanager
    def _blocking(self) -> Iterator[None]:
        """Around a Kafka client call that may block (it has a timeout, which librdkafka
        does not always keep: ``watch_commits``)."""
        self.blocked_since = time.monotonic()
        try:
            yield
        finally:
            self.blocked_since = None

    def _check_delivery(self, error: Any, message: Any) -> None:
        if error is not None:
            self._failed.append(f"{message.topic()}/{message.partition()}: {error}")

    # --- transactions ----------------------------------------------------------------

    def _begin(self) -> None:
        if self.exactly_once:
            if self._check_producer():
                log.warning("the producer lost its connection to Kafka: a new one for the"
                            " next transaction")
                self._new_producer()
            try:
                self.producer.begin_transaction()
            except KafkaException as exc:
                if exc.args[0].fatal():
                    raise _Fenced(str(exc.args[0])) from exc
                raise
        self.in_transaction = True
        self.transaction_began = self._clock()

    def commit(self) -> bool:
        """Commit the open transaction: outputs, table writes and consumed offsets together.

        False when it was aborted instead: the assigned partitions are back at their
        committed offsets, so records fetched but not handled yet must be dropped.
        """
        if not self.in_transaction:
            return True
        for counters in self.handlers.metrics.values():
            counters.publish()
        began = self._clock()
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.positions.items()]
        try:
            if self.exactly_once:
                self._commit_transaction(offsets)
            else:
                self._commit_at_least_once(offsets)
        except _Aborted as exc:
            self._abort(str(exc))
            return False
        except _Fenced as exc:
            self.renew_producer(str(exc))
            return False
        except _Hung as exc:
            self.renew_producer(str(exc), fenced=False)
            return False
        for table in self.touched:
            table.flush()
        self.stats.committed += 1
        took = self._clock() - began
        self.commit_seconds.append(took)
        if took > 5.0:
            log.warning("slow commit: %.1f s (the transaction was open %.1f s)", took,
                        self._clock() - self.transaction_began)
        self._reset()
        return True

    def _commit_transaction(self, offsets: list[TopicPartition]) -> None:
        if self._check_producer():
            msg = "the producer lost its connection to Kafka during the transaction"
            raise _Aborted(msg)
        if offsets:
            # Not retried: a retry of a timed-out call can block for good (librdkafka
            # #5456/#5511, the group coordinator request ignores its timeout); abort and
            # read the records again instead.
            try:
                self._bounded("send_offsets_to_transaction", partial(
                    self.producer.send_offsets_to_transaction, offsets,
                    self.consumer.consumer_group_metadata(), 30), 30 + HANG_GRACE_S)
            except KafkaException as exc:
                if exc.args[0].fatal():
                    raise _Fenced(str(exc.args[0])) from exc
                msg = f"sending the offsets to the transaction failed: {exc.args[0]}"
                raise _Aborted(msg) from exc
        deadline = self._clock() + self.settings.commit_retry_s
        while True:
            try:
                with self._blocking():
                    self.producer.commit_transaction(30)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.txn_requires_abort():
                    msg = f"transaction commit failed: {error}"
                    raise _Aborted(msg) from exc
                if error.fatal():
                    raise _Fenced(str(error)) from exc
                if not error.retriable() or self._clock() > deadline:
                    msg = f"transaction commit failed: {error}"
                    raise _Aborted(msg) from exc
                log.warning("commit: %s; retrying (offsets stay where they are)", error)
                time.sleep(1.0)

    def _commit_at_least_once(self, offsets: list[TopicPartition]) -> None:
        with self._blocking():
            remaining = self.producer.flush(60)
        if remaining or self._failed:
            failed, self._failed = self._failed[:3], []
            msg = f"{remaining} records not delivered; failures: {failed}"
            raise _Aborted(msg)
        if offsets:
            try:
                with self._blocking():
                    self.consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                msg = f"offset commit failed: {exc.args[0]}"
                raise _Aborted(msg) from exc

    def _abort(self, reason: str) -> None:
        """Undo the open transaction and read its records again from the committed offsets."""
        log.warning("%s: aborting; its records are read again from the committed offsets",
                    reason)
        if self.exactly_once:
            deadline = self._clock() + self.settings.commit_retry_s
            while True:
                try:
                    with self._blocking():
                        self.producer.abort_transaction(30)
                    break
                except KafkaException as exc:
                    error = exc.args[0]
                    if error.fatal() or self._clock() > deadline:
                        self.renew_producer(f"abort failed: {error}", fenced=error.fatal())
                        return
                    log.warning("abort: %s; retrying", error)
                    time.sleep(1.0)
        # A new producer after every abort: after a coordinator outage the old one's next
        # send_offsets_to_transaction can block for good (librdkafka #5456/#5511).
        discarded, rewound = self._start_over(new_producer=self.exactly_once)
        log.info("aborted: %d table writes discarded, %d partitions rewound",
                 discarded, rewound)

    def renew_producer(self, reason: str, *, fenced: bool = True) -> None:
        """The producer was fenced: the broker aborted its transaction (open longer than
        STREAMS_TRANSACTION_TIMEOUT_S, e.g. through a Kafka outage), or a newer instance
        with the same transactional id started. Discard the transaction's table writes,
        start a new producer (which fences any older one) and read again from the
        committed offsets; give up when it keeps happening (two live workers share an id).
        ``fenced=False``: the producer is given up for another reason (its abort failed,
        a call of it hangs), which does not count towards that limit."""
        now = self._clock()
        if fenced:
            self._renewals = [t for t in self._renewals if now - t < RENEW_WINDOW_S] + [now]
        if len(self._renewals) > RENEW_MAX:
            msg = (f"transactional producer {self.settings.transactional_id} fenced"
                   f" {len(self._renewals)} times in {RENEW_WINDOW_S:.0f} s ({reason}): is"
                   " another worker running with the same STREAMS_INSTANCE_ID / data directory?")
            raise WorkerError(msg)
        log.warning("producer %s (%s): starting a new one; the open transaction's records"
                    " are read again from the committed offsets",
                    "fenced" if fenced else "given up", reason)
        discarded, rewound = self._start_over(new_producer=True)
        log.info("new producer ready: %d table writes discarded, %d partitions rewound",
                 discarded, rewound)

    def _start_over(self, *, new_producer: bool) -> tuple[int, int]:
        """After an aborted or lost transaction: forget its table writes, (start a new
        producer,) and seek every assigned partition back to its committed offset, not only
        those in the transaction (records fetched and not handled yet are dropped by the
        loop and must come again). Returns (table writes discarded, partitions rewound)."""
        discarded = sum(table.discard() for table in self.touched)
        consumed = [TopicPartition(t, p) for t, p in sorted(self.assigned)]
        self._reset()
        self.stats.aborted += 1
        if new_producer:
            self._new_producer()
        if consumed:
            self._rewind(consumed)
        return discarded, len(consumed)

    def _init_transactions(self) -> None:
        """Register the transactional id (fencing older producers); retried for as long as
        Kafka is unreachable (nothing is lost by waiting: the offsets stay where they are)."""
        for attempt in itertools.count():
            try:
                with self._blocking():
                    self.producer.init_transactions(60)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal() or not error.retriable():
                    msg = f"transactional producer {self.settings.transactional_id}: {error}"
                    raise WorkerError(msg) from exc
                self._wait_for_kafka("init transactions", error, attempt)

    def _wait_for_kafka(self, what: str, error: Any, attempt: int) -> None:
        """Back off before the next attempt of ``what`` (1, 2, 4, 8, then every 10 s); a
        stop asked for meanwhile ends the wait (``_Stopped``)."""
        if self.stopping.is_set():
            raise _Stopped(what)
        delay = min(2.0 ** attempt, MAX_BACKOFF_S)
        log.warning("%s: %s; Kafka unavailable, retrying in %.0f s (nothing is committed"
                    " meanwhile)", what, error, delay)
        time.sleep(delay)

    def _rewind(self, partitions: list[TopicPartition]) -> None:
        for attempt in itertools.count():
            try:
                with self._blocking():
                    committed = self.consumer.committed(partitions, timeout=30)
                break
            except KafkaException as exc:  # Kafka still down: the offsets are needed first
                if exc.args[0].fatal():
                    msg = f"committed offsets not readable to rewind: {exc.args[0]}"
                    raise WorkerError(msg) from exc
                self._wait_for_kafka("reading the committed offsets", exc.args[0], attempt)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            try:
                self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
            except KafkaException as exc:  # not fetching yet: it starts at the committed one
                log.debug("seek %s/%s: %s", tp.topic, tp.partition, exc)

    def _reset(self) -> None:
        self.positions = {}
        self.touched = set()
        self.in_transaction = False

    # --- rebalances ------------------------------------------------------------------

    def _table_for(self, topic: str) -> Table | None:
        if topic == self.alert_topic:
            return self.tables.get(ALERT_TABLE)
        dataset = self.datasets.get(topic)
        return None if dataset is None else self.tables.get(dataset.table)

    def on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Catch the assigned partitions' tables up with their changelogs, then consume."""
        began = self._clock()
        wanted = {(tp.topic, tp.partition) for tp in partitions}
        for table in self.tables.values():  # partitions moved elsewhere: close their stores
            mine = {p for (t, p) in wanted if self._table_for(t) is table}
            for number in set(table.partitions) - mine:
                table.close(number)
        opened = []
        for topic, number in sorted(wanted):
            found = self._table_for(topic)
            if found is not None:
                opened.append(found.open(number))
        read = restore(self.settings.client_conf(), opened)
        self.assigned = wanted
        by_topic: dict[str, list[int]] = {}
        for topic, number in sorted(wanted):
            by_topic.setdefault(topic, []).append(number)
        log.info("tables caught up with their changelogs in %.1f s: %d partitions, %d records"
                 " read", self._clock() - began, len(opened), read)
        line = "; ".join(f"{t} {p}" for t, p in sorted(by_topic.items()))
        if not self.ready:
            self.ready = True
            log.info("STREAMS READY: partitions %s", line or "none")
        else:
            log.info("rebalance: partitions %s", line or "none")

    def on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Commit the open transaction before the partitions move (its offsets with it)."""
        self.assigned = set()  # an abort now does not seek partitions that are leaving
        if self.in_transaction:
            log.info("rebalance: committing the open transaction before partitions are revoked")
            self.commit()

    def on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """The group dropped this worker (no heartbeat in time): its transaction cannot
        commit any more; abort it."""
        self.assigned = set()
        if self.in_transaction:
            self._abort("partitions lost")

    # --- the loop --------------------------------------------------------------------

    def handle(self, message: Any) -> None:
        """One consumed record into the open transaction."""
        topic, partition = message.topic(), message.partition()
        table = self._table_for(topic)
        if table is None or (topic, partition) not in self.assigned:
            return
        part = table.partitions.get(partition)
        if part is None:  # not ``or``: an empty partition is falsy (a Mapping)
            part = table.open(partition)
        self.touched.add(part)
        lane = self.lanes.get(topic)
        try:
            if lane is None or not lane(message, partition, part, self.producer.produce,
                                        self._send):
                source = _source(message)
                if topic == self.alert_topic:
                    self.handlers.alert(source, part, self._send)
                else:
                    self.handlers.raw(source, self.datasets[topic], part, self._send)
        except KafkaException as exc:  # an output Kafka refuses at once (too large, ...);
            error = exc.args[0]  # fatal errors come as ``_Fenced`` from ``_send``
            if error.txn_requires_abort():
                msg = f"producing an output failed: {error}"
                raise _Aborted(msg) from exc
            dead_letter(self._send, _source(message), DeadLetter(
                "encode", f"Kafka refused an output of this record: {exc.args[0]}"))
            self.stats.dead_letters += 1
        self.positions[(topic, partition)] = message.offset() + 1

    def sweep(self) -> None:
        """Expire old dedup keys and spent alert states of the assigned partitions
        (tombstones, committed every ``SWEEP_CHUNK`` deletes: transactions stay short)."""
        expired = swept = 0
        rosters = {d.table for d in self.datasets.values() if d.roster}
        for name, table in self.tables.items():
            if name in rosters:
                continue
            for part in list(table.partitions.values()):
                if name == ALERT_TABLE:
                    keys = self.handlers.spent_alert_keys(part)
                    swept += len(keys)
                else:
                    keys = self.handlers.expired_keys(part, self.settings.dedup_horizon_s)
                    expired += len(keys)
                for n, key in enumerate(keys, 1):
                    self.touched.add(part)
                    write(self._send, part, key, None)  # the first write opens a transaction
                    if n % SWEEP_CHUNK == 0:
                        self.commit()
        self.commit()
        if expired or swept:
            log.info("sweep: expired %d dedup keys older than %ds, %d spent alert states",
                     expired, self.settings.dedup_horizon_s, swept)

    def run(self) -> int:
        """Consume until stopped; commit and leave the group; return the exit code."""
        try:
            self._new_producer()  # fences a previous instance with the same id (exactly_once)
        except _Stopped as exc:
            log.warning("stopped before Kafka was reachable (%s)", exc)
            return 0
        self.consumer = self._consumer_factory(self._consumer_conf())
        self.consumer.subscribe(list(inputs(self.settings)), on_assign=self.on_assign,
                                on_revoke=self.on_revoke, on_lost=self.on_lost)
        interval = self.settings.commit_interval_s
        next_sweep = self._clock() + self._sweep_s
        next_progress = self._clock() + PROGRESS_INTERVAL_S
        try:
            while not self.stopping.is_set():
                wait = 0.5
                if self.in_transaction:
                    wait = max(0.0, self.transaction_began + interval - self._clock())
                # what is fetched already, else wait for the first record (``consume(n, t)``
                # returns after n records or t seconds, so n > 1 with a timeout adds latency)
                messages = self.consumer.consume(self.settings.max_batch, timeout=0)
                if not messages:
                    messages = self.consumer.consume(1, timeout=wait)
                for n, message in enumerate(messages, 1):
                    error = message.error()
                    if error is not None:
                        if error.fatal():
                            msg = f"consumer failed: {error}"
                            raise WorkerError(msg)
                        log.warning("consumer: %s", error)
                        continue
                    try:
                        if not self.in_transaction:
                            self._begin()
                        self.handle(message)
                    except _Fenced as exc:
                        self.renew_producer(str(exc))
                        break  # the rest of the batch comes again from the committed offsets
                    except _Aborted as exc:
                        self._abort(str(exc))
                        break
                    if (n % 100 == 0 and self._clock() - self.transaction_began >= interval
                            and not self.commit()):  # a slow batch: keep transactions short
                        break  # aborted: the rest of the batch comes again
                now = self._clock()
                if self.in_transaction and now - self.transaction_began >= interval:
                    self.commit()
                if now >= next_sweep:
                    next_sweep = now + self._sweep_s
                    try:
                        self.sweep()
                    except _Fenced as exc:
                        self.renew_producer(str(exc))
                if now >= next_progress:
                    next_progress = now + PROGRESS_INTERVAL_S
                    log.info("streams progress: %s%s", self.stats.line(), self._commit_times())
            log.info("stopping: committing and leaving the group")
            self.commit()
            return 0
        except _Stopped as exc:
            log.warning("stopped while Kafka was unreachable (%s): the records since the last"
                        " commit are read again by the next worker", exc)
            for part in self.touched:
                part.discard()
            self._reset()  # leaving the group below has nothing to commit
            return 0
        except BaseException:
            # a bug or a second signal mid-batch: the open transaction may hold part of a
            # record's outputs, so it must not commit (its records come again after a restart)
            if self.in_transaction:
                with contextlib.suppress(Exception):
                    self._abort("stopping on an error")
            raise
        finally:
            try:
                self.consumer.close()  # leaves the group (on_revoke commits what is open)
            except (KafkaException, WorkerError, RuntimeError) as exc:
                log.warning("leaving the group: %s", exc)
            if not self.exactly_once:
                self.producer.flush(30)
            for table in self.tables.values():
                table.close_all()
            log.info("streams stopped: %s", self.stats.line())

    def _commit_times(self) -> str:
        """`` commit_ms p50/p99/max=a/b/c`` over the commits since the last call."""
        times, self.commit_seconds = sorted(self.commit_seconds), []
        if not times:
            return ""
        p50, p99 = times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]
        return f" commit_ms p50/p99/max={p50 * 1e3:.0f}/{p99 * 1e3:.0f}/{times[-1] * 1e3:.0f}"

    def stop(self) -> None:
        """Ask the loop to finish its transaction and stop."""
        self.stopping.set()


def _source(message: Any) -> Source:
    """A consumed ``Message`` as ``Handlers`` takes it."""
    _, timestamp = message.timestamp()
    return Source(message.topic(), message.partition(), message.offset(), message.key(),
                  message.value(), message.headers(),
                  timestamp if timestamp > 0 else int(time.time() * 1000))


def _both(first: Callable[[Any, Any], None],
          second: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def callback(error: Any, message: Any) -> None:
        first(error, message)
        second(error, message)

    return callback


class _Aborted(Exception):  # noqa: N818 - control flow inside ``commit``
    """The open transaction cannot commit and must be aborted."""


class _Fenced(Exception):  # noqa: N818 - control flow inside ``commit`` / the loop
    """The transactional producer hit a fatal error (fenced): it must be replaced."""


class _Hung(Exception):  # noqa: N818 - control flow inside ``commit``
    """A producer call did not return in time (``Worker._bounded``): the producer is given up."""


class _Stopped(Exception):  # noqa: N818 - control flow out of a wait for Kafka
    """A stop was asked for while waiting for Kafka to come back."""


def watch_commits(worker: Worker, stuck_s: float = STUCK_S) -> threading.Thread:
    """Exit the process when a call into the Kafka client (a commit, an abort, ...) has
    been blocked for ``stuck_s``: each has a timeout of at most 60 s, which librdkafka does
    not always keep (#5456). Nothing is lost: the open transaction is aborted by the broker
    and a restarted worker reads its records again. Waits between attempts while Kafka is
    unreachable are not calls: an outage of any length is ridden out."""
    def watch() -> None:
        while not worker.stopping.wait(10.0):
            since = worker.blocked_since
            if since is not None and time.monotonic() - since > stuck_s:
                log.critical("a call into the Kafka client has been blocked for %.0f s:"
                             " exiting (code 3) so that the worker is restarted; the open"
                             " transaction is aborted, nothing is lost", stuck_s)
                logging.shutdown()
                os._exit(3)

    thread = threading.Thread(target=watch, name="commit-watchdog", daemon=True)
    thread.start()
    return thread


def status(worker: Worker, metrics: Mapping[str, AgentMetrics]) -> list[dict[str, Any]]:
    """``/health``: one line per dataset; unhealthy before partitions are assigned or stopping."""
    healthy = worker.ready and not worker.stopping.is_set()
    return [{**m.status(), "healthy": healthy} for m in metrics.values()]


def serve_metrics(worker: Worker, metrics: Mapping[str, AgentMetrics], port: int) -> None:
    """Prometheus ``/metrics`` and ``/health`` on ``port`` from a daemon thread."""
    from connector.health import serve

    async def main() -> None:
        await serve(lambda: status(worker, metrics), port)
        log.info("metrics on :%d/metrics, health on :%d/health", port, port)
        while not worker.stopping.is_set():
            await asyncio.sleep(0.5)

    threading.Thread(target=lambda: asyncio.run(main()), name="metrics", daemon=True).start()


def install_signals(worker: Worker) -> None:
    """SIGTERM / SIGINT stop the worker cleanly (a second one exits at once); SIGUSR1 dumps
    the threads."""
    def stop(signum: int, frame: FrameType | None) -> None:
        if worker.stopping.is_set():
            log.warning("second stop signal: exiting now")
            raise SystemExit(1)
        log.info("signal %d: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # from the C signal handler: the stacks come also while the main thread is blocked in
    # a librdkafka call (a Python handler would only run once that call returned)
    with contextlib.suppress(AttributeError, ValueError):
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
