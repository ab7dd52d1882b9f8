"""Rule (5): a WAF attack score in the attack range on a request that was not mitigated."""

from __future__ import annotations

import json

import pytest
from alert_factories import MIN, T0, http_request, roundtrip

from streams.alerts import AlertConfig, WafUnmitigatedAttack

RULE = WafUnmitigatedAttack()


def run(rule, events):
    states, findings = {}, []
    for event in events:
        subject = rule.subject(event)
        if subject is None:
            continue
        states[subject], found = rule.step(roundtrip(states.get(subject)), event, T0)
        findings.extend(found)
    return states, findings


def test_unblocked_attack_fires():
    event = http_request("ray1", T0, score=7, action="")
    assert RULE.subject(event) == "ip:192.0.2.44"
    _, findings = run(RULE, [event])
    assert len(findings) == 1
    finding = findings[0]
    assert finding["finding_info"]["related_events"][0]["uid"] == "ray1"
    assert json.loads(finding["unmapped"]["waf_attack_score"]) == 7
    assert json.loads(finding["unmapped"]["waf_sqli_score"]) == 9
    assert finding["evidences"][0]["http_request"]["url"]["hostname"] == "www.example.com"
    assert finding["finding_info"]["attacks"][0]["technique"]["uid"] == "T1190"


@pytest.mark.parametrize("action", ["log", "skip", "allow", "unknown", None])
def test_non_mitigating_actions_fire(action):
    assert len(run(RULE, [http_request("r", T0, score=3, action=action)])[1]) == 1


@pytest.mark.parametrize("score", [1, 20])
def test_range_is_inclusive(score):
    assert RULE.subject(http_request("r", T0, score=score)) is not None


@pytest.mark.parametrize("score", [0, 21, 50, 99, None])
def test_score_outside_range_does_not_fire(score):
    assert RULE.subject(http_request("r", T0, score=score)) is None


@pytest.mark.parametrize(
    "action",
    ["block", "challenge", "jschallenge", "managedChallenge", "managed_challenge",
     "challengeSolved", "managedChallengeInteractiveSolved", "connectionClose"],
)
def test_blocked_or_challenged_requests_do_not_fire(action):
    assert RULE.subject(http_request("r", T0, score=5, action=action)) is None


def test_without_security_action_a_denied_action_counts_as_blocked():
    assert RULE.subject(http_request("r", T0, score=5, action=None, action_id=2)) is None
    assert RULE.subject(http_request("r", T0, score=5, action=None, action_id=1)) is not None


def test_other_classes_are_ignored():
    event = http_request("r", T0, score=5)
    event["class_uid"] = 6003
    assert RULE.subject(event) is None


def test_once_per_window_per_client_ip():
    rule = WafUnmitigatedAttack(AlertConfig(waf_window_s=600))
    events = [http_request(f"r{n}", T0 + n * MIN, score=5) for n in range(25)]
    events += [http_request("other", T0, score=5, ip="198.51.100.1")]
    states, findings = run(rule, events)
    # minutes 0, 10 and 20 alert for the first IP; the second IP alerts once
    assert sorted(f["finding_info"]["related_events"][0]["uid"] for f in findings) == [
        "other", "r0", "r10", "r20"]
    assert states["ip:192.0.2.44"]["suppressed"] == 4
    assert rule.expires_at(states["ip:192.0.2.44"]) == T0 + 30 * MIN


def test_configurable_range():
    rule = WafUnmitigatedAttack(AlertConfig(waf_score_min=1, waf_score_max=40))
    assert rule.subject(http_request("r", T0, score=35)) is not None
    assert RULE.subject(http_request("r", T0, score=35)) is None


def test_deterministic_finding_id():
    event = http_request("ray1", T0, score=7)
    a = WafUnmitigatedAttack().step(None, event, T0)[1]
    b = WafUnmitigatedAttack().step(None, event, T0 + 1)[1]
    assert a[0]["finding_info"]["uid"] == b[0]["finding_info"]["uid"]
