"""The worker against a real broker and registry: kill -9 mid-run, restart, exactly once.

Uses the session ``stack`` fixture (tests/conftest.py): a real broker and registry.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RAW, SIEM, DLQ = "cloudflare.audit_logs.v1", "siem.audit.v1", "cloudflare.dlq.v1"


@pytest.fixture(scope="module")
def addresses(stack: Any) -> tuple[str, str]:
    return stack.bootstrap, stack.registry_url


class Worker:
    """``python -m streams`` as a subprocess, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams"], cwd=ROOT, env=self.env, stdout=out, stderr=out
            )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        start = self.log.read_text(errors="replace").count("STREAMS READY")
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            if self.log.read_text(errors="replace").count("STREAMS READY") > start:
                return
            time.sleep(0.2)
        raise AssertionError("worker not ready:\n" + self.tail())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def _produce(boot: str, url: str, ids: list[str], dups: int, garbage: list[bytes]) -> None:
    from confluent_kafka import Producer

    import schemas
    from schemas.registry import Encoder, register, registry_client

    with registry_client(url) as client:
        schema_id = register(client, f"{RAW}-value", schemas.text("cloudflare.audit_logs"))
    encoder = Encoder(schema_id, schemas.load("cloudflare.audit_logs"))
    producer = Producer(
        {"bootstrap.servers": boot, "partitioner": "murmur2_random", "enable.idempotence": True}
    )
    actions = ["login", "logout", "token_create", "update", "delete"]
    for i, eid in enumerate([*ids, *ids[:dups]]):
        record = {
            "id": eid,
            "when": f"2024-05-01T12:00:{i % 60:02d}.{i:06d}Z",
            "action": {"type": actions[i % len(actions)], "result": i % 9 != 0},
            "actor": {"id": f"u{i % 17}", "email": "a@example.com", "ip": "192.0.2.1"},
        }
        headers = [("cf.feed", b"audit_logs"), ("cf.scope", b"account:acc-e2e")]
        producer.produce(RAW, key=eid.encode(), value=encoder.encode(record), headers=headers)
        producer.poll(0)
    for key in garbage:
        producer.produce(RAW, key=key, value=b"\x00\xff\xff\xff\xf0 not avro")
    producer.flush(30)


def _read_committed(
    boot: str, topic: str, wanted: set[bytes], expect: int, timeout: float, quiet: float = 5
):
    """Keys in ``wanted`` read from ``topic`` (read_committed): ``expect`` distinct, then quiet."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": boot,
            "group.id": f"verify-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    counts: collections.Counter[bytes] = collections.Counter()
    headers: dict[bytes, Any] = {}
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if len(counts) >= expect and time.monotonic() - quiet_since >= quiet:
                break
            if msg is None or msg.error():
                continue
            quiet_since = time.monotonic()
            if msg.key() in wanted:
                counts[msg.key()] += 1
                headers[msg.key()] = dict(msg.headers() or [])
    finally:
        consumer.close()
    return counts, headers


def _drained(boot: str, group: str, topic: str, timeout: float) -> None:
    """Wait until ``group`` has committed every partition of ``topic`` up to its end."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": boot, "group.id": group})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in parts]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
            if all(done[p] >= end for p, end in ends.items()):
                return
            time.sleep(0.5)
        raise AssertionError(f"{group} did not consume {topic} to {ends}: at {done}")
    finally:
        consumer.close()


@pytest.mark.timeout(600)
def test_kill_9_and_restart_delivers_every_event_exactly_once(addresses, tmp_path: Path):
    boot, url = addresses
    guarantee = os.environ.get("STREAMS_E2E_GUARANTEE", "exactly_once")
    n, dups = int(os.environ.get("STREAMS_E2E_EVENTS", "8000")), 500
    ids = [str(uuid.uuid4()) for _ in range(n)]
    garbage = [f"garbage-{uuid.uuid4()}".encode() for _ in range(5)]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": boot,
        "SCHEMA_REGISTRY_URL": url,
        "STREAMS_APP_ID": f"streams-e2e-{uuid.uuid4().hex[:8]}",
        "STREAMS_DATADIR": str(tmp_path / "data"),
        "STREAMS_STORE": "rocksdb://",
        "STREAMS_PROCESSING_GUARANTEE": guarantee,
        "PYTHONUNBUFFERED": "1",
        "STREAMS_SESSION_TIMEOUT_S": "10",
    }
    # start after the raw history earlier tests left (the worker reads every raw topic)
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from support import skip_history

    raw_topics = [f"cloudflare.{d}.v1" for d in ("audit_logs", "audit_logs_v2",
                  "access_requests", "http_requests", "firewall_events", "members",
                  "access_users")]
    skip_history(type("Stack", (), {"bootstrap": boot})(), env["STREAMS_APP_ID"], raw_topics)
    worker = Worker(env, tmp_path / "worker.log")
    try:
        worker.start()
        worker.wait_ready()
        t0 = time.monotonic()
        _produce(boot, url, ids, dups, garbage)
        produced_s = time.monotonic() - t0
        # Kill -9 once some (not all) output is committed.
        wanted = {i.encode() for i in ids}
        partial, _ = _read_committed(boot, SIEM, wanted, expect=n // 4, timeout=120, quiet=0)
        assert 0 < len(partial) < n, f"kill point missed: {len(partial)} of {n} out"
        worker.kill(signal.SIGKILL)
        worker.start()
        worker.wait_ready()
        counts, _ = _read_committed(boot, SIEM, wanted, expect=n, timeout=240)
        total_s = time.monotonic() - t0
        dead, dead_headers = _read_committed(boot, DLQ, set(garbage), len(garbage), 60)
        # Every partition has committed now: kill -9 again, delete the local stores and send
        # every event once more. The dedup tables must come back from their changelogs in
        # full, or these are published again (the first restart kept the local stores and
        # read only the changelog written after their stored offsets).
        worker.kill(signal.SIGKILL)
        shutil.rmtree(tmp_path / "data")
        worker.start()
        worker.wait_ready()
        _produce(boot, url, ids, 0, [])
        _drained(boot, env["STREAMS_APP_ID"], RAW, timeout=240)
        again, _ = _read_committed(boot, SIEM, wanted, expect=n, timeout=60, quiet=2)
    finally:
        worker.kill(signal.SIGTERM)
    report = {
        "guarantee": guarantee,
        "events": n,
        "distinct_out": len(counts),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "produce_s": round(produced_s, 1),
        "end_to_end_s": round(total_s, 1),
    }
    print("STREAMS E2E", json.dumps(report))
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert len(counts) == n, worker.tail()
    assert [k for k, c in counts.items() if c != 1] == [], report
    assert sum(again.values()) == n, f"replayed after a restart: {sum(again.values()) - n}"
    assert sorted(dead) == sorted(garbage) and set(dead.values()) == {1}
    assert {h["dlq.stage"] for h in dead_headers.values()} == {b"decode"}
