"""Property tests over a few hundred simulator records of every dataset.

Every record normalizes, fits its class schema exactly (strict validation, Avro round
trip), keeps the raw record in ``raw_data``, and accounts for every raw field: each leaf
of the Cloudflare record is either mapped to an OCSF attribute or in ``unmapped`` with its
JSON value, never both (except the few kept on purpose).
"""

from __future__ import annotations

import json

import fastavro
import pytest
from ocsf_samples import (
    ROSTER_DATASETS,
    ZONE,
    ZONE_DATASETS,
    avro_round_trip,
    drop_nulls,
    json_fields,
    key_of,
    normalize_raw,
    samples,
)

import schemas
from streams.ocsf import CLASSES, DATASETS
from streams.ocsf.source import covered, dumps, leaves

N = 300
NAMES = sorted(DATASETS)


@pytest.fixture(scope="module", params=NAMES)
def normalized(request):
    """(dataset, [(raw record, event)]) for N simulator records."""
    dataset = request.param
    return dataset, [(r, normalize_raw(dataset, r)) for r in samples(dataset, N)]


def test_every_record_fits_its_class_schema_and_round_trips(normalized):
    dataset, pairs = normalized
    assert len(pairs) == N
    for _, event in pairs:
        schema = schemas.load(event.schema)
        assert fastavro.validation.validate(event.record, schema, strict=True)
        assert avro_round_trip(event.schema, event.record) == event.record


def test_every_raw_field_is_mapped_or_unmapped(normalized):
    dataset, pairs = normalized
    keep = set().union(*(m.keep for m in DATASETS[dataset].mappings()))
    for raw, event in pairs:
        unmapped = dict(event.record["unmapped"])
        for path, value in leaves(drop_nulls(raw)):
            if covered(path, event.mapped):
                assert path in keep or path not in unmapped, path
            else:
                assert unmapped.get(path) == dumps(value), path
        scope_fields = {"ZoneID"} if dataset in ZONE_DATASETS else set()
        raw_paths = {p for p, _ in leaves(drop_nulls(raw))}
        assert set(unmapped) - raw_paths <= scope_fields


def test_raw_data_is_the_cloudflare_record(normalized):
    _, pairs = normalized
    for raw, event in pairs:
        assert json.loads(event.record["raw_data"]) == drop_nulls(raw)


def test_shared_contract_fields(normalized):
    dataset, pairs = normalized
    for raw, event in pairs:
        record = event.record
        cls = next(c for c in CLASSES if c.uid == record["class_uid"])
        assert (record["class_name"], record["category_uid"]) == (cls.name, cls.category_uid)
        assert record["type_uid"] == record["class_uid"] * 100 + record["activity_id"]
        assert record["type_name"] == f"{record['class_name']}: {record['activity_name']}"
        assert event.schema == cls.schema
        metadata = record["metadata"]
        assert metadata["version"] == "1.3.0"
        assert metadata["uid"] == key_of(dataset, raw) == event.key
        assert metadata["log_name"] == dataset
        assert metadata["product"]["vendor_name"] == "Cloudflare"
        assert record["cloud"]["provider"] == "Cloudflare"
        assert isinstance(record["time"], int) and record["time"] > 1_700_000_000_000
        assert record["enrichments"] == []
        if dataset in ZONE_DATASETS:
            assert record["unmapped"]["ZoneID"] == dumps(ZONE)
        else:
            assert record["cloud"]["account"]["uid"] == "0123456789abcdef0123456789abcdef"
        if dataset in ROSTER_DATASETS or record["class_uid"] == 3002:
            assert record["user"] is not None


def test_classes_and_activities_seen(normalized):
    dataset, pairs = normalized
    seen = {(e.record["class_uid"], e.record["activity_name"]) for _, e in pairs}
    expected = {
        "audit_logs": {(3002, "Logon"), (3002, "Logoff"), (6003, "Create"), (6003, "Read"),
                       (6003, "Update"), (6003, "Delete")},
        "audit_logs_v2": {(6003, "Create"), (6003, "Read"), (6003, "Update"), (6003, "Delete")},
        "access_requests": {(3002, "Logon"), (3002, "Logoff")},
        "http_requests": {(4002, "Get"), (4002, "Post")},
        "firewall_events": {(2004, "Create")},
        "members": {(5003, "Collect")},
        "access_users": {(5003, "Collect")},
    }[dataset]
    assert seen >= expected


def test_waf_and_bot_scores_stay_in_unmapped():
    for raw in samples("http_requests", N):
        unmapped = normalize_raw("http_requests", raw).record["unmapped"]
        for name in ("WAFAttackScore", "WAFSQLiAttackScore", "WAFXSSAttackScore",
                     "WAFRCEAttackScore", "BotScore", "SecurityAction"):
            assert json.loads(unmapped[name]) == raw[name]
    for raw in samples("firewall_events", N):
        unmapped = normalize_raw("firewall_events", raw).record["unmapped"]
        assert json.loads(unmapped["WAFAttackScore"]) == raw["WAFAttackScore"]


@pytest.mark.parametrize("dataset", NAMES)
def test_json_fields_agree_with_the_connector(dataset):
    assert DATASETS[dataset].json_fields == json_fields(dataset)
    assert DATASETS[dataset].raw_schema == f"cloudflare.{dataset}"
