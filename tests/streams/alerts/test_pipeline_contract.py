"""The three pure stages agree: simulator records -> normalize -> enrich -> class schema,
and alerts over normalized events -> the Detection Finding schema."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import fastavro
import pytest

import schemas
from streams.alerts import AlertEngine
from streams.enrich import Enricher, Roster
from streams.ocsf import DATASETS, conform

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ocsf"))
from ocsf_samples import normalize_raw, samples  # noqa: E402


def _encodes(schema: str, record: dict) -> None:
    parsed = schemas.load(schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, parsed, None) is not None


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_enriched_events_still_fit_their_class_schema(dataset: str) -> None:
    roster = Roster()
    for member in samples("members", 10):
        roster.apply_member(f"{member['id']}", member)
    enricher = Enricher.default(roster=roster, zone_names={})
    enrichments = 0
    for record in samples(dataset, 60):
        event = normalize_raw(dataset, record)
        enriched = enricher.enrich(event.record)
        enrichments += len(enriched.get("enrichments") or [])
        _encodes(event.schema, conform(event.schema, enriched))
    if dataset in ("http_requests", "access_requests", "firewall_events"):
        assert enrichments, "IP / user-agent enrichment adds something"


def test_alert_findings_fit_the_detection_finding_schema() -> None:
    engine = AlertEngine()
    findings = []
    events = [normalize_raw("access_requests", r) for r in samples("access_requests", 400)]
    events += [normalize_raw("audit_logs", r) for r in samples("audit_logs", 400)]
    events += [normalize_raw("http_requests", r) for r in samples("http_requests", 400)]
    for event in sorted(events, key=lambda e: e.record["time"]):
        findings += engine.process(event.record, event.record["time"])
    assert findings, "the simulator's traffic trips at least one rule"
    schema = "ocsf.detection_finding"
    for finding in findings:
        _encodes(schema, conform(schema, finding))
        assert finding["finding_info"]["related_events"]
