"""streams.handlers: what one consumed record writes to the sink (no Kafka): outputs to the
source partition, changelog records to the table's changelog partition, dead letters with
their headers, alert inputs to their subject's partition, findings, and the sweeps'
tombstones. ``Wiring`` (the ``wiring`` fixture) is shared with the wiring tests."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_streams_pipeline import Raw

from streams.alerts import AlertConfig, default_rules
from streams.codecs import Codecs
from streams.dedupe import state_digest
from streams.handlers import Handlers, Headers, Source, Stats
from streams.metrics import AgentMetrics
from streams.pipeline import Options, alert_inputs, alert_partition
from streams.routing import ALERTS, DATASET, DATASETS, LEGACY_AUDIT
from streams.state import MemoryBackend, Partition, decode, encode
from streams.topics import DLQ

sys.path.insert(0, str(Path(__file__).parent / "alerts"))
from alert_factories import access_login  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import samples  # noqa: E402

NOW = 1_780_000_000.0
T0 = int(NOW * 1000)
ALERT_TOPIC = "test-alert-events"


@dataclass(frozen=True)
class Sent:
    """One sink call."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None
    on_delivery: Callable[[Any, Any], None] | None


class RecordingSink:
    """A ``streams.handlers.Sink`` that records its calls."""

    def __init__(self) -> None:
        self.records: list[Sent] = []

    def __call__(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
                 headers: Headers | None = None,
                 on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        self.records.append(Sent(topic, partition, key, value,
                                 None if headers is None else list(headers), on_delivery))

    def to(self, topic: str) -> list[Sent]:
        return [r for r in self.records if r.topic == topic]

    def topics(self) -> set[str]:
        return {r.topic for r in self.records}


class Wiring:
    """``Handlers`` with a recording sink, memory-backed table partitions and a settable
    clock (``now``, epoch seconds)."""

    def __init__(self, handlers: Handlers, now: float) -> None:
        self.handlers = handlers
        self.sink = RecordingSink()
        self.now = now
        self.tables: dict[tuple[str, int], Partition] = {}
        handlers.now = lambda: self.now

    @classmethod
    def build(cls, codecs: Codecs, options: Options, partitions: int, now: float) -> Wiring:
        metrics = {d.name: AgentMetrics(d.name) for d in DATASETS}
        return cls(Handlers(codecs, options, partitions, Stats(), metrics), now)

    def table(self, name: str, number: int = 0) -> Partition:
        """Table ``name``'s partition ``number`` (one per test, on ``MemoryBackend``)."""
        found = self.tables.get((name, number))
        if found is None:
            found = Partition(name, f"test-{name}-changelog", number, MemoryBackend())
            self.tables[(name, number)] = found
        return found

    @staticmethod
    def source(topic: str, partition: int, offset: int, key: bytes | None,
               value: bytes | None, headers: Any = None, timestamp_ms: int = T0) -> Source:
        if isinstance(headers, dict):
            headers = list(headers.items())
        return Source(topic, partition, offset, key, value, headers, timestamp_ms)

    def raw(self, dataset: str, message: tuple[bytes | None, bytes | None, Any],
            partition: int = 0, offset: int = 0) -> Partition:
        """Handle one raw message of ``dataset``; return the table partition it used."""
        spec = DATASET[dataset]
        table = self.table(spec.table, partition)
        key, value, headers = message
        self.handlers.raw(self.source(spec.topic, partition, offset, key, value, headers),
                          spec, table, self.sink)
        return table


def test_a_raw_record_goes_to_the_source_partition_and_its_key_to_the_changelog(
    wiring: Callable[..., Wiring], codecs: Codecs, raw: Raw
):
    w = wiring()
    record = samples("audit_logs", 1)[0]
    key, value, headers = raw.message("audit_logs", record)
    table = w.raw("audit_logs", (key, value, headers), partition=2, offset=17)

    changelog = w.sink.to(table.topic)
    assert len(changelog) == 1
    assert (changelog[0].partition, changelog[0].key) == (2, key)
    assert decode(changelog[0].value) == int(NOW)
    assert changelog[0].on_delivery == table.on_delivery
    outputs = [r for r in w.sink.records if r.topic != table.topic]
    assert LEGACY_AUDIT.topic in {r.topic for r in outputs}
    assert len(outputs) == 2
    for sent in outputs:
        assert (sent.partition, sent.key) == (2, key)
        assert codecs.raw.decode(sent.value)  # decodes with its registered schema
    # the key is pending (the dedup of the next record sees it), not stored before commit
    assert table.get(key) == int(NOW)
    assert table.backend.get(key) is None
    assert (w.handlers.stats.received, w.handlers.stats.sent) == (1, 1)


def test_a_duplicate_writes_nothing(wiring: Callable[..., Wiring], raw: Raw):
    w = wiring()
    message = raw.message("access_requests", samples("access_requests", 1)[0])
    table = w.raw("access_requests", message, partition=1, offset=0)
    table.flush()
    before = len(w.sink.records)
    w.now += 60
    w.raw("access_requests", message, partition=1, offset=1)
    assert len(w.sink.records) == before
    assert table.get(message[0]) == int(NOW)  # first sighting kept
    assert w.handlers.stats.duplicates == 1


def test_garbage_is_a_dead_letter_with_headers_to_the_source_partition(
    wiring: Callable[..., Wiring]
):
    w = wiring()
    table = w.raw("http_requests", (b"k1", b"not avro", None), partition=2, offset=41)
    (letter,) = w.sink.records
    assert (letter.topic, letter.partition, letter.key, letter.value) == (
        DLQ, 2, b"k1", b"not avro")
    headers = dict(letter.headers or [])
    assert headers["dlq.stage"] == b"decode"
    assert headers["dlq.source"] == b"cloudflare.http_requests.v1/2/41"
    assert headers["dlq.source.partition"] == b"2"
    assert headers["dlq.source.offset"] == b"41"
    assert table.pending == {}
    assert w.handlers.stats.dead_letters == 1


def test_a_roster_record_stores_its_state_digest_and_a_removal_deletes_it(
    wiring: Callable[..., Wiring], codecs: Codecs, raw: Raw
):
    w = wiring()
    key, value, headers = raw.message("members", samples("members", 1)[0])
    table = w.raw("members", (key, value, headers), partition=0)
    assert table.get(key) == state_digest(codecs.decode_raw(value))
    assert w.sink.to("siem.inventory.v1")
    table.flush()
    w.sink.records.clear()
    w.raw("members", (key, None, headers), offset=1)
    (tombstone,) = w.sink.records
    assert (tombstone.topic, tombstone.key, tombstone.value) == (table.topic, key, None)
    assert table.get(key) is None
    w.sink.records.clear()
    w.raw("members", (b"acc/unknown-user", None, headers), offset=2)
    assert w.sink.records == [], "removing a user never seen writes nothing"


def test_alert_inputs_go_to_the_partition_of_their_subject(
    wiring: Callable[..., Wiring], raw: Raw
):
    rules = default_rules(AlertConfig())
    w = wiring(Options(alert_rules=rules, alert_topic=ALERT_TOPIC), partitions=6)
    denied = next(r for r in samples("access_requests", 200) if not r["allowed"])
    w.raw("access_requests", raw.message("access_requests", denied), partition=4)
    inputs = w.sink.to(ALERT_TOPIC)
    assert len(inputs) >= 2
    for sent in inputs:
        assert sent.key is not None and b"|" in sent.key
        assert sent.partition == alert_partition(sent.key, 6)
        assert json.loads(sent.value or b"")["rule"] == sent.key.split(b"|")[0].decode()
    assert len({s.partition for s in w.sink.to("siem.authentication.v1")} | {4}) == 1


def _denials(n: int, email: str = "eve@example.com") -> list[tuple[bytes, bytes]]:
    rules = default_rules(AlertConfig(denials_threshold=3))
    inputs = []
    for i in range(n):
        event = access_login(f"evt-{i}", T0 + i * 1000, allowed=False, email=email)
        inputs += [(s.key, s.value) for s in alert_inputs(rules, ALERT_TOPIC, event)
                   if s.key is not None and b"user:" in s.key]
    return inputs


def test_the_alert_handler_publishes_a_finding_and_stores_the_state(
    wiring: Callable[..., Wiring], codecs: Codecs
):
    rules = default_rules(AlertConfig(denials_threshold=3))
    w = wiring(Options(alert_rules=rules, alert_topic=ALERT_TOPIC))
    table = w.table("alert-state", 5)
    for offset, (key, value) in enumerate(_denials(3)):
        w.handlers.alert(w.source(ALERT_TOPIC, 5, offset, key, value), table, w.sink)
    (alert,) = w.sink.to(ALERTS.topic)
    assert alert.partition == 5
    finding = codecs.raw.decode(alert.value)
    assert alert.key == finding["finding_info"]["uid"].encode()
    assert [e["uid"] for e in finding["finding_info"]["related_events"]] == [
        "evt-0", "evt-1", "evt-2"]
    changelog = w.sink.to(table.topic)
    assert len(changelog) == 3
    assert {c.partition for c in changelog} == {5}
    # the transaction's first write reports its delivery (the stored changelog offset)
    assert [c.on_delivery == table.on_delivery for c in changelog] == [True, False, False]
    key = changelog[-1].key
    assert key is not None
    state = table.get(key)
    assert state is not None and state["events"] == [] and state["quiet_until"] > T0
    assert encode(state) == changelog[-1].value
    assert w.handlers.stats.alerts == 1


@pytest.mark.parametrize("value", [b"{not json", b'{"rule": "no.such.rule", "event": {}}',
                                   b'{"rule": "cfkafka.auth.denials.user", "event": 3}'])
def test_an_unreadable_alert_input_is_a_dead_letter(wiring: Callable[..., Wiring], value: bytes):
    w = wiring(Options(alert_rules=default_rules(), alert_topic=ALERT_TOPIC))
    table = w.table("alert-state", 1)
    w.handlers.alert(w.source(ALERT_TOPIC, 1, 9, b"x|y", value), table, w.sink)
    (letter,) = w.sink.records
    assert (letter.topic, letter.partition, letter.value) == (DLQ, 1, value)
    assert dict(letter.headers or [])["dlq.source.offset"] == b"9"
    assert table.pending == {}


def test_expire_seen_tombstones_keys_older_than_the_horizon(wiring: Callable[..., Wiring]):
    w = wiring()
    table = w.table("audit_logs-seen", 1)
    horizon = 3600
    table.set(b"old", int(NOW) - horizon - 1)
    table.set(b"edge", int(NOW) - horizon)
    table.set(b"new", int(NOW) - 5)
    table.flush()
    table.set(b"pending", int(NOW))  # written in the open transaction: seen now
    assert w.handlers.expire_seen(table, w.sink, horizon) == 2
    assert {(r.topic, r.partition, r.key, r.value) for r in w.sink.records} == {
        (table.topic, 1, b"old", None), (table.topic, 1, b"edge", None)}
    assert dict(table.items()) == {b"new": int(NOW) - 5, b"pending": int(NOW)}


def test_sweep_alerts_tombstones_spent_and_unknown_states(wiring: Callable[..., Wiring]):
    config = AlertConfig()
    w = wiring(Options(alert_rules=default_rules(config), alert_topic=ALERT_TOPIC))
    table = w.table("alert-state", 0)
    window_ms = config.denials_window_s * 1000
    live = {"v": 1, "events": [], "last": T0, "quiet_until": 0}
    spent = {"v": 1, "events": [], "last": T0 - window_ms - 1, "quiet_until": 0}
    table.set(b"cfkafka.auth.denials.user|user:a", live)
    table.set(b"cfkafka.auth.denials.user|user:b", spent)
    table.set(b"no.such.rule|user:c", live)
    assert w.handlers.sweep_alerts(table, w.sink) == 2
    assert sorted((r.key, r.value) for r in w.sink.records) == [
        (b"cfkafka.auth.denials.user|user:b", None), (b"no.such.rule|user:c", None)]
    assert [k for k, _ in table.items()] == [b"cfkafka.auth.denials.user|user:a"]


def test_stats_line_names_every_counter():
    stats = Stats(received=3, dead_letters=1)
    line = stats.line()
    assert "received=3" in line and "dead_letters=1" in line and "aborted=0" in line


def test_an_output_kafka_refuses_leaves_the_key_unseen(
    wiring: Callable[..., Wiring], raw: Raw
):
    """The table write comes after the outputs: when the sink refuses an output (the worker
    dead-letters the record), the dedup key is not written, so a replay is no duplicate."""
    w = wiring()
    key, value, headers = raw.message("audit_logs", samples("audit_logs", 1)[0])
    refused = RuntimeError("message too large")

    def sink(topic: str, partition: int, key: bytes | None, value: bytes | None,
             headers: Headers | None = None,
             on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        if topic.startswith("siem."):
            raise refused
        w.sink(topic, partition, key, value, headers, on_delivery)

    spec = DATASET["audit_logs"]
    table = w.table(spec.table)
    with pytest.raises(RuntimeError, match="too large"):
        w.handlers.raw(w.source(spec.topic, 0, 0, key, value, headers), spec, table, sink)
    assert table.get(key) is None
    assert w.sink.records == []
