"""Simulator records of every dataset, as the raw topics carry them, for the OCSF tests.

``topic_value`` runs a Cloudflare record through the connector's conversion and an Avro
round trip of its raw schema, so the normalizer sees exactly what a raw-topic consumer
decodes; ``key_of`` and ``headers_of`` give the Kafka key and the headers it gets.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro

import schemas
from connector import convert
from connector.feeds import FEEDS
from connector.feeds.firewall_events import FIELD_MAP, FirewallEvents
from connector.feeds.http_requests import HttpRequests
from connector.snapshots import SNAPSHOT_FEEDS
from sim.access_requests import AccessRequestGenerator
from sim.access_users import AccessUserRoster
from sim.audit_v2 import AuditV2Generator
from sim.config import DEFAULT_ZONE_ID, SimConfig
from sim.events import EventGenerator
from sim.graphql import events_in_second
from sim.http_records import NS, ZoneLogs
from sim.members import MemberRoster
from streams.ocsf import DATASETS, OcsfEvent, normalize

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = DEFAULT_ZONE_ID
NOW = datetime(2026, 11, 22, 20, 19, 48, tzinfo=UTC)
SNAPSHOT_AT = "2026-11-22T20:19:48Z"
ZONE_DATASETS = frozenset({"http_requests", "firewall_events"})
ROSTER_DATASETS = frozenset({"members", "access_users"})


def json_fields(dataset: str) -> frozenset[str]:
    """The connector's JSON-encoded fields of the dataset's raw schema."""
    if dataset in FEEDS:
        return FEEDS[dataset].json_fields
    if dataset in SNAPSHOT_FEEDS:
        return SNAPSHOT_FEEDS[dataset].json_fields
    if dataset == "http_requests":
        return HttpRequests.json_fields
    return frozenset()


def topic_value(dataset: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The decoded raw-topic value of a Cloudflare record (convert + Avro round trip)."""
    name = DATASETS[dataset].raw_schema
    value = convert.to_record(schemas.raw(name), record, json_fields(dataset))
    return avro_round_trip(name, value)


def avro_round_trip(schema: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """Encode ``value`` with ``schemas/<schema>.avsc`` and decode it again."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schemas.load(schema), value)
    buf.seek(0)
    decoded: dict[str, Any] = fastavro.schemaless_reader(buf, schemas.load(schema), None)
    return decoded


def key_of(dataset: str, record: Mapping[str, Any]) -> str:
    """The Kafka key the connector gives the record."""
    if dataset == "access_requests":
        return FEEDS[dataset]().key(record)
    if dataset == "firewall_events":
        return FirewallEvents.key(record)
    if dataset == "http_requests":
        return str(record["RayID"])
    if dataset in ROSTER_DATASETS:
        return f"{ACCOUNT}/{SNAPSHOT_FEEDS[dataset]().user_key(record)}"
    return str(record["id"])


def headers_of(dataset: str) -> dict[str, str]:
    """``normalize`` keyword arguments from the record's headers (scope, snapshot time)."""
    if dataset in ZONE_DATASETS:
        return {"scope": f"zone:{ZONE}"}
    out = {"scope": f"account:{ACCOUNT}"}
    if dataset in ROSTER_DATASETS:
        out["snapshot_at"] = SNAPSHOT_AT
    return out


def normalize_raw(dataset: str, record: Mapping[str, Any], **kwargs: Any) -> OcsfEvent:
    """Normalize a Cloudflare record the way the streams worker sees it."""
    args = {**headers_of(dataset), **kwargs}
    return normalize(dataset, key_of(dataset, record), topic_value(dataset, record), **args)


def drop_nulls(value: Any) -> Any:
    """``value`` without null object members (null and absent are the same on a topic)."""
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def samples(dataset: str, n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` realistic Cloudflare records of ``dataset`` from the simulator."""
    records: list[dict[str, Any]] = []
    for record in _generate(dataset, seed):
        records.append(record)
        if len(records) == n:
            break
    return records


def _generate(dataset: str, seed: int) -> Iterator[dict[str, Any]]:
    if dataset == "audit_logs":
        yield from EventGenerator(seed, ACCOUNT).batch(NOW, 5000)
    elif dataset == "audit_logs_v2":
        yield from AuditV2Generator(seed, ACCOUNT).batch(NOW, 5000)
    elif dataset == "access_requests":
        yield from AccessRequestGenerator(seed, ACCOUNT).batch(NOW, 5000)
    elif dataset == "http_requests":
        zone = ZoneLogs(seed, ZONE, "example.com", 0, 50.0)
        start = int(NOW.timestamp()) * NS
        for ray, received in zone.keys(start, start + 600 * NS):
            yield zone.record(ray, received)
    elif dataset == "firewall_events":
        second = int(NOW.timestamp())
        while True:
            for row in events_in_second(seed, ZONE, "example.com", 5.0, second):
                yield {FIELD_MAP.get(k, k): v for k, v in row.items()}
            second += 1
    else:
        for k in range(1000):
            config = SimConfig(seed=seed + k, initial_members=160, initial_access_users=160,
                               clock=lambda: NOW - timedelta(days=1))
            if dataset == "members":
                yield from MemberRoster(config).members()
            else:
                yield from AccessUserRoster(config).users()
