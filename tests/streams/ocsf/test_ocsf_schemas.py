"""The OCSF class schemas: the shared contract's attribute paths, evolution defaults,
``conform`` and alert findings in the Detection Finding schema; docs/OCSF.md in sync."""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest
from ocsf_samples import avro_round_trip, normalize_raw, samples

import schemas
from streams.ocsf import CLASSES, DATASETS, SCHEMAS, ShapeError, conform
from streams.ocsf.docs import markdown

COMMON = {
    "class_uid", "class_name", "category_uid", "category_name", "activity_id", "activity_name",
    "type_uid", "type_name", "severity_id", "severity", "time", "status_id", "status",
    "message", "metadata.version", "metadata.uid", "metadata.log_name", "metadata.product.name",
    "metadata.product.vendor_name", "metadata.original_time", "cloud.provider",
    "cloud.account.uid", "cloud.account.name", "raw_data", "unmapped", "enrichments.name",
    "enrichments.value", "enrichments.type", "enrichments.provider", "enrichments.data",
}
ACTOR = {"actor.user.email_addr", "actor.user.uid", "actor.user.name", "actor.user.type"}
SRC = {"src_endpoint.ip", "src_endpoint.port", "src_endpoint.location.country",
       "src_endpoint.location.city", "src_endpoint.autonomous_system.number",
       "src_endpoint.autonomous_system.name"}
USER = {"user.email_addr", "user.uid", "user.name", "user.type", "user.groups.name"}
HTTP = {"http_request.http_method", "http_request.url.hostname", "http_request.url.path",
        "http_request.url.query_string", "http_request.url.scheme", "http_request.url.url_string",
        "http_request.user_agent", "http_request.referrer", "http_request.version"}
OUTCOME = {"action", "action_id", "disposition", "disposition_id"}
CONTRACT = {
    "ocsf.authentication": COMMON | ACTOR | SRC | USER | {
        "service.name", "service.uid", "dst_endpoint.hostname", "auth_protocol",
        "auth_protocol_id"},
    "ocsf.api_activity": COMMON | ACTOR | SRC | {
        "api.operation", "resources.type", "resources.uid", "resources.name"},
    "ocsf.http_activity": COMMON | SRC | HTTP | OUTCOME | {
        "http_response.code", "dst_endpoint.ip", "firewall_rule.uid", "firewall_rule.desc"},
    "ocsf.detection_finding": COMMON | SRC | HTTP | OUTCOME | {
        "finding_info.uid", "finding_info.title", "finding_info.analytic.uid",
        "finding_info.analytic.name", "finding_info.analytic.type",
        "finding_info.analytic.type_id", "finding_info.types", "finding_info.related_events.uid",
        "finding_info.related_events.type_uid", "finding_info.related_events.type_name",
        "finding_info.related_events.time"},
    "ocsf.user_inventory": COMMON | USER,
}


def _paths(avro_type, prefix, named, out):
    if isinstance(avro_type, str) and avro_type in named:
        avro_type = named[avro_type]
    if isinstance(avro_type, list):
        for branch in avro_type:
            _paths(branch, prefix, named, out)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
        named[avro_type["name"]] = avro_type
        for field in avro_type["fields"]:
            path = prefix + field["name"]
            out.add(path)
            _paths(field["type"], path + ".", named, out)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "array":
        _paths(avro_type["items"], prefix, named, out)


def paths(schema: str) -> set[str]:
    """Every dotted attribute path of a schema (array items under the array's name)."""
    out: set[str] = set()
    _paths(schemas.raw(schema), "", {}, out)
    return out


def test_one_schema_per_class_and_all_parse():
    assert SCHEMAS == tuple(c.schema for c in CLASSES)
    assert set(SCHEMAS) == {n for n in schemas.NAMES if n.startswith("ocsf.")}
    for name in SCHEMAS:
        fastavro.parse_schema(schemas.raw(name))
        assert schemas.raw(name)["namespace"] == "siem.ocsf"


@pytest.mark.parametrize("schema", sorted(CONTRACT))
def test_schema_has_the_shared_contract_paths(schema):
    assert CONTRACT[schema] <= paths(schema)


def _fields(avro_type, named):
    if isinstance(avro_type, str) and avro_type in named:
        return
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from _fields(branch, named)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
        named.add(avro_type["name"])
        for field in avro_type["fields"]:
            yield field
            yield from _fields(field["type"], named)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "array":
        yield from _fields(avro_type["items"], named)


@pytest.mark.parametrize("schema", SCHEMAS)
def test_optional_fields_are_nullable_with_defaults(schema):
    """A later schema version can add such fields and still read old records (BACKWARD)."""
    for field in _fields(schemas.raw(schema), set()):
        kind = field["type"]
        if isinstance(kind, list):
            assert kind[0] == "null" and field["default"] is None, field["name"]
        elif isinstance(kind, dict) and kind["type"] in ("array", "map"):
            assert field["default"] in ([], {}), field["name"]


def test_conform_fills_defaults_and_refuses_unknown_fields():
    event = normalize_raw("access_requests", samples("access_requests", 1)[0])
    sparse = {k: v for k, v in event.record.items() if v is not None and v != [] and v != {}}
    assert conform(event.schema, sparse) == event.record
    with pytest.raises(ShapeError, match=r"\['src_ip'\] not in schema record Authentication"):
        conform(event.schema, {**sparse, "src_ip": "192.0.2.1"})
    with pytest.raises(ShapeError, match=r"\['user.nickname'\] not in schema record User"):
        conform(event.schema, {**sparse, "user": {"nickname": "x"}})
    with pytest.raises(ShapeError, match="'time' is missing"):
        conform(event.schema, {k: v for k, v in sparse.items() if k != "time"})


def test_an_alert_finding_fits_the_detection_finding_schema():
    """Alert rules publish sparse findings referencing evidence events (related_events)."""
    evidence = normalize_raw("audit_logs", next(
        r for r in samples("audit_logs", 500) if r["action"]["type"] == "token_create"))
    event = evidence.record
    finding = {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2,
        "category_name": "Findings", "activity_id": 1, "activity_name": "Create",
        "type_uid": 200401, "type_name": "Detection Finding: Create", "severity_id": 4,
        "severity": "High", "status_id": 1, "status": "New", "time": event["time"],
        "message": "API token created outside business hours",
        "metadata": {"version": "1.3.0", "uid": "f" * 32, "log_name": "alerts",
                     "product": {"name": "cfkafka alerts", "vendor_name": "cfkafka"}},
        "cloud": event["cloud"],
        "finding_info": {
            "uid": "f" * 32, "title": "API token created", "desc": "token_create by a user",
            "types": ["Credential Access"],
            "analytic": {"uid": "token-created", "name": "API token created", "type": "Rule",
                         "type_id": 1},
            "related_events": [{"uid": event["metadata"]["uid"], "time": event["time"],
                                "type_uid": event["type_uid"], "type_name": event["type_name"]}],
            "attacks": [{"technique": {"uid": "T1098.001", "name": "Additional Credentials"},
                         "tactic": {"uid": "TA0003", "name": "Persistence"}}],
            "created_time": event["time"] + 5, "first_seen_time": event["time"],
            "last_seen_time": event["time"],
        },
        "evidences": [{k: event[k] for k in ("actor", "api", "src_endpoint", "resources")}],
        "unmapped": {"subject": '"carol@example.com"', "count": "1"},
    }
    record = conform("ocsf.detection_finding", finding)
    assert fastavro.validation.validate(record, schemas.load("ocsf.detection_finding"),
                                        strict=True)
    assert avro_round_trip("ocsf.detection_finding", record) == record
    assert record["finding_info"]["related_events"][0]["uid"] == event["metadata"]["uid"]


def test_docs_list_every_mapping():
    doc = (Path(__file__).parents[3] / "docs" / "OCSF.md").read_text(encoding="utf-8")
    assert markdown() in doc, "docs/OCSF.md is stale: paste `python -m streams.ocsf.docs`"


def test_every_rule_targets_an_attribute_of_its_class_schema():
    context = {"@key", "@account", "@account_name", "@scope", "@snapshot_at"}
    for dataset in DATASETS.values():
        for mapping in dataset.mappings():
            known = paths(mapping.ocsf_class.schema)
            for rule in mapping.rules:
                assert rule.target in known, (dataset.name, rule.target)
                assert all(s in context for s in rule.sources if s.startswith("@")), rule
            assert set(mapping.keep) <= {s for r in mapping.rules for s in r.sources}
        assert all(s in context for s in dataset.time.sources if s.startswith("@"))
