"""Golden tests: one Cloudflare record per mapping -> the exact OCSF record (golden/*.json).

Each fixture holds the dataset, the Kafka key, the ``normalize`` keyword arguments (the
record's headers), the record as Cloudflare sends it and the expected OCSF record. The
record goes through the connector's conversion and an Avro round trip first, as on the raw
topic. ``OCSF_UPDATE_GOLDEN=1 pytest tests/streams/ocsf`` rewrites ``expected`` (review the
diff before committing it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ocsf_samples import avro_round_trip, drop_nulls, key_of, topic_value

from streams.ocsf import normalize

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*.json"))
UPDATE = os.environ.get("OCSF_UPDATE_GOLDEN") == "1"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _event(case: dict):
    value = topic_value(case["dataset"], case["input"])
    return normalize(case["dataset"], case["key"], value, **case["normalize"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path):
    case = _load(path)
    assert case["key"] == key_of(case["dataset"], case["input"]), "stale key in the fixture"
    event = _event(case)
    if UPDATE:
        case["expected"] = event.record
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert event.record == case["expected"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_output_round_trips_and_keeps_the_raw_record(path):
    case = _load(path)
    event = _event(case)
    assert avro_round_trip(event.schema, event.record) == event.record
    assert json.loads(event.record["raw_data"]) == drop_nulls(case["input"])
    assert event.record["metadata"]["uid"] == case["key"]


def test_every_mapping_has_a_golden_case():
    seen = set()
    for path in CASES:
        case = _load(path)
        record = _event(case).record
        seen.add((case["dataset"], record["class_name"], record["activity_name"],
                  record["status"]))
    assert seen >= {
        ("access_requests", "Authentication", "Logon", "Success"),
        ("access_requests", "Authentication", "Logon", "Failure"),
        ("access_requests", "Authentication", "Logoff", "Success"),
        ("audit_logs", "Authentication", "Logon", "Success"),
        ("audit_logs", "Authentication", "Logoff", "Failure"),
        ("audit_logs", "API Activity", "Create", "Success"),
        ("audit_logs", "API Activity", "Read", "Success"),
        ("audit_logs", "API Activity", "Update", "Success"),
        ("audit_logs", "API Activity", "Delete", "Success"),
        ("audit_logs_v2", "Authentication", "Logon", "Success"),
        ("audit_logs_v2", "API Activity", "Create", "Success"),
        ("audit_logs_v2", "API Activity", "Delete", "Success"),
        ("http_requests", "HTTP Activity", "Get", "Success"),
        ("http_requests", "HTTP Activity", "Post", "Failure"),
        ("firewall_events", "Detection Finding", "Create", "New"),
        ("members", "User Inventory Info", "Collect", None),
        ("access_users", "User Inventory Info", "Collect", None),
    }
