"""confluent-kafka's ``Message`` surface for the fake consumers and producers of the
worker and state tests."""

from __future__ import annotations

from confluent_kafka import KafkaError


class FakeMessage:
    """A consumed record, a delivery report or an end-of-partition event."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None = None,
                 value: bytes | None = b"v", error: KafkaError | None = None,
                 timestamp_ms: int = 0) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._error = key, value, error
        self._timestamp_ms = timestamp_ms

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return 1, self._timestamp_ms

    def error(self) -> KafkaError | None:
        return self._error
