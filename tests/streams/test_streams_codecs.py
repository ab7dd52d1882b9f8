"""Codecs and the per-record pipeline against an in-memory schema registry (no network).

confluent-kafka 2.16: ``SchemaRegistryClient({"url": "mock://"})`` is a *real* HTTP client
(only ``SchemaRegistryClient.new_client`` returns the mock), and the mock does not
implement ``set_compatibility``; ``MockRegistry`` adds it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)

import schemas
from schemas.registry import Encoder
from streams.codecs import SIEM_AUDIT_SUBJECT, connect
from streams.dlq import DeadLetter
from streams.normalize import normalize
from streams.pipeline import Duplicate, Output, process
from streams.routing import ROUTES

RAW = {"id": "evt-1", "when": "2024-05-01T12:34:56Z", "action": {"type": "login", "result": True}}


class MockRegistry(MockSchemaRegistryClient):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__({"url": "mock://"})
        self.compatibility: dict[str, str] = {}

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None):
        self.compatibility[str(subject_name)] = str(level)
        return {"compatibility": level}


@pytest.fixture
def registry() -> MockRegistry:
    return MockRegistry()


@pytest.fixture
def raw_encoder(registry: MockRegistry) -> Encoder:
    schema_id = registry.register_schema(
        "cloudflare.audit_logs.v1-value", Schema(schemas.text("cloudflare.audit_logs"), "AVRO")
    )
    return Encoder(schema_id, schemas.load("cloudflare.audit_logs"))


def test_connect_registers_every_siem_schema_backward(registry):
    codecs = connect(registry)
    subjects = {f"{r.topic}-value" for r in ROUTES} | {"siem.alerts.v1-value"}
    assert registry.compatibility == dict.fromkeys({SIEM_AUDIT_SUBJECT, *subjects}, "BACKWARD")
    assert codecs.alerts is not None
    assert registry.get_latest_version("siem.alerts.v1-value").schema_id == (
        codecs.alerts.schema_id)
    assert registry.get_latest_version(SIEM_AUDIT_SUBJECT).schema_id == codecs.siem.schema_id
    for route in ROUTES:
        latest = registry.get_latest_version(f"{route.topic}-value")
        assert latest.schema_id == codecs.ocsf[route.schema].schema_id


def test_siem_round_trip(registry):
    codecs = connect(registry)
    record = normalize(RAW, "account:acc-1")
    decoded = codecs.raw.decode(codecs.encode_siem(record))
    assert decoded == {**record, "time": datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)}


def test_process_outputs_new_events(registry, raw_encoder):
    codecs = connect(registry)
    outcome = process(b"evt-1", raw_encoder.encode(RAW), {"cf.scope": b"account:a"}, {}, codecs)
    assert isinstance(outcome, Output)
    assert outcome.key == b"evt-1"
    auth, legacy = outcome.sends
    assert (auth.topic, legacy.topic) == ("siem.authentication.v1", "siem.audit.v1")
    assert codecs.raw.decode(auth.value)["cloud"]["account"]["uid"] == "a"
    assert codecs.raw.decode(legacy.value)["account_uid"] == "a"


def test_process_drops_seen_keys_without_decoding(registry):
    assert process(b"evt-1", b"garbage", None, {b"evt-1": 1}, connect(registry)) == Duplicate(
        b"evt-1"
    )


def test_process_uses_the_record_id_when_the_key_is_missing(registry, raw_encoder):
    codecs = connect(registry)
    value = raw_encoder.encode(RAW)
    assert process(None, value, None, {b"evt-1": 1}, codecs) == Duplicate(b"evt-1")
    outcome = process(None, value, None, {}, codecs)
    assert isinstance(outcome, Output)
    assert outcome.key == b"evt-1"


@pytest.mark.parametrize("value", [None, b"", b"\x00\x01", b"\x01\x00\x00\x00\x01xx", b"{}"])
def test_process_dead_letters_undecodable_values(registry, value):
    outcome = process(b"k", value, None, {}, connect(registry))
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "decode"


def test_process_dead_letters_unnormalizable_records(registry, raw_encoder):
    value = raw_encoder.encode({**RAW, "when": "not a time"})
    outcome = process(b"evt-1", value, None, {}, connect(registry))
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "normalize"
    assert "not a time" in outcome.reason
