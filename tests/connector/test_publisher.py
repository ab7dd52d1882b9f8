"""TransactionalPublisher.send_many: one produce per record with a shared header list, a full
queue drained by polling, one poll(0) per batch, Kafka errors as PublishError."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from connector.errors import PublishError
from connector.publisher import TransactionalPublisher


class FakeProducer:
    def __init__(self, conf, full_every=0, fail_at=None):
        self.conf, self.produced, self.polls = conf, [], []
        self.full_every, self.fail_at, self.calls = full_every, fail_at, 0

    def init_transactions(self, timeout):
        pass

    def begin_transaction(self):
        pass

    def produce(self, topic, value=None, key=None, headers=None):
        self.calls += 1
        if self.full_every and self.calls % self.full_every == 0:
            raise BufferError("queue full")
        if self.fail_at is not None and len(self.produced) == self.fail_at:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.produced.append((topic, key, value, headers))

    def poll(self, timeout):
        self.polls.append(timeout)
        return 0

    def flush(self, timeout):
        return 0


def _publisher(**kw):
    made = []

    def factory(conf):
        made.append(FakeProducer(conf, **kw))
        return made[-1]

    publisher = TransactionalPublisher({"bootstrap.servers": "k:9092"}, "t",
                                       producer_factory=factory)
    publisher.start()
    publisher.begin()
    return publisher, made[0]


def test_send_many_produces_in_order_with_one_header_list():
    publisher, producer = _publisher()
    headers = [("cf.feed", b"http_requests")]
    keys = [b"k%d" % i for i in range(100)]
    values = [b"v%d" % i for i in range(100)]
    publisher.send_many("t1", keys, values, headers)
    assert [(k, v) for _, k, v, _ in producer.produced] == list(zip(keys, values, strict=True))
    assert all(t == "t1" and h is headers for t, _, _, h in producer.produced)
    assert producer.polls == [0], "one poll(0) per batch"
    assert publisher._sent == 100


def test_send_many_waits_out_a_full_queue():
    publisher, producer = _publisher(full_every=7)
    keys = [b"k%d" % i for i in range(50)]
    publisher.send_many("t1", keys, keys, [])
    assert [k for _, k, _, _ in producer.produced] == keys, "nothing lost or reordered"
    assert producer.polls.count(0.1) >= 7 and producer.polls[-1] == 0


def test_send_many_kafka_error_is_a_publish_error():
    publisher, _ = _publisher(fail_at=3)
    with pytest.raises(PublishError, match="t1"):
        publisher.send_many("t1", [b"a"] * 5, [b"b"] * 5, [])
    with pytest.raises(ValueError, match="keys"):
        publisher.send_many("t1", [b"a"], [], [])
