"""streams.pipeline over every raw dataset (in-memory registry): route, dedup, rosters,
sampling, masking and dead letters."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema
from test_streams_codecs import MockRegistry

import schemas
from schemas.registry import Encoder
from streams.dedupe import state_digest
from streams.dlq import DeadLetter
from streams.masking import Masker
from streams.ocsf import DATASETS as OCSF_DATASETS
from streams.pipeline import Duplicate, Options, Output, Removed, Sampled, process
from streams.routing import DATASET, security_relevant

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import (  # noqa: E402
    ACCOUNT,
    SNAPSHOT_AT,
    ZONE,
    key_of,
    samples,
    topic_value,
)

EXPECTED_TOPIC = {
    "audit_logs": {"siem.api_activity.v1", "siem.authentication.v1"},
    "audit_logs_v2": {"siem.api_activity.v1", "siem.authentication.v1"},
    "access_requests": {"siem.authentication.v1"},
    "http_requests": {"siem.http_activity.v1"},
    "firewall_events": {"siem.detection_finding.v1"},
    "members": {"siem.inventory.v1"},
    "access_users": {"siem.inventory.v1"},
}


class Raw:
    """Encodes simulator records of any dataset as the connector publishes them."""

    def __init__(self, registry: MockRegistry) -> None:
        self.registry = registry
        self.encoders: dict[str, Encoder] = {}

    def encoder(self, dataset: str) -> Encoder:
        if dataset not in self.encoders:
            name = OCSF_DATASETS[dataset].raw_schema
            schema_id = self.registry.register_schema(
                f"cloudflare.{dataset}.v1-value", Schema(schemas.text(name), "AVRO"))
            self.encoders[dataset] = Encoder(schema_id, schemas.load(name))
        return self.encoders[dataset]

    def message(self, dataset: str, record: dict[str, Any]) -> tuple[bytes, bytes, dict]:
        scope = f"zone:{ZONE}" if dataset in {"http_requests", "firewall_events"} \
            else f"account:{ACCOUNT}"
        headers = {"cf.scope": scope.encode(), "cf.feed": dataset.encode()}
        if DATASET[dataset].roster:
            headers["cf.snapshot_at"] = SNAPSHOT_AT.encode()
        value = self.encoder(dataset).encode(topic_value(dataset, record))
        return key_of(dataset, record).encode(), value, headers


@pytest.mark.parametrize("dataset", sorted(EXPECTED_TOPIC))
def test_every_dataset_is_routed_by_class_and_keyed_by_its_dedup_key(dataset, codecs, raw):
    topics = set()
    for record in samples(dataset, 30):
        key, value, headers = raw.message(dataset, record)
        outcome = process(key, value, headers, {}, codecs, dataset)
        assert isinstance(outcome, Output), outcome
        assert outcome.key == key
        main = outcome.sends[0]
        topics.add(main.topic)
        decoded = codecs.raw.decode(main.value)
        assert decoded["metadata"]["uid"] == key.decode()
        assert decoded["metadata"]["log_name"] == dataset
        legacy = [s.topic for s in outcome.sends[1:]]
        assert legacy == (["siem.audit.v1"] if dataset == "audit_logs" else [])
    assert topics <= EXPECTED_TOPIC[dataset]
    if dataset == "audit_logs":  # logins and API calls among the first 30
        assert topics == EXPECTED_TOPIC[dataset]


def test_legacy_audit_output_can_be_switched_off(codecs, raw):
    key, value, headers = raw.message("audit_logs", samples("audit_logs", 1)[0])
    outcome = process(key, value, headers, {}, codecs, "audit_logs", Options(legacy_audit=False))
    assert isinstance(outcome, Output)
    assert [s.topic for s in outcome.sends] in (["siem.api_activity.v1"],
                                                ["siem.authentication.v1"])


@pytest.mark.parametrize("dataset", ["audit_logs_v2", "access_requests", "http_requests",
                                     "firewall_events"])
def test_events_are_deduplicated_by_key_before_decoding(dataset, codecs, raw):
    key, _, headers = raw.message(dataset, samples(dataset, 1)[0])
    assert process(key, b"not even avro", headers, {key: 1}, codecs, dataset) == Duplicate(key)


@pytest.mark.parametrize("dataset", ["members", "access_users"])
def test_rosters_drop_only_a_repeat_of_the_last_state(dataset, codecs, raw):
    first, second = samples(dataset, 2)
    key, value, headers = raw.message(dataset, first)
    state: dict[bytes, str] = {}
    outcome = process(key, value, headers, state, codecs, dataset)
    assert isinstance(outcome, Output)
    assert outcome.state == state_digest(codecs.raw.decode(value))
    state[key] = outcome.state
    # the same state again (a second connector, a re-published snapshot): dropped
    assert process(key, value, headers, state, codecs, dataset) == Duplicate(key)
    # a change of the same user (same key): a new inventory event
    changed = {**first, "email": "changed@example.com"} if dataset == "access_users" else {
        **first, "status": "rejected" if first.get("status") != "rejected" else "accepted"}
    _, value2, _ = raw.message(dataset, changed)
    assert isinstance(process(key, value2, headers, state, codecs, dataset), Output)
    # a removal is not an event: the state is forgotten, so a re-add is published again
    assert process(key, None, headers, state, codecs, dataset) == Removed(key)
    assert isinstance(process(key, value, headers, {}, codecs, dataset), Output)
    other_key, other_value, _ = raw.message(dataset, second)
    assert isinstance(process(other_key, other_value, headers, state, codecs, dataset), Output)


def test_roster_record_without_snapshot_time_is_a_dead_letter(codecs, raw):
    key, value, headers = raw.message("members", samples("members", 1)[0])
    del headers["cf.snapshot_at"]
    outcome = process(key, value, headers, {}, codecs, "members")
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "normalize"


def test_http_sampling_keeps_security_events_and_a_deterministic_share(codecs, raw):
    options = Options(sample_rates={"http_activity": 0.2})
    outcomes = []
    for record in samples("http_requests", 400):
        key, value, headers = raw.message("http_requests", record)
        outcomes.append((record, process(key, value, headers, {}, codecs, "http_requests",
                                         options)))
    kept = [o for _, o in outcomes if isinstance(o, Output)]
    dropped = [o for _, o in outcomes if isinstance(o, Sampled)]
    assert len(kept) + len(dropped) == 400
    assert dropped and kept
    assert {o.route for o in dropped} == {"http_activity"}
    for output in kept:
        decoded = codecs.raw.decode(output.sends[0].value)
        headers = dict(output.sends[0].headers)
        # security events stand for themselves; sampled ones say how many they stand for
        assert (headers == {}) == security_relevant(decoded), headers
        if headers:
            assert headers == {"cf.sample_rate": b"0.2"}
    again = [process(*raw.message("http_requests", r), {}, codecs, "http_requests", options)
             for r, _ in outcomes]
    assert [type(o) for o in again] == [type(o) for _, o in outcomes]


def test_masking_per_route(codecs, raw):
    options = Options(maskers={"authentication": Masker(frozenset({"email", "ip"}))})
    record = next(r for r in samples("access_requests", 50) if r.get("ip_address"))
    key, value, headers = raw.message("access_requests", record)
    outcome = process(key, value, headers, {}, codecs, "access_requests", options)
    assert isinstance(outcome, Output)
    text = json.dumps(codecs.raw.decode(outcome.sends[0].value), default=str)
    assert record["user_email"] not in text
    assert record["ip_address"] not in text
    assert "redacted@" in text
    unmasked = process(key, value, headers, {}, codecs, "access_requests")
    assert record["user_email"] in json.dumps(codecs.raw.decode(unmasked.sends[0].value),
                                              default=str)


@pytest.mark.parametrize("dataset", sorted(EXPECTED_TOPIC))
def test_garbage_is_a_decode_dead_letter(dataset, codecs):
    outcome = process(b"k", b"\x00\x00\x00\x00\x07garbage", {}, {}, codecs, dataset)
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "decode"


def test_a_value_of_another_dataset_is_a_normalize_dead_letter(codecs, raw):
    key, value, headers = raw.message("http_requests", samples("http_requests", 1)[0])
    outcome = process(key, value, headers, {}, codecs, "access_requests")
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "normalize"


class _EveryEvent:
    """A rule that looks at every event (subject: its uid)."""

    uid = "test.every"

    def subject(self, event: Any) -> str | None:
        return str(event.get("metadata", {}).get("uid"))


def test_alert_inputs_are_json_dumps_of_the_rule_and_event():
    from datetime import UTC, datetime

    from streams.pipeline import alert_inputs

    record = {"metadata": {"uid": "u-1"}, "text": "héllo \U0001f600 \"q\"\n", "n": 1 << 70,
              "f": 0.1, "nan": float("nan"), "when": datetime(2026, 1, 2, tzinfo=UTC),
              "nested": [{"a": None, "b": True}], "empty": {}}
    (send,) = alert_inputs((_EveryEvent(),), "alerts", record)  # type: ignore[arg-type]
    assert send.value == json.dumps({"rule": "test.every", "event": record},
                                    separators=(",", ":"), default=str).encode()
    assert send.key == b"test.every|u-1"


@pytest.mark.parametrize("dataset", sorted(EXPECTED_TOPIC))
def test_process_sends_what_the_plain_reference_steps_give(dataset, codecs, raw):
    """``process`` (compiled codecs, conform skipped for shaped records, one JSON encoder)
    sends byte for byte what the plain steps give: fastavro decode, normalize, enrich,
    conform, fastavro encode, ``json.dumps`` of the alert inputs."""
    from streams.alerts import default_rules
    from streams.enrich import Enricher, Roster
    from streams.ocsf import conform, normalize
    from streams.pipeline import header

    rules = default_rules()
    options = Options(legacy_audit=False, alert_rules=rules, alert_topic="alerts",
                      enricher=Enricher.default(account_names={ACCOUNT: "Acme"},
                                                zone_names={ZONE: "example"}, roster=Roster()))
    reference_enricher = Enricher.default(account_names={ACCOUNT: "Acme"},
                                          zone_names={ZONE: "example"}, roster=Roster())
    for record in samples(dataset, 40, 6):
        key, value, headers = raw.message(dataset, record)
        outcome = process(key, value, headers, {}, codecs, dataset, options)
        assert isinstance(outcome, Output), outcome
        decoded = codecs.raw.decode_fastavro(value)
        event = normalize(dataset, key.decode(), decoded, scope=header(headers, "cf.scope"),
                          snapshot_at=header(headers, "cf.snapshot_at")
                          if DATASET[dataset].roster else None)
        enriched = conform(event.schema, reference_enricher.enrich(event.record))
        main, *alerts = outcome.sends
        assert main.value == codecs.ocsf[event.schema].encode_fastavro(enriched)
        expected = [json.dumps({"rule": rule.uid, "event": enriched}, separators=(",", ":"),
                               default=str).encode()
                    for rule in rules if rule.subject(enriched) is not None]
        assert [send.value for send in alerts] == expected
