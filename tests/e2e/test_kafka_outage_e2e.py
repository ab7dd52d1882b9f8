"""With Kafka down no checkpoint advances; the connector and the stream worker ride it out
and, once Kafka is back, lose and duplicate nothing."""

from __future__ import annotations

import contextlib
import secrets
import threading
import time

import pytest
from confluent_kafka import Producer
from support import (
    Topics,
    connector_env,
    count_keys,
    duplicates,
    produce,
    read_topic,
    start_connector,
    start_sim,
    start_streams,
    streams_env,
    wait_until,
)
from test_streams_datasets_e2e import Raw, _unique
from test_streams_datasets_e2e import samples as ocsf_samples

from infra.stack import LocalStack

pytestmark = pytest.mark.e2e

HTTP_DATASET = "http_requests"
HTTP_TOPIC = "siem.http_activity.v1"
#: longer than a failing commit's and abort's calls and retries together, and than the
#: first wait for a new producer (``STREAMS_COMMIT_RETRY_S``=10: up to stop 12 the worker
#: gave up there and exited 1, ~120 s into the outage)
LONG_OUTAGE_S = 150


@pytest.fixture
def own_stack(tmp_path):
    """A broker of our own (the shared one must not go down): always the local JVM stack."""
    stack = LocalStack(tmp_path / "stack")
    info = stack.start()
    try:
        yield stack, info
    finally:
        stack.stop()


def test_kafka_outage_loses_nothing_and_duplicates_nothing(own_stack, tmp_path):
    stack, info = own_stack
    sim = start_sim(tmp_path, initial_events=300, events_per_second=20)
    connector = start_connector(
        tmp_path, connector_env(info, sim, f"e2e-outage-{secrets.token_hex(3)}", CF_PER_PAGE="50",
                             CFKAFKA_TRANSACTION_TIMEOUT_S="4")
    )
    worker = start_streams(tmp_path, streams_env(info, tmp_path, f"outage-{secrets.token_hex(3)}"))
    try:
        connector.wait_for("committed", timeout_s=90)
        worker.wait_for("STREAMS READY", timeout_s=120)
        # the worker is busy (the simulator keeps sending) when the broker goes down
        wait_until(lambda: bool(read_topic(info, "siem.audit.v1", timeout_s=5)), 120,
                   "the worker's first output", [worker])
        stack.stop_broker()
        committed_before = connector.output().count("committed")
        time.sleep(15)  # events keep arriving at Cloudflare during the outage
        assert connector.running, connector.output()[-2000:]
        assert worker.running, worker.output()[-2000:]
        assert connector.output().count("committed") == committed_before, (
            "nothing can be committed while Kafka is down"
        )
        stack.start_broker()
        time.sleep(3)
        sim.pause()
        truth = sim.events()
        topics = Topics(info, sim.account_id)
        wait_until(lambda: {r["id"] for r in topics.raw()} == {e["id"] for e in truth}, 240,
                   "every event after the outage", [connector, sim.service])
        ids = [r["id"] for r in topics.raw()]
        assert not duplicates(ids)
        assert len(ids) == len(truth)
        log = connector.output()
        assert "retrying in" in log, "the failed transaction was retried, not skipped"
        assert log.count("resuming after") >= 1, "the position was reloaded from Kafka"
        # the stream worker, through the same outage: every raw event once in siem.audit.v1
        keys = {str(i).encode() for i in ids}

        def siem_complete() -> bool:
            return set(count_keys(info, "siem.audit.v1", keys)[0]) == keys

        wait_until(siem_complete, 240, "every event in siem.audit.v1", [worker])
        counts, _ = count_keys(info, "siem.audit.v1", keys)
        assert {k: n for k, n in counts.items() if n != 1} == {}, worker.output()[-3000:]
    finally:
        worker.stop()
        connector.stop()
        sim.service.stop()


def http_worker(info, tmp_path, n: int, name: str, **env: str):
    """``n`` unique raw http_requests messages and a worker's environment for them alone
    (short path: alerts off), started."""
    run = secrets.token_hex(4)
    raw = Raw(info, run)
    messages = [raw.message(HTTP_DATASET, _unique(HTTP_DATASET, r, run, i))
                for i, r in enumerate(ocsf_samples(HTTP_DATASET, n))]
    env = {**streams_env(info, tmp_path, f"{name}-{run}"), "STREAMS_DATASETS": HTTP_DATASET,
           "STREAMS_ALERTS": "false", **env}
    return messages, start_streams(tmp_path, env)


@pytest.mark.timeout(900)
def test_an_idle_worker_goes_on_after_outages(own_stack, tmp_path):
    """Idle (no open transaction) while Kafka is down, the worker must commit its next
    transaction once Kafka is back: the producer that lived through the outage would block
    for good in send_offsets_to_transaction (librdkafka #5456/#5511), so it is replaced."""
    stack, info = own_stack
    messages, worker = http_worker(info, tmp_path, 300, "idle")
    batches = [messages[i::3] for i in range(3)]
    try:
        worker.wait_for("STREAMS READY", timeout_s=180)
        seen: set[bytes] = set()
        for n, batch in enumerate(batches):
            keys = {m[1] for m in batch if m[1] is not None}
            produce(info, batch)
            seen |= keys
            wait_until(lambda k=seen: set(count_keys(info, HTTP_TOPIC, k)[0]) == k, 120,
                       f"batch {n} after {n} outages", [worker])
            if n == len(batches) - 1:
                break
            time.sleep(2)  # the worker is idle: its last transaction is committed
            stack.stop_broker()
            time.sleep(15)
            stack.start_broker()
        counts, _ = count_keys(info, HTTP_TOPIC, seen)
        assert {k: c for k, c in counts.items() if c != 1} == {}
    finally:
        worker.stop()


@pytest.mark.timeout(1200)
def test_a_busy_worker_rides_out_an_outage_longer_than_every_deadline(own_stack, tmp_path):
    """Kafka down for longer than the commit and abort deadlines while records stream in:
    the worker's open transaction fails, it waits for Kafka as long as it takes (no exit,
    the watchdog quiet), and then every event Kafka took is once in its SIEM topic."""
    stack, info = own_stack
    batch, worker = http_worker(info, tmp_path, 10_000, "long", STREAMS_COMMIT_RETRY_S="10")
    delivered: set[bytes] = set()
    stop_feeding = threading.Event()

    def feed() -> None:  # ~1,000 records/s until told to stop: the worker is never idle
        producer = Producer({"bootstrap.servers": info.bootstrap, "linger.ms": 5,
                             "partitioner": "murmur2_random", "message.timeout.ms": 5000})

        def acked(error: object, message: object) -> None:
            if error is None:
                delivered.add(message.key())  # type: ignore[attr-defined]

        for n, (topic, key, value, headers) in enumerate(batch):
            if stop_feeding.is_set():
                break
            with contextlib.suppress(BufferError):
                producer.produce(topic, key=key, value=value, headers=headers,
                                 on_delivery=acked)
            producer.poll(0)
            if n % 10 == 0:
                time.sleep(0.01)
        producer.flush(10)

    feeder = threading.Thread(target=feed)
    try:
        worker.wait_for("STREAMS READY", timeout_s=180)
        feeder.start()
        time.sleep(5)
        stack.stop_broker()  # records still arriving: the worker has a transaction open
        stop_feeding.set()
        feeder.join(30)
        time.sleep(LONG_OUTAGE_S)
        assert worker.running, worker.output()[-3000:]
        stack.start_broker()
        keys = set(delivered)
        assert len(keys) > 1000
        wait_until(lambda: set(count_keys(info, HTTP_TOPIC, keys)[0]) == keys, 300,
                   "every event after the long outage", [worker])
        counts, _ = count_keys(info, HTTP_TOPIC, keys)
        assert {k: c for k, c in counts.items() if c != 1} == {}
        log = worker.output()
        assert "Kafka unavailable, retrying in" in log, "it waited for Kafka"
        assert "has been blocked" not in log
    finally:
        stop_feeding.set()
        worker.stop()
