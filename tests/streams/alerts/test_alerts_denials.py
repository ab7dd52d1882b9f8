"""Rule (1): repeated authentication denials per user and per source IP."""

from __future__ import annotations

import json

from alert_factories import MIN, T0, access_login, roundtrip

from streams.alerts import AccessDenials, AlertConfig

CONFIG = AlertConfig(denials_threshold=3, denials_window_s=600)


def run(rule, events, now_ms=T0):
    """Feed ``events`` with one state per subject (as the engine does); last state, findings."""
    states, findings, state = {}, [], None
    for event in events:
        subject = rule.subject(event)
        if subject is None:
            continue
        state, found = rule.step(roundtrip(states.get(subject)), event, now_ms)
        states[subject] = state
        findings.extend(found)
    return state, findings


def denial(n, minute, **kw):
    return access_login(f"evt-{n}", T0 + minute * MIN, allowed=False, **kw)


def test_fires_at_threshold_for_one_user():
    rule = AccessDenials(CONFIG, "user")
    events = [denial(n, n) for n in range(3)]
    assert rule.subject(events[0]) == "user:alice@example.com"
    _, findings = run(rule, events)
    assert len(findings) == 1
    finding = findings[0]
    info = finding["finding_info"]
    assert [e["uid"] for e in info["related_events"]] == ["evt-0", "evt-1", "evt-2"]
    assert info["related_events"][0] == {
        "uid": "evt-0", "time": T0, "type_uid": 300201, "type_name": "Authentication: Logon"}
    assert info["analytic"] == {"uid": "cfkafka.auth.denials.user", "name": rule.name,
                                "type": "Rule", "type_id": 1}
    assert finding["time"] == T0 + 2 * MIN
    assert info["first_seen_time"] == T0 and info["last_seen_time"] == T0 + 2 * MIN
    assert json.loads(finding["unmapped"]["subject"]) == "user:alice@example.com"
    assert finding["cloud"]["account"]["name"] == "Example Corp"


def test_email_is_case_insensitive():
    rule = AccessDenials(CONFIG, "user")
    events = [denial(0, 0, email="Alice@Example.com"), denial(1, 1), denial(2, 2)]
    assert len(run(rule, events)[1]) == 1


def test_fires_per_source_ip_across_users():
    rule = AccessDenials(CONFIG, "ip")
    events = [denial(n, n, email=f"user{n}@example.com", ip="203.0.113.50") for n in range(3)]
    assert rule.subject(events[0]) == "ip:203.0.113.50"
    _, findings = run(rule, events)
    assert len(findings) == 1
    assert findings[0]["finding_info"]["analytic"]["uid"] == "cfkafka.auth.denials.ip"
    # the per-user rule sees three different users: nothing
    assert run(AccessDenials(CONFIG, "user"), events)[1] == []


def test_below_threshold_does_not_fire():
    assert run(AccessDenials(CONFIG), [denial(0, 0), denial(1, 1)])[1] == []


def test_outside_window_does_not_fire():
    # 3 denials, but spread over 20 minutes (window 10 min): never 3 in one window
    events = [denial(0, 0), denial(1, 10), denial(2, 20)]
    assert run(AccessDenials(CONFIG), events)[1] == []


def test_successful_logins_are_ignored():
    rule = AccessDenials(CONFIG)
    ok = [access_login(f"ok-{n}", T0 + n * MIN) for n in range(5)]
    assert all(rule.subject(e) is None for e in ok)
    assert run(rule, ok)[1] == []


def test_alerts_once_per_window_then_again_after_it():
    rule = AccessDenials(CONFIG)
    burst = [denial(n, n * 0.1) for n in range(10)]  # 10 denials within a minute
    state, findings = run(rule, burst)
    assert len(findings) == 1
    assert [e["uid"] for e in findings[0]["finding_info"]["related_events"]] == [
        "evt-0", "evt-1", "evt-2"]
    # still inside the quiet window: more denials do not alert
    state, found = rule.step(roundtrip(state), denial(20, 9), T0)
    assert found == []
    # after the window, a sustained attack alerts again (with new evidence only)
    again = []
    for n in range(3):
        state, found = rule.step(roundtrip(state), denial(30 + n, 11 + n * 0.1), T0)
        again.extend(found)
    assert len(again) == 1
    uids = [e["uid"] for e in again[0]["finding_info"]["related_events"]]
    assert uids == ["evt-20", "evt-30", "evt-31"]  # the quiet-time denial is still in window
    assert again[0]["finding_info"]["uid"] != findings[0]["finding_info"]["uid"]


def test_late_and_duplicate_events_do_not_count():
    rule = AccessDenials(CONFIG)
    state, _ = run(rule, [denial(0, 30), denial(1, 31)])
    state, found = rule.step(roundtrip(state), denial(2, 5), T0)  # 25 min late: outside
    assert found == []
    state, found = rule.step(roundtrip(state), denial(1, 31), T0)  # same id again
    assert found == []
    assert [e[1] for e in state["events"]] == ["evt-0", "evt-1"]


def test_deterministic_finding_ids():
    events = [denial(n, n) for n in range(3)]
    first = run(AccessDenials(CONFIG), events, now_ms=T0 + 10 * MIN)[1]
    replay = run(AccessDenials(CONFIG), events, now_ms=T0 + 99 * MIN)[1]
    assert first[0]["finding_info"]["uid"] == replay[0]["finding_info"]["uid"]
    assert first[0]["metadata"]["uid"] == first[0]["finding_info"]["uid"]
    # same events, different order: same evidence set, same id
    reordered = run(AccessDenials(CONFIG), [events[1], events[0], events[2]])[1]
    assert reordered[0]["finding_info"]["uid"] == first[0]["finding_info"]["uid"]


def test_state_is_bounded_by_threshold():
    rule = AccessDenials(AlertConfig(denials_threshold=50, denials_window_s=3600))
    state = None
    # 10,000 denials, never 50 within an hour (one every 2 minutes)
    for n in range(10_000):
        state, found = rule.step(roundtrip(state), denial(n, n * 2), T0)
        assert found == []
        assert len(state["events"]) <= 31  # one every 2 min in a closed 60-min window
    assert len(json.dumps(state)) < 4_000
    assert rule.expires_at(state) == state["last"] + 3_600_000


def test_state_is_bounded_under_a_dense_flood():
    rule = AccessDenials(AlertConfig(denials_threshold=50, denials_window_s=3600))
    state, alerts = None, 0
    for n in range(5_000):  # 5,000 denials within 50 seconds
        state, found = rule.step(roundtrip(state), denial(n, n / 6000), T0)
        alerts += len(found)
        assert len(state["events"]) <= 50
    assert alerts == 1
