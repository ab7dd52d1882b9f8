"""Helpers for end-to-end tests: the simulator, connector and stream worker as processes,
and reading topics back through the schema registry."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from infra.procs import Service
from schemas.registry import Decoder, registry_client

ROOT = Path(__file__).resolve().parents[2]


def new_account_id() -> str:
    return secrets.token_hex(16)


@dataclass
class Sim:
    service: Service
    base_url: str
    account_id: str
    token: str

    @property
    def admin_url(self) -> str:
        return self.base_url.removesuffix("/client/v4") + "/__sim"

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.admin_url}/{path}", data=data, method="POST" if data else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def events(self) -> list[dict[str, Any]]:
        return self.admin(f"audit_logs?account_id={self.account_id}")

    def pause(self) -> None:
        """Stop live arrivals; a batch already being generated still lands, so settle."""
        self.admin("live", {"events_per_second": 0})
        time.sleep(1.0)


def start_sim(tmp_path: Path, *, initial_events: int = 300, events_per_second: float = 20,
              seed: int = 7, extra: list[str] | None = None) -> Sim:
    from sim.config import DEFAULT_API_TOKEN

    account_id = new_account_id()
    service = Service(
        "sim",
        [sys.executable, "-m", "sim", "--port", "0", "--seed", str(seed),
         "--account-id", account_id, "--initial-events", str(initial_events),
         "--history-s", "7200", "--events-per-second", str(events_per_second), *(extra or [])],
        env=dict(os.environ), log_path=tmp_path / "sim.log",
    ).start()
    out = service.wait_for("SIM READY", timeout_s=30)
    base_url = out.split("SIM READY", 1)[1].split()[0]
    return Sim(service, base_url, account_id, DEFAULT_API_TOKEN)


def connector_env(stack: Any, sim: Sim, name: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CF_", "CFKAFKA_"))}
    env.update(
        CF_API_BASE_URL=sim.base_url,
        CF_API_TOKEN=sim.token,
        CF_ACCOUNT_ID=sim.account_id,
        KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        SCHEMA_REGISTRY_URL=stack.registry_url,
        CFKAFKA_CONNECTOR_NAME=name,
        CF_SETTLE_LAG_S="1.5",
        CF_POLL_INTERVAL_S="0.5",
        CF_START_LOOKBACK_S="86400",
        CF_PER_PAGE="100",
    )
    env.update(overrides)
    return env


def start_connector(tmp_path: Path, env: dict[str, str], tag: str = "connector") -> Service:
    return Service(
        tag, [sys.executable, "-m", "connector", "run"], env=env, log_path=tmp_path / f"{tag}.log"
    ).start()


def streams_env(stack: Any, tmp_path: Path, app_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "CF_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        SCHEMA_REGISTRY_URL=stack.registry_url,
        STREAMS_APP_ID=app_id,
        STREAMS_DATADIR=str(tmp_path / f"streams-{app_id}"),
        STREAMS_SESSION_TIMEOUT_S="10",
        # these tests check the audit pipeline; a worker over every raw topic would first
        # work through the other tests' raw history (tests/e2e/test_streams_*_e2e.py)
        STREAMS_DATASETS="audit_logs",
    )
    return env


def start_streams(tmp_path: Path, env: dict[str, str], tag: str = "streams") -> Service:
    return Service(
        tag, [sys.executable, "-m", "streams"], env=env, log_path=tmp_path / f"{tag}.log",
        cwd=tmp_path,
    ).start()


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def read_topic(stack: Any, topic: str, timeout_s: float = 30) -> list[Message]:
    """Every committed message of ``topic`` (read_committed), from the beginning to the end."""
    consumer = Consumer({
        "bootstrap.servers": stack.bootstrap,
        "group.id": f"e2e-reader-{secrets.token_hex(4)}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    })
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return []
        partitions = [TopicPartition(topic, p, 0) for p in meta.partitions]
        consumer.assign(partitions)
        pending = {tp.partition for tp in partitions}
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                    continue
                raise RuntimeError(str(msg.error()))
            out.append(Message(msg.topic(), msg.partition(), msg.offset(), msg.key(),
                               msg.value(), dict(msg.headers() or [])))
        assert not pending, f"did not reach the end of {topic}"
        return out
    finally:
        consumer.close()


class Topics:
    """Decoded views of the pipeline's topics for one account."""

    def __init__(self, stack: Any, account_id: str) -> None:
        self.stack = stack
        self.account_id = account_id

    def _decode(self, messages: list[Message]) -> list[dict[str, Any]]:
        with registry_client(self.stack.registry_url) as client:
            decoder = Decoder(client)
            return [decoder.decode(m.value) for m in messages]

    def raw(self) -> list[dict[str, Any]]:
        scope = f"account:{self.account_id}".encode()
        return self._decode([m for m in read_topic(self.stack, "cloudflare.audit_logs.v1")
                             if m.headers.get("cf.scope") == scope])

    def feed(self, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
        """(key, decoded value) of this account's records in a raw ``topic``."""
        scope = f"account:{self.account_id}".encode()
        messages = [m for m in read_topic(self.stack, topic) if m.headers.get("cf.scope") == scope]
        return list(zip([m.key for m in messages], self._decode(messages), strict=True))

    def siem(self) -> list[dict[str, Any]]:
        records = self._decode(read_topic(self.stack, "siem.audit.v1"))
        return [r for r in records if r.get("account_uid") == self.account_id]

    def dlq(self) -> list[Message]:
        source = f"connector/audit_logs/account:{self.account_id}".encode()
        return [m for m in read_topic(self.stack, "cloudflare.dlq.v1")
                if m.headers.get("dlq.source") == source]


def duplicates(ids: list[str]) -> dict[str, int]:
    return {k: n for k, n in Counter(ids).items() if n > 1}


def wait_until(check: Callable[[], bool], timeout_s: float, what: str,
               services: list[Service] = (), poll_s: float = 1.0) -> None:  # type: ignore[assignment]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        for service in services:
            assert service.running, f"{service.name} died:\n{service.output()[-3000:]}"
        time.sleep(poll_s)
    logs = "\n".join(f"--- {s.name}\n{s.output()[-2000:]}" for s in services)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{logs}")


_SHIFTED_RUN = """\
import sys
from datetime import timedelta

import connector.cli as cli
import connector.jobs as jobs

offset = timedelta(seconds=float(sys.argv[1]))
wall = jobs._now
jobs._now = lambda: wall() + offset  # the clock every runner and probe is built with
cli._now = jobs._now
print(f"connector clock shifted by {offset.total_seconds():+.0f} s", flush=True)
sys.exit(cli.main(["run"]))
"""


def start_connector_at(tmp_path: Path, env: dict[str, str], clock_offset_s: float,
                       tag: str = "connector") -> Service:
    """``cfkafka run`` whose clock reads wall time + ``clock_offset_s`` (negative: the past),
    to pair with a simulator started with the same ``--clock-offset-s``: moving the
    simulator's clock forward later stands for hours of downtime in a test of seconds."""
    return Service(
        tag, [sys.executable, "-c", _SHIFTED_RUN, str(clock_offset_s)], env=env,
        log_path=tmp_path / f"{tag}.log",
    ).start()



# --- the streams worker over every raw topic (tests/e2e/test_streams_*_e2e.py) ---------


RawMessage = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def produce(stack: Any, messages: list[RawMessage]) -> None:
    """Produce ``(topic, key, value, headers)`` in order, partitioned like the connector."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 20})
    for topic, key, value, headers in messages:
        producer.produce(topic, key=key, value=value, headers=headers)
        producer.poll(0)
    assert producer.flush(60) == 0


def count_keys(stack: Any, topic: str, keys: set[bytes]) -> tuple[dict[bytes, int], list[Message]]:
    """How often each of ``keys`` is in ``topic`` (read_committed), and those messages."""
    counts: dict[bytes, int] = {}
    found = [m for m in read_topic(stack, topic, timeout_s=60) if m.key in keys]
    for message in found:
        assert message.key is not None
        counts[message.key] = counts.get(message.key, 0) + 1
    return counts, found


def skip_history(stack: Any, group: str, topics: list[str]) -> None:
    """Commit ``group``'s offsets at the end of ``topics`` (created if missing), so that a
    new worker starts after the raw records earlier tests left there, not at the start."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    existing = admin.list_topics(timeout=30).topics
    missing = [NewTopic(t, num_partitions=3) for t in topics if t not in existing]
    for future in (admin.create_topics(missing).values() if missing else ()):
        try:
            future.result()
        except Exception:  # noqa: BLE001 - created concurrently
            pass
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    try:
        offsets = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            for partition in meta.partitions:
                deadline = time.monotonic() + 30
                while True:  # a topic created just now may not have a leader yet
                    try:
                        _, high = consumer.get_watermark_offsets(
                            TopicPartition(topic, partition), timeout=10)
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.5)
                offsets.append(TopicPartition(topic, partition, high))
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
