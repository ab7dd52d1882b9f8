"""Alerts in the worker: the raw pipeline sends one input per interested rule, keyed by the
rule's subject and partitioned by it; the alert handler folds inputs into the subject's
state (a memory-backed table partition, changelog writes to the sink) and publishes
Detection Findings to ``siem.alerts.v1`` that decode with its schema."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from test_streams_handlers import Wiring
from test_streams_pipeline import Raw

from streams.alerts import AlertConfig, default_rules
from streams.codecs import Codecs
from streams.pipeline import ALERT_ROUTE, Options, Output, alert_inputs, alert_partition, process

sys.path.insert(0, str(Path(__file__).parent / "alerts"))
from alert_factories import access_login  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import samples  # noqa: E402

T0 = 1_780_000_000_000
RULES = default_rules(AlertConfig(denials_threshold=3))


def test_a_denied_login_is_an_input_of_both_denial_rules():
    event = access_login("evt-1", T0, allowed=False, email="Mallory@example.com")
    sends = alert_inputs(RULES, "app-alert-events", event)
    assert [s.key for s in sends] == [b"cfkafka.auth.denials.user|user:mallory@example.com",
                                      b"cfkafka.auth.denials.ip|ip:198.51.100.7"]
    for send in sends:
        body = json.loads(send.value)
        assert send.route == ALERT_ROUTE and send.topic == "app-alert-events"
        assert body["event"]["metadata"]["uid"] == "evt-1"
        assert body["rule"] == send.key.split(b"|")[0].decode()
    # a successful login with a country: only the new-country rule looks at it
    ok = alert_inputs(RULES, "t", access_login("evt-2", T0, allowed=True))
    assert [s.key for s in ok] == [b"cfkafka.auth.new_country|user:alice@example.com"]


def test_alert_partition_is_stable_and_in_range():
    keys = [f"rule|user:{i}@example.com".encode() for i in range(500)]
    parts = [alert_partition(k, 6) for k in keys]
    assert parts == [alert_partition(k, 6) for k in keys]
    assert set(parts) == set(range(6))


def test_pipeline_adds_alert_inputs_only_when_rules_are_on(codecs: Codecs, raw: Raw):
    denied = next(r for r in samples("access_requests", 200) if not r["allowed"])
    message = raw.message("access_requests", denied)
    plain = process(*message, {}, codecs, "access_requests")
    assert isinstance(plain, Output) and all(s.key is None for s in plain.sends)
    options = Options(alert_rules=RULES, alert_topic="app-alert-events")
    outcome = process(*message, {}, codecs, "access_requests", options)
    assert isinstance(outcome, Output)
    assert [s.route for s in outcome.sends if s.key] == [ALERT_ROUTE, ALERT_ROUTE]


def test_alert_handler_fires_once_per_window_and_keeps_state(
    wiring: Callable[..., Wiring], codecs: Codecs
):
    w = wiring(Options(alert_rules=RULES, alert_topic="app-alert-events"))
    table = w.table("alert-state", 0)
    inputs = []
    for n in range(5):
        event = access_login(f"evt-{n}", T0 + n * 1000, allowed=False, email="eve@example.com")
        inputs += [s for s in alert_inputs(RULES, "t", event) if b"user:" in (s.key or b"")]
    for offset, send in enumerate(inputs):
        w.handlers.alert(w.source("app-alert-events", 0, offset, send.key, send.value),
                         table, w.sink)
    w.handlers.alert(w.source("app-alert-events", 0, 99, b"x|y", b"{not json"), table, w.sink)

    alerts = w.sink.to("siem.alerts.v1")
    assert len(alerts) == 1, "threshold 3 reached once within the window"
    finding = codecs.raw.decode(alerts[0].value)
    related = [e["uid"] for e in finding["finding_info"]["related_events"]]
    assert related[:3] == ["evt-0", "evt-1", "evt-2"]
    changelog = w.sink.to(table.topic)
    assert len(changelog) == 5 and changelog[-1].key == inputs[-1].key
    state = table.get(inputs[-1].key)
    assert [e[1] for e in state["events"]] == ["evt-3", "evt-4"], "counting again after"
    assert [r.topic for r in w.sink.records if r.topic == "cloudflare.dlq.v1"] == [
        "cloudflare.dlq.v1"]
