"""streams.routing: routes by OCSF class, deterministic sampling, never-drop security events."""

from __future__ import annotations

import json

import pytest

from streams.ocsf import SCHEMAS
from streams.routing import (
    BY_SCHEMA,
    DATASETS,
    ROUTES,
    in_sample,
    keep,
    route_for,
    sample_point,
    security_relevant,
)


def test_every_ocsf_class_has_exactly_one_route():
    assert sorted(BY_SCHEMA) == sorted(SCHEMAS)
    assert {r.topic for r in ROUTES} == {
        "siem.authentication.v1", "siem.api_activity.v1", "siem.http_activity.v1",
        "siem.detection_finding.v1", "siem.inventory.v1",
    }
    assert route_for("ocsf.user_inventory").name == "inventory"
    with pytest.raises(KeyError):
        route_for("siem.audit")


def test_datasets_cover_every_raw_topic_and_tables_are_per_topic():
    assert [d.topic for d in DATASETS] == [
        f"cloudflare.{n}.v1" for n in ("audit_logs", "audit_logs_v2", "access_requests",
                                       "http_requests", "firewall_events", "members",
                                       "access_users")
    ]
    assert [d.table for d in DATASETS if d.roster] == ["members-state", "access_users-state"]
    assert DATASETS[0].table == "audit_logs-seen"  # the table's changelog is kept as it was
    assert len({d.table for d in DATASETS}) == len(DATASETS)


def test_sample_point_is_deterministic_and_uniform():
    keys = [f"ray-{i:06x}".encode() for i in range(20000)]
    points = [sample_point(k) for k in keys]
    assert points == [sample_point(k) for k in keys]  # another worker, a replay: same points
    assert all(0.0 <= p < 1.0 for p in points)
    kept = sum(in_sample(k, 0.1) for k in keys)
    assert 1800 < kept < 2200


def test_sampling_is_nested_across_rates():
    keys = [f"k{i}".encode() for i in range(5000)]
    small = {k for k in keys if in_sample(k, 0.05)}
    large = {k for k in keys if in_sample(k, 0.5)}
    assert small <= large
    assert all(in_sample(k, 1.0) for k in keys)


PLAIN = {"action_id": None, "disposition_id": None, "firewall_rule": None,
         "unmapped": {"WAFAttackScore": "82", "SecurityRuleIDs": "[]", "SecurityActions": "[]"}}


@pytest.mark.parametrize(
    "change",
    [
        {"action_id": 2, "disposition_id": 2},  # blocked
        {"action_id": 2, "disposition_id": 23},  # challenged
        {"disposition_id": 6},  # connection dropped
        {"firewall_rule": {"uid": "rule-1"}},  # a security rule matched
        {"unmapped": {"WAFAttackScore": "50"}},
        {"unmapped": {"WAFAttackScore": "1"}},
        {"unmapped": {"SecurityRuleIDs": json.dumps(["r1"])}},
        {"unmapped": {"SecurityActions": json.dumps(["log", "managedChallenge"])}},
    ],
)
def test_security_relevant_requests(change):
    assert not security_relevant(PLAIN)
    assert security_relevant({**PLAIN, **change})


@pytest.mark.parametrize("score", ["0", "51", "99", "null", "x"])
def test_unscored_or_benign_waf_scores_are_not_security_relevant(score):
    assert not security_relevant({**PLAIN, "unmapped": {"WAFAttackScore": score}})


def test_security_relevant_events_are_never_sampled_away():
    blocked = {**PLAIN, "action_id": 2, "disposition_id": 2}
    keys = [f"r{i}".encode() for i in range(2000)]
    rates = {"http_activity": 0.01}
    assert all(keep("http_activity", k, blocked, rates) for k in keys)
    kept = [k for k in keys if keep("http_activity", k, PLAIN, rates)]
    assert 0 < len(kept) < 100
    assert kept == [k for k in keys if in_sample(k, 0.01)]
    assert all(keep("authentication", k, PLAIN, rates) for k in keys)  # not a sampled route
