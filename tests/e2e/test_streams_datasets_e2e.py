"""The streams worker over every raw topic, against a real broker and registry: each raw
event once in its SIEM topic although the raw topics hold duplicates, across a kill -9 of
the worker; roster changes as inventory events; garbage dead-lettered while the rest flows.

Raw records are simulator records run through the connector's conversion (the OCSF test
samples), produced directly with the connector's keys and headers, so the test controls
the duplicates: a second copy of a quarter of every topic (as two connectors on one
account would write) with a later ``cf.snapshot_at`` on the roster topics.
"""

from __future__ import annotations

import json
import random
import secrets
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support import (
    count_keys,
    produce,
    read_topic,
    skip_history,
    start_streams,
    streams_env,
    wait_until,
)

import schemas
from schemas.registry import Encoder, register, registry_client
from streams.ocsf import DATASETS as OCSF_DATASETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams" / "ocsf"))
from ocsf_samples import key_of, samples, topic_value  # noqa: E402

pytestmark = pytest.mark.e2e

SIEM = {
    "audit_logs": ("siem.api_activity.v1", "siem.authentication.v1"),
    "audit_logs_v2": ("siem.api_activity.v1", "siem.authentication.v1"),
    "access_requests": ("siem.authentication.v1",),
    "http_requests": ("siem.http_activity.v1",),
    "firewall_events": ("siem.detection_finding.v1",),
    "members": ("siem.inventory.v1",),
    "access_users": ("siem.inventory.v1",),
}
COUNTS = {"audit_logs": 300, "audit_logs_v2": 150, "access_requests": 300,
          "http_requests": 1200, "firewall_events": 300, "members": 80, "access_users": 60}
DLQ = "cloudflare.dlq.v1"
Msg = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def _unique(dataset: str, record: dict[str, Any], run: str, i: int) -> dict[str, Any]:
    """The record with its identity made unique to this run (so is its Kafka key)."""
    record = dict(record)
    if dataset.startswith("audit_logs"):
        record["id"] = f"{run}-{dataset}-{i:06d}"
    elif dataset == "access_requests":
        record["ray_id"] = f"{run}{i:06x}"
    elif dataset in {"http_requests", "firewall_events"}:
        record["RayID"] = f"{run}{i:06x}"
    elif dataset == "members":
        record["user"] = {**record["user"], "id": f"{run}u{i:05d}"}
    else:  # access_users: not the members' ids (both write siem.inventory.v1)
        record["id"] = f"{run}a{i:05d}"
    return record


class Raw:
    def __init__(self, stack: Any, run: str) -> None:
        self.account = secrets.token_hex(16)
        self.zone = secrets.token_hex(16)
        self.run = run
        self.encoders: dict[str, Encoder] = {}
        with registry_client(stack.registry_url) as client:
            for dataset in SIEM:
                name = OCSF_DATASETS[dataset].raw_schema
                schema_id = register(client, f"cloudflare.{dataset}.v1-value", schemas.text(name))
                self.encoders[dataset] = Encoder(schema_id, schemas.load(name))

    def key(self, dataset: str, record: dict[str, Any]) -> bytes:
        key = key_of(dataset, record)
        if dataset in {"members", "access_users"}:
            key = f"{self.account}/{key.split('/', 1)[1]}"
        return key.encode()

    def message(self, dataset: str, record: dict[str, Any], snapshot: str = "2026-11-22T20:00:00Z",
                *, change: str = "added") -> Msg:
        scope = f"zone:{self.zone}" if dataset in {"http_requests", "firewall_events"} \
            else f"account:{self.account}"
        headers = [("cf.feed", dataset.encode()), ("cf.scope", scope.encode())]
        if dataset in {"members", "access_users"}:
            headers += [("cf.snapshot_at", snapshot.encode()), ("cf.change", change.encode())]
        value = self.encoders[dataset].encode(topic_value(dataset, record))
        return f"cloudflare.{dataset}.v1", self.key(dataset, record), value, headers


Expected = dict[str, dict[bytes, int]]


def _scenario(
    raw: Raw, rand: random.Random
) -> tuple[list[Msg], list[Msg], Expected, dict[bytes, str]]:
    """(originals, duplicates and changes, expected count per key per dataset, dead letters)."""
    first: list[Msg] = []
    later: list[Msg] = []
    expected: dict[str, dict[bytes, int]] = {}
    dead: dict[bytes, str] = {}
    for dataset, n in COUNTS.items():
        records = [_unique(dataset, r, raw.run, i) for i, r in enumerate(samples(dataset, n))]
        messages = [raw.message(dataset, r) for r in records]
        first += messages
        expected[dataset] = {m[1]: 1 for m in messages if m[1] is not None}
        # a second copy of a quarter (a second connector), in the same partition, later
        for message in rand.sample(messages, n // 4):
            topic, key, value, headers = message
            if dataset in {"members", "access_users"}:
                headers = [(h, v) for h, v in headers if h != "cf.snapshot_at"]
                headers.append(("cf.snapshot_at", b"2026-11-22T21:00:00Z"))
            later.append((topic, key, value, headers))
        garbage = f"{raw.run}-garbage-{dataset}".encode()
        first.append((f"cloudflare.{dataset}.v1", garbage, b"\x00\xff\xff\xff\xf0 not avro", []))
        dead[garbage] = "decode"
        if dataset == "members":
            changed, removed, readded = records[:8], records[8:14], records[8:10]
            for record in changed:  # a real change: one more inventory event each, once
                new = {**record, "status": "rejected" if record.get("status") != "rejected"
                       else "accepted"}
                message = raw.message(dataset, new, "2026-11-22T22:00:00Z", change="changed")
                later += [message, message]
                expected[dataset][message[1]] += 1
            for record in removed:  # a removal is a tombstone, not an event
                later.append((f"cloudflare.{dataset}.v1", raw.key(dataset, record), None,
                              [("cf.change", b"removed")]))
            for record in readded:  # added again with the old state: published again
                later.append(raw.message(dataset, record, "2026-11-22T23:00:00Z"))
                expected[dataset][raw.key(dataset, record)] += 1
            # a roster record without its snapshot time cannot be normalized
            topic, _, value, headers = raw.message(dataset, _unique(dataset, records[0], raw.run,
                                                                     99999))
            bad = f"{raw.account}/{raw.run}-no-snapshot".encode()
            later.append((topic, bad, value, [h for h in headers if h[0] != "cf.snapshot_at"]))
            dead[bad] = "normalize"
    # Access denials for one user, three before the kill -9 and three after: the rule's state
    # survives the crash (changelog) and the alert fires once, at the fifth
    for i, message in enumerate(_denials(raw, f"{raw.run}-mallory@example.com", f"{raw.run}d",
                                         "192.0.2.66", "2026-11-22T20:30")):
        (first if i < 3 else later).append(message)
        expected["access_requests"][message[1]] = 1
    return first, later, expected, dead


def _denials(raw: Raw, email: str, ray_prefix: str, ip: str, minute: str) -> list[Any]:
    """Six denied Access logins of ``email`` from ``ip``, 1 s apart from ``minute``:10."""
    base = samples("access_requests", 1)[0]
    return [raw.message("access_requests", {
        **base, "ray_id": f"{ray_prefix}{i:05x}", "allowed": False, "action": "login",
        "user_email": email, "ip_address": ip, "created_at": f"{minute}:{10 + i:02d}Z",
    }) for i in range(6)]


def _alerts(stack: Any, needle: str) -> list[dict[str, Any]]:
    """Decoded ``siem.alerts.v1`` findings that mention ``needle``."""
    from schemas.registry import Decoder

    found = []
    with registry_client(stack.registry_url) as client:
        decoder = Decoder(client)
        for message in read_topic(stack, "siem.alerts.v1", timeout_s=30):
            finding = decoder.decode(message.value)
            if needle in repr(finding):
                found.append(finding)
    return found


def _outputs(stack: Any, expected: dict[str, dict[bytes, int]]) -> dict[str, dict[bytes, int]]:
    """Per dataset, the count of each of its keys over its SIEM topic(s)."""
    out: dict[str, dict[bytes, int]] = {}
    cache: dict[str, list[Any]] = {}
    for dataset, keys in expected.items():
        counts: dict[bytes, int] = {}
        for topic in SIEM[dataset]:
            if topic not in cache:
                cache[topic] = read_topic(stack, topic, timeout_s=60)
            for message in cache[topic]:
                if message.key in keys:
                    counts[message.key] = counts.get(message.key, 0) + 1
        out[dataset] = counts
    return out


@pytest.mark.timeout(900)
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_every_dataset_exactly_once_per_siem_topic_across_kill9(stack, tmp_path):
    run = secrets.token_hex(4)
    raw = Raw(stack, run)
    first, later, expected, dead = _scenario(raw, random.Random(3))
    app_id = f"e2e-ds-{run}"
    env = {**streams_env(stack, tmp_path, app_id), "STREAMS_DATASETS": ",".join(SIEM)}
    skip_history(stack, app_id, [f"cloudflare.{d}.v1" for d in SIEM])
    worker = start_streams(tmp_path, env, "streams-0")
    services = [worker]
    try:
        worker.wait_for("STREAMS READY", timeout_s=180)
        t0 = time.monotonic()
        produce(stack, first)
        http = expected["http_requests"]
        wait_until(lambda: len(count_keys(stack, "siem.http_activity.v1", set(http))[0])
                   >= 50, 240, "some http output", [worker])
        worker.kill()  # kill -9 mid-run: uncommitted transactions are aborted
        partial = sum(map(len, _outputs(stack, expected).values()))
        # the duplicates and roster changes arrive while the worker is down: after the
        # restart only the dedup tables restored from their changelogs can drop them
        produce(stack, later)
        port = _free_port()
        worker = start_streams(tmp_path, {**env, "STREAMS_METRICS_PORT": str(port)}, "streams-1")
        services.append(worker)
        wait_until(lambda: _outputs(stack, expected) == expected, 420, "every SIEM record",
                   [worker], poll_s=3)
        elapsed = time.monotonic() - t0
        time.sleep(3)  # nothing more may arrive
        got = _outputs(stack, expected)
        for dataset, counts in expected.items():
            wrong = {k: n for k, n in got[dataset].items() if counts[k] != n}
            assert not wrong, f"{dataset}: {list(wrong.items())[:5]}"
            assert got[dataset] == counts, dataset
        def mallory_alerts() -> list[dict[str, Any]]:
            return [f for f in _alerts(stack, f"{run}-mallory@example.com")
                    if f["finding_info"]["analytic"]["uid"] == "cfkafka.auth.denials.user"]

        wait_until(lambda: bool(mallory_alerts()), 120, "the Access denials alert", [worker])
        time.sleep(2)
        mallory = mallory_alerts()
        assert len(mallory) == 1, mallory
        assert len(mallory[0]["finding_info"]["related_events"]) == 5
        legacy, _ = count_keys(stack, "siem.audit.v1", set(expected["audit_logs"]))
        assert legacy == expected["audit_logs"]  # the deprecated flattened output, once each
        letters, messages = count_keys(stack, DLQ, set(dead))
        assert letters == dict.fromkeys(dead, 1)
        for message in messages:
            assert message.headers["dlq.stage"].decode() == dead[message.key]
            assert message.headers["dlq.reason"]
            topic = message.headers["dlq.source.topic"].decode()
            assert topic.startswith("cloudflare.") and topic.endswith(".v1")
        # the restarted worker's /health and /metrics, then a clean stop on SIGTERM
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            health = json.loads(answer.read())
        assert health["status"] == "ok" and {f["agent"] for f in health["feeds"]} >= set(SIEM)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        assert 'cfkafka_streams_events_in_total{agent="http_requests"}' in metrics
        assert worker.stop() == 0, worker.output()[-3000:]
        assert "streams stopped: received=" in worker.output()
        print(f"STREAMS DATASETS E2E {sum(COUNTS.values())} events + {len(later)} later "
              f"records in {elapsed:.1f}s; {partial} of "
              f"{sum(map(len, expected.values()))} keys out at the kill -9")
    finally:
        for service in reversed(services):
            service.stop()
