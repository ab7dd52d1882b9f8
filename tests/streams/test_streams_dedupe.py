"""streams.dedupe: first sighting and expiry (pure), and the tables and topics of
streams.topics (no broker)."""

from __future__ import annotations

from streams.dedupe import (
    expired,
    first_sighting,
    repeated_state,
    state_digest,
    sweep_interval_s,
)
from streams.routing import DATASETS
from streams.settings import Settings
from streams.topics import ALERT_TABLE, DLQ, co_partitioned, enabled, inputs, tables

NOW = 1_700_000_000
HORIZON = 7 * 24 * 3600


def test_first_sighting():
    seen = {b"a": NOW}
    assert first_sighting(seen, b"b")
    assert not first_sighting(seen, b"a")


def test_expired_keeps_keys_inside_the_horizon():
    items = [(b"old", NOW - HORIZON), (b"older", NOW - HORIZON - 1), (b"new", NOW - HORIZON + 1)]
    assert expired(items, NOW, HORIZON) == [b"old", b"older"]


def test_expired_drops_values_that_are_not_ints():
    assert expired([(b"junk", None)], NOW, HORIZON) == [b"junk"]


def test_sweep_interval_is_a_tenth_of_the_horizon_within_bounds():
    assert sweep_interval_s(HORIZON) == 600.0
    assert sweep_interval_s(3600) == 360.0
    assert sweep_interval_s(5) == 1.0


def test_one_table_per_dataset_with_its_changelog():
    settings = Settings(app_id="app")
    found = tables(settings)
    assert sorted(found) == sorted([*(d.table for d in DATASETS), ALERT_TABLE])
    assert found["audit_logs-seen"] == "app-audit_logs-seen-changelog"
    assert found["members-state"] == "app-members-state-changelog"
    assert found[ALERT_TABLE] == "app-alert-state-changelog"
    only = tables(Settings(app_id="app", datasets=("members",), alerts=False))
    assert only == {"members-state": "app-members-state-changelog"}


def test_inputs_and_co_partitioned_topics_follow_the_settings():
    settings = Settings(app_id="app", datasets=("audit_logs", "members"))
    assert inputs(settings) == ("cloudflare.audit_logs.v1", "cloudflare.members.v1",
                                "app-alert-events")
    assert inputs(Settings(datasets=("members",), alerts=False)) == ("cloudflare.members.v1",)
    both = co_partitioned(settings)
    assert {"cloudflare.audit_logs.v1", "cloudflare.members.v1", DLQ, "app-alert-events",
            "siem.alerts.v1", "siem.audit.v1"} <= set(both)
    assert "cloudflare.http_requests.v1" not in both
    assert "app-alert-events" not in co_partitioned(Settings(alerts=False))
    assert [d.name for d in enabled(settings)] == ["audit_logs", "members"]


def test_roster_state_digest_and_repeats():
    state = {"id": "u1", "email": "a@example.com", "roles": [{"name": "Admin"}]}
    digest = state_digest(state)
    assert digest == state_digest(dict(reversed(list(state.items()))))  # key order is irrelevant
    assert digest != state_digest({**state, "roles": []})
    assert repeated_state({b"k": digest}, b"k", digest)
    assert not repeated_state({b"k": digest}, b"k", state_digest({**state, "email": "b@x.io"}))
    assert not repeated_state({}, b"k", digest)
