"""The roster join's state: every partition of the compacted roster topics, read in a thread.

Events of one user land in any partition (raw topics are keyed by event id), so the
join by email needs the whole roster on every worker: a global table. Like Kafka Streams'
GlobalKTable, each worker reads all partitions of ``cloudflare.members.v1`` and
``cloudflare.access_users.v1`` (compacted: the current roster, tombstones remove users)
from the start, read_committed, with no consumer group and no changelog, and keeps
following them. Rosters are small (one entry per member / Access user).

Enrichment never waits for it: an event processed before its user's roster record was
read goes out without the user context (``streams.enrich``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaException

from .enrich import Roster
from .state import PARTITION_EOF

log = logging.getLogger(__name__)

ROSTER_DATASETS = ("members", "access_users")


class RosterReader:
    """Folds the roster topics into ``roster`` from a daemon thread until ``stop``."""

    def __init__(
        self,
        conf: Mapping[str, Any],
        decode: Callable[[bytes | None], dict[str, Any]],
        roster: Roster | None = None,
        datasets: tuple[str, ...] = ROSTER_DATASETS,
    ) -> None:
        """Read ``cloudflare.<dataset>.v1`` with the librdkafka ``conf``; ``decode`` = Avro."""
        self.conf = dict(conf)
        self.decode = decode
        self.roster = roster if roster is not None else Roster()
        self.topics = {f"cloudflare.{d}.v1": d for d in datasets}
        self.applied = 0
        self.undecodable = 0
        #: set once every partition was read to its end at least once
        self.loaded = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="roster-reader", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it a little."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def fold(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Apply one roster message (a tombstone removes the user; bad records are skipped)."""
        dataset = self.topics.get(topic)
        if dataset is None or key is None:
            return
        try:
            record = None if value is None else self.decode(value)
        except ValueError as exc:  # WireFormatError is a ValueError
            self.undecodable += 1
            log.debug("roster record %s/%r not decodable: %s", topic, key, exc)
            return
        self.roster.apply(dataset, key.decode(errors="replace"), record)
        self.applied += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except KafkaException as exc:  # Kafka unreachable: expected, no traceback
                log.warning("roster reader: %s; restarting in 5 s", exc.args[0])
                self._stop.wait(5.0)
            except Exception:
                log.exception("roster reader failed; restarting in 5 s")
                self._stop.wait(5.0)

    def _follow(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                **self.conf,
                "group.id": f"cfkafka-streams-roster-{time.time_ns()}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        try:
            tps = []
            for topic in self.topics:
                meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
                partitions = sorted(meta.partitions) if meta and not meta.error else []
                tps += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
            if not tps:
                self._stop.wait(10.0)
                return
            consumer.assign(tps)
            pending = {(tp.topic, tp.partition) for tp in tps}
            while not self._stop.is_set():
                for message in consumer.consume(1000, timeout=0.5):
                    error = message.error()
                    if error is None:
                        self.fold(message.topic() or "", message.key(), message.value())
                    elif error.code() == PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                    else:
                        log.warning("roster reader: %s", error)
                if not pending and not self.loaded.is_set():
                    self.loaded.set()
                    log.info(
                        "roster loaded: %d users by email from %d records",
                        len(self.roster.profiles), self.applied,
                    )
        finally:
            consumer.close()
