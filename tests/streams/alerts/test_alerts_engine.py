"""The engine (rules + one state mapping), the finding shape and the configuration."""

from __future__ import annotations

import json
from collections.abc import MutableMapping

import pytest
from alert_factories import ACCOUNT, MIN, T0, access_login, api_activity, http_request

from streams.alerts import AlertConfig, AlertEngine, default_rules, finding_uid, state_key


class JsonTable(MutableMapping):
    """A mapping that stores JSON text, as a Faust table's changelog would (no aliasing)."""

    def __init__(self):
        self.data = {}
        self.writes = 0

    def __getitem__(self, key):
        return json.loads(self.data[key])

    def __setitem__(self, key, value):
        self.writes += 1
        self.data[key] = json.dumps(value)

    def __delitem__(self, key):
        del self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


def mixed_stream():
    events = []
    for n in range(6):
        events.append(access_login(f"deny-{n}", T0 + n * MIN, allowed=False))
    events.append(access_login("ok-0", T0, country="DE"))
    events.append(access_login("ok-1", T0 + 30 * MIN, country="BR"))
    events.append(api_activity("tok-1", T0 + MIN, operation="token_create", activity_id=1))
    for n in range(12):
        events.append(api_activity(f"del-{n}", T0 + n * 1000, operation="rec_del",
                                   activity_id=4, resources=[{"type": "DNS_record", "uid": "r"}]))
    events.append(http_request("ray-1", T0 + 2 * MIN, score=4))
    events.append(http_request("ray-2", T0 + 3 * MIN, score=80))
    return events


def run(engine, events, now_ms=T0 + 60 * MIN):
    findings = []
    for event in events:
        findings.extend(engine.process(event, now_ms))
    return findings


def test_default_rules_have_unique_ids():
    rules = default_rules()
    assert len({rule.uid for rule in rules}) == len(rules) == 6
    with pytest.raises(ValueError, match="unique"):
        AlertEngine([*rules, rules[0]])


def test_mixed_stream_gives_one_finding_per_rule():
    findings = run(AlertEngine(), mixed_stream())
    analytics = sorted(f["finding_info"]["analytic"]["uid"] for f in findings)
    assert analytics == [
        "cfkafka.audit.api_token_created",
        "cfkafka.audit.dns_delete_burst",
        "cfkafka.auth.denials.ip",
        "cfkafka.auth.denials.user",
        "cfkafka.auth.new_country",
        "cfkafka.http.waf_unmitigated_attack",
    ]


def test_finding_shape_is_ocsf_detection_finding():
    for finding in run(AlertEngine(), mixed_stream()):
        assert finding["class_uid"] == 2004
        assert finding["class_name"] == "Detection Finding"
        assert finding["category_uid"] == 2
        assert finding["activity_id"] == 1 and finding["type_uid"] == 200401
        assert finding["type_name"] == "Detection Finding: Create"
        assert finding["severity"] in {"Low", "Medium", "High"}
        assert finding["status_id"] == 1
        assert finding["metadata"]["version"] == "1.3.0"
        assert finding["metadata"]["uid"] == finding["finding_info"]["uid"]
        assert len(finding["finding_info"]["uid"]) == 32
        assert finding["cloud"]["account"]["uid"] == ACCOUNT
        info = finding["finding_info"]
        assert info["title"] and info["desc"] and info["types"]
        assert info["analytic"]["type_id"] == 1
        assert info["related_events"]
        for related in info["related_events"]:
            assert set(related) <= {"uid", "time", "type_uid", "type_name"}
        assert all(isinstance(v, str) for v in finding["unmapped"].values())
        json.dumps(finding)  # serialisable


def test_replay_gives_the_same_findings_and_json_state_works():
    events = mixed_stream()
    live = run(AlertEngine(states=JsonTable()), events)
    replay = run(AlertEngine(states={}), events, now_ms=T0 + 999 * MIN)
    assert [f["finding_info"]["uid"] for f in live] == [f["finding_info"]["uid"] for f in replay]

    def without_created(finding):
        copy = json.loads(json.dumps(finding))
        del copy["finding_info"]["created_time"]
        return copy

    assert [without_created(f) for f in live] == [without_created(f) for f in replay]


def test_stateless_rules_leave_no_state_and_spent_states_are_swept():
    engine = AlertEngine()
    run(engine, mixed_stream())
    keys = set(engine.states)
    assert state_key("cfkafka.audit.sensitive_change", f"account:{ACCOUNT}") not in keys
    assert state_key("cfkafka.auth.denials.user", "user:alice@example.com") in keys
    assert engine.sweep(T0 + 5 * MIN) == 0
    # after every window (the longest: 10 min + quiet) only the country memory is left
    removed = engine.sweep(T0 + 2 * 3600_000)
    assert removed == len(keys) - 1
    assert list(engine.states) == [state_key("cfkafka.auth.new_country", "user:alice@example.com")]
    assert engine.sweep(T0 + 181 * 86_400_000) == 1
    assert engine.states == {}


def test_sweep_drops_states_of_unknown_rules():
    engine = AlertEngine(states={"cfkafka.retired|user:x": {"v": 1}})
    assert engine.sweep(T0) == 1


def test_unchanged_state_is_not_rewritten():
    table = JsonTable()
    engine = AlertEngine(states=table)
    engine.process(http_request("r", T0, score=90), T0)  # no rule cares
    assert table.writes == 0


def test_finding_uid_is_order_sensitive_only_through_inputs():
    assert finding_uid("r", "s", ["a", "b"]) == finding_uid("r", "s", ["a", "b"])
    assert finding_uid("r", "s", ["a", "b"]) != finding_uid("r", "s", ["ab"])
    assert finding_uid("r", "s1", ["a"]) != finding_uid("r", "s2", ["a"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("denials_threshold", 0), ("dns_delete_window_s", 0), ("waf_score_min", 50),
     ("max_related_events", 0), ("new_country_max_countries", 0)],
)
def test_config_refuses_meaningless_values(field, value):
    with pytest.raises(ValueError, match=field):
        AlertConfig(**{field: value})


def test_related_events_are_capped():
    config = AlertConfig(denials_threshold=80, max_related_events=10)
    engine = AlertEngine(default_rules(config))
    events = [access_login(f"d{n}", T0 + n, allowed=False) for n in range(80)]
    findings = [f for f in run(engine, events)
                if f["finding_info"]["analytic"]["uid"] == "cfkafka.auth.denials.user"]
    assert len(findings) == 1
    assert len(findings[0]["finding_info"]["related_events"]) == 10
    assert json.loads(findings[0]["unmapped"]["count"]) == 80
