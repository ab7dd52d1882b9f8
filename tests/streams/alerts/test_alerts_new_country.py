"""Rule (2): a successful Access login from a country never seen for that user."""

from __future__ import annotations

import json

from alert_factories import MIN, T0, access_login, roundtrip

from streams.alerts import AlertConfig, NewCountryLogin


def feed(rule, events, state=None, now_ms=T0):
    findings = []
    for event in events:
        state, found = rule.step(roundtrip(state), event, now_ms)
        findings.extend(found)
    return state, findings


def login(n, country, **kw):
    return access_login(f"login-{n}", T0 + n * MIN, country=country, **kw)


def test_first_ever_login_does_not_alert():
    rule = NewCountryLogin()
    state, findings = feed(rule, [login(0, "DE")])
    assert findings == []
    assert state["countries"] == {"DE": T0}


def test_first_login_alerts_when_configured():
    rule = NewCountryLogin(AlertConfig(new_country_alert_on_first_login=True))
    assert len(feed(rule, [login(0, "DE")])[1]) == 1


def test_known_country_does_not_alert():
    rule = NewCountryLogin()
    assert feed(rule, [login(0, "DE"), login(1, "DE"), login(2, "de")])[1] == []


def test_new_country_alerts_with_the_login_as_evidence():
    rule = NewCountryLogin()
    state, findings = feed(rule, [login(0, "DE"), login(1, "FR"), login(2, "BR")])
    assert len(findings) == 2
    first = findings[0]
    assert first["finding_info"]["related_events"][0]["uid"] == "login-1"
    assert json.loads(first["unmapped"]["country"]) == "FR"
    assert json.loads(first["unmapped"]["known_countries"]) == ["DE"]
    assert json.loads(findings[1]["unmapped"]["known_countries"]) == ["DE", "FR"]
    assert first["severity_id"] == 3 and first["severity"] == "Medium"
    assert first["finding_info"]["attacks"][0]["technique"]["uid"] == "T1078"
    assert set(state["countries"]) == {"DE", "FR", "BR"}
    # back in France: known now
    assert feed(rule, [login(3, "FR")], state)[1] == []


def test_only_successful_access_logons_count():
    rule = NewCountryLogin()
    others = [
        login(1, "FR", allowed=False),  # denied
        login(2, "FR", activity_id=2),  # logoff
        login(3, "FR", log_name="audit_logs"),  # dashboard login from the audit log
        login(4, None),  # no country (REST access_requests have none)
        login(5, "XX"),  # Cloudflare's unknown country
    ]
    assert [rule.subject(e) for e in others] == [None] * 5
    state, _ = feed(rule, [login(0, "DE")])
    assert feed(rule, others, state)[1] == []


def test_users_are_separate_subjects():
    rule = NewCountryLogin()
    assert rule.subject(login(0, "DE")) == "user:alice@example.com"
    assert rule.subject(login(0, "DE", email="Bob@Example.com")) == "user:bob@example.com"


def test_deterministic_finding_id():
    events = [login(0, "DE"), login(1, "FR")]
    a = feed(NewCountryLogin(), events, now_ms=T0)[1]
    b = feed(NewCountryLogin(), events, now_ms=T0 + 86_400_000)[1]
    assert a[0]["finding_info"]["uid"] == b[0]["finding_info"]["uid"]
    assert a[0]["finding_info"]["created_time"] != b[0]["finding_info"]["created_time"]


def test_country_set_is_capped_least_recent_first():
    rule = NewCountryLogin(AlertConfig(new_country_max_countries=3))
    state, findings = feed(rule, [login(0, "DE"), login(1, "FR"), login(2, "IT"),
                                  login(3, "DE"), login(4, "ES")])
    assert set(state["countries"]) == {"IT", "DE", "ES"}  # FR was the least recently seen
    assert len(findings) == 3
    # a long tour never grows the state beyond the cap
    countries = [f"C{n}" for n in range(200)]
    state, _ = feed(rule, [login(10 + n, c) for n, c in enumerate(countries)], state)
    assert len(state["countries"]) == 3


def test_state_expires_after_the_memory():
    rule = NewCountryLogin(AlertConfig(new_country_memory_s=86_400))
    state, _ = feed(rule, [login(0, "DE"), login(5, "DE")])
    assert rule.expires_at(state) == T0 + 5 * MIN + 86_400_000


def test_cap_holds_for_out_of_order_logins():
    rule = NewCountryLogin(AlertConfig(new_country_max_countries=2))
    state, _ = feed(rule, [login(10, "DE"), login(11, "FR")])
    state, findings = feed(rule, [login(1, "IT")], state)  # an older login, new country
    assert len(findings) == 1
    assert set(state["countries"]) == {"FR", "IT"}
