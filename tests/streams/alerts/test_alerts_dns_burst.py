"""Rule (4): a burst of DNS record deletions in one account."""

from __future__ import annotations

from alert_factories import ACCOUNT, MIN, T0, api_activity, roundtrip

from streams.alerts import AlertConfig, DnsDeleteBurst

CONFIG = AlertConfig(dns_delete_threshold=4, dns_delete_window_s=300)


def delete(n, minute, *, resource_type="DNS_record", account=ACCOUNT, status_id=1,
           activity_id=4, log_name="audit_logs"):
    return api_activity(f"del-{n}", T0 + int(minute * MIN), operation="rec_del",
                        activity_id=activity_id, status_id=status_id, account=account,
                        resources=[{"type": resource_type, "uid": f"rec{n}", "name": None}],
                        log_name=log_name)


def run(rule, events):
    states, findings = {}, []
    for event in events:
        subject = rule.subject(event)
        if subject is None:
            continue
        states[subject], found = rule.step(roundtrip(states.get(subject)), event, T0)
        findings.extend(found)
    return states, findings


def test_burst_fires_once():
    rule = DnsDeleteBurst(CONFIG)
    events = [delete(n, n * 0.5) for n in range(12)]  # 12 deletions in 6 minutes
    assert rule.subject(events[0]) == f"account:{ACCOUNT}"
    _, findings = run(rule, events)
    assert len(findings) == 1
    info = findings[0]["finding_info"]
    assert [e["uid"] for e in info["related_events"]] == ["del-0", "del-1", "del-2", "del-3"]
    assert findings[0]["severity_id"] == 4
    assert info["attacks"][0]["tactic"]["name"] == "Impact"


def test_v2_resource_type_counts():
    events = [delete(n, n * 0.1, resource_type="dns_records", log_name="audit_logs_v2")
              for n in range(4)]
    assert len(run(DnsDeleteBurst(CONFIG), events)[1]) == 1


def test_below_threshold_or_spread_out_does_not_fire():
    assert run(DnsDeleteBurst(CONFIG), [delete(n, n) for n in range(3)])[1] == []
    # 8 deletions, one every 2 minutes: at most 3 in any 5-minute window
    assert run(DnsDeleteBurst(CONFIG), [delete(n, 2 * n) for n in range(8)])[1] == []


def test_other_deletes_failures_and_creates_do_not_count():
    rule = DnsDeleteBurst(CONFIG)
    noise = (
        [delete(n, 0, resource_type="zone") for n in range(5)]
        + [delete(10 + n, 0, status_id=2) for n in range(5)]
        + [delete(20 + n, 0, activity_id=1) for n in range(5)]
    )
    assert all(rule.subject(e) is None for e in noise)
    assert run(rule, noise)[1] == []


def test_accounts_are_counted_separately():
    other = "f" * 32
    events = [delete(n, 0.1 * n, account=ACCOUNT if n % 2 else other) for n in range(6)]
    states, findings = run(DnsDeleteBurst(CONFIG), events)
    assert findings == []
    assert set(states) == {f"account:{ACCOUNT}", f"account:{other}"}


def test_deterministic_and_bounded():
    events = [delete(n, n * 0.01) for n in range(1000)]
    states_a, a = run(DnsDeleteBurst(CONFIG), events)
    _, b = run(DnsDeleteBurst(CONFIG), events)
    assert [f["finding_info"]["uid"] for f in a] == [f["finding_info"]["uid"] for f in b]
    assert len(a) == 2  # 1000 deletions over 10 minutes: once per 5-minute window
    assert all(len(s["events"]) <= 4 for s in states_a.values())
