"""The composed enricher."""

from __future__ import annotations

import copy
import json

import pytest
from enrich_factories import (
    ACCOUNT,
    access_login,
    access_user,
    audit_v1_record,
    audit_v2_record,
    enrichments_by_type,
    http_record,
    member,
)

from streams.enrich import Enricher, Roster, ThreatList


@pytest.fixture
def enricher(tmp_path):
    path = tmp_path / "intel.txt"
    path.write_text("198.51.100.0/24  # scanners\n203.0.113.0/24\n")
    roster = Roster()
    roster.apply_member(f"{ACCOUNT}/u1", member())
    roster.apply_access_user(f"{ACCOUNT}/au1", access_user())
    return Enricher.default(account_names={ACCOUNT: "Production"}, roster=roster,
                            threat_lists=[ThreatList(path, name="intel")])


def test_http_request_gets_everything(enricher):
    record = enricher.enrich(http_record())
    assert record["cloud"]["account"]["name"] == "Production"
    found = enrichments_by_type(record)
    assert set(found) == {"cloudflare_zone", "user_agent", "ip_classification", "threat_intel"}
    assert found["user_agent"]["data"]["browser"] == "Chrome"
    assert found["ip_classification"]["data"]["category"] == "reserved"  # documentation range
    assert found["threat_intel"]["data"]["note"] == "scanners"
    assert found["cloudflare_zone"]["value"] == "example.com"
    for entry in record["enrichments"]:
        assert set(entry) == {"name", "value", "type", "provider", "data"}
        assert isinstance(entry["data"], str)


def test_audit_v2_event(enricher):
    record = enricher.enrich(audit_v2_record())
    found = enrichments_by_type(record)
    assert found["user_roster"]["data"]["roles"] == ["Administrator"]
    assert found["user_agent"]["data"]["browser"] == "curl"
    assert found["threat_intel"]["data"]["entry"] == "203.0.113.0/24"
    assert record["actor"]["user"]["has_mfa"] is True
    assert record["resources"][1]["name"] == "example.com"


def test_access_login_and_audit_v1(enricher):
    login = enricher.enrich(access_login())
    assert login["user"]["groups"] == [{"name": "Administrator", "type": "Cloudflare role"}]
    assert enrichments_by_type(login)["ip_classification"]["data"]["version"] == 6
    v1 = enricher.enrich(audit_v1_record())
    assert enrichments_by_type(v1)["ip_classification"]["data"]["category"] == "private"
    assert enrichments_by_type(v1)["cloudflare_zone"]["data"]["name"] == "example.net"


def test_enrichment_is_idempotent(enricher):
    once = enricher.enrich(http_record())
    twice = enricher.enrich(copy.deepcopy(once))
    assert twice == once


def test_enriched_leaves_the_input_untouched(enricher):
    record = http_record()
    before = copy.deepcopy(record)
    out = enricher.enriched(record)
    assert record == before
    assert out is not record and len(out["enrichments"]) == 4


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"class_uid": 4002},
        {"metadata": "x", "cloud": [], "user": 1, "actor": "a", "src_endpoint": [],
         "http_request": "x", "resources": {}, "unmapped": [], "raw_data": "{", "enrichments": 5},
        {"metadata": {"log_name": "http_requests"}, "unmapped": {"ZoneName": "{bad"},
         "raw_data": "[]"},
        {"metadata": {"log_name": "audit_logs"}, "raw_data": json.dumps({"resource": "zone"})},
    ],
)
def test_never_fails_on_odd_records(enricher, record):
    enricher.enrich(record)


def test_parts_can_be_left_out():
    bare = Enricher(classify_ips=False)
    assert bare.steps == ()
    record = http_record()
    assert bare.enrich(copy.deepcopy(record)) == record
    calls = []
    custom = Enricher(classify_ips=False, extra_steps=[lambda r, raw: calls.append(raw.data)])
    custom.enrich(http_record())
    assert calls[0]["RayID"] == "8f1e2d3c4b5a6978"
