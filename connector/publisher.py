"""Publishing records and their checkpoint in one Kafka transaction (KIP-618 style).

``commit_transaction`` returns only after every record in the transaction is acknowledged
by the brokers (acks=all, idempotent), so a returned ``publish`` is the proof of delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaException, Producer

from connector.errors import PublishError
from connector.records import Headers, OutRecord

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Writes a batch of records atomically."""

    def start(self) -> None:
        """Connect and fence older instances; raise ``PublishError`` if Kafka is unreachable."""

    def publish(self, records: Sequence[OutRecord]) -> None:
        """Write all ``records`` in one transaction or none; raise ``PublishError``."""

    def begin(self) -> None:
        """Open a transaction for records streamed with ``send``."""

    def send(self, record: OutRecord) -> None:
        """Add one record to the open transaction (returns at once; no delivery yet)."""

    def send_many(
        self, topic: str, keys: Sequence[bytes | None], values: Sequence[bytes], headers: Headers
    ) -> None:
        """``send`` of ``OutRecord(topic, keys[i], values[i], headers)`` for each i, in order
        (one header list shared by all; the batched path for high-volume feeds)."""

    def commit(self) -> None:
        """Commit the open transaction (waits for every ack) or raise ``PublishError``."""

    def abort(self) -> None:
        """Abort the open transaction; nothing of it becomes visible."""

    def close(self) -> None:
        """Release the client; an open transaction is aborted."""


def producer_conf(
    kafka_conf: Mapping[str, str], transactional_id: str, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Producer settings: transactional, idempotent, acks=all, Java-compatible partitioner."""
    return {
        "linger.ms": 20,
        "transaction.timeout.ms": int(timeout_s * 1000),
        "message.timeout.ms": int(timeout_s * 1000),
        **kafka_conf,
        "transactional.id": transactional_id,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
    }


class TransactionalPublisher:
    """A ``confluent_kafka.Producer`` with one transaction per ``publish`` call."""

    def __init__(
        self,
        kafka_conf: Mapping[str, str],
        transactional_id: str,
        *,
        timeout_s: float = 60.0,
        producer_factory: Callable[[dict[str, Any]], Any] = Producer,
    ) -> None:
        """Nothing connects until ``start``."""
        self._conf = producer_conf(kafka_conf, transactional_id, timeout_s)
        self._timeout_s = timeout_s
        self._factory = producer_factory
        self._producer: Any = None
        self._sent = 0

    def start(self) -> None:
        """Create the producer and ``init_transactions`` (fences a zombie, aborts its txn)."""
        self.close()
        producer = self._factory(self._conf)
        try:
            producer.init_transactions(self._timeout_s)
        except KafkaException as exc:
            producer.flush(0)
            msg = f"cannot initialise Kafka transactions: {exc.args[0]}"
            raise PublishError(msg) from exc
        self._producer = producer

    def publish(self, records: Sequence[OutRecord]) -> None:
        """One transaction: produce every record, then commit (waits for all acks)."""
        self.begin()
        try:
            for record in records:
                self.send(record)
        except PublishError:
            self.abort()
            raise
        self.commit()

    def _started(self) -> Any:
        if self._producer is None:
            msg = "publisher is not started (or was dropped after a failure)"
            raise PublishError(msg)
        return self._producer

    def begin(self) -> None:
        """``begin_transaction``."""
        producer = self._started()
        self._sent = 0
        try:
            producer.begin_transaction()
        except KafkaException as exc:
            self._abort(producer)
            msg = f"cannot begin a Kafka transaction: {exc.args[0]}"
            raise PublishError(msg) from exc

    def send(self, record: OutRecord) -> None:
        """Produce into the open transaction; a full local queue is drained by polling."""
        producer = self._started()
        try:
            self._produce(producer, record)
        except KafkaException as exc:
            msg = f"Kafka rejected a record for {record.topic}: {exc.args[0]}"
            raise PublishError(msg) from exc
        self._sent += 1

    def send_many(
        self, topic: str, keys: Sequence[bytes | None], values: Sequence[bytes], headers: Headers
    ) -> None:
        """Produce ``keys[i]``/``values[i]`` into the open transaction with one shared header
        list, serving delivery reports once at the end (``poll(0)``), not per record."""
        if len(keys) != len(values):
            msg = f"send_many: {len(keys)} keys for {len(values)} values"
            raise ValueError(msg)
        producer = self._started()
        produce, poll = producer.produce, producer.poll
        try:
            for key, value in zip(keys, values, strict=True):
                try:
                    produce(topic, value, key, headers=headers)
                except BufferError:  # queue full: serve delivery reports, then retry
                    while True:
                        poll(0.1)
                        try:
                            produce(topic, value, key, headers=headers)
                            break
                        except BufferError:
                            continue
            poll(0)
        except KafkaException as exc:
            msg = f"Kafka rejected a record for {topic}: {exc.args[0]}"
            raise PublishError(msg) from exc
        self._sent += len(keys)

    def commit(self) -> None:
        """``commit_transaction``: returns once every record is acknowledged."""
        producer = self._started()
        try:
            producer.commit_transaction(self._timeout_s)
        except KafkaException as exc:
            self._abort(producer)
            msg = f"Kafka transaction of {self._sent} records failed: {exc.args[0]}"
            raise PublishError(msg) from exc

    def abort(self) -> None:
        """Abort the open transaction (drops the producer if even that fails)."""
        if self._producer is not None:
            self._abort(self._producer)

    @staticmethod
    def _produce(producer: Any, record: OutRecord) -> None:
        while True:
            try:
                producer.produce(
                    record.topic, value=record.value, key=record.key, headers=record.headers
                )
                break
            except BufferError:
                producer.poll(0.1)  # queue full: serve delivery reports, then retry
        producer.poll(0)

    def _abort(self, producer: Any) -> None:
        try:
            producer.abort_transaction(min(self._timeout_s, 10))
        except KafkaException as exc:
            # The producer is unusable; the next start() fences and aborts on the broker.
            log.warning("could not abort the transaction (%s); the producer will be recreated", exc)
            self._producer = None

    def close(self) -> None:
        """Drop the producer; a pending transaction is aborted by the next fencing start."""
        if self._producer is not None:
            self._producer.flush(0)
            self._producer = None
