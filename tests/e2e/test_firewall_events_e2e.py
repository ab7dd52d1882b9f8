"""Firewall events via GraphQL through the real broker: full pages split, every event once,
across a kill -9; field names mapped to Logpush's firewall_events."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import pytest
from support import (
    connector_env,
    duplicates,
    read_topic,
    start_connector,
    start_sim,
    wait_until,
)

from connector.feeds.firewall_events import FIELD_MAP, FirewallEvents

pytestmark = pytest.mark.e2e


def test_firewall_events_exactly_once_with_split_pages_and_kill9(stack, tmp_path):
    zone = secrets.token_hex(16)
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0,
                    extra=["--zone-id", zone, "--graphql-eps", "2",
                           "--graphql-max-page-size", "400"])
    env = connector_env(stack, sim, f"e2e-fw-{secrets.token_hex(3)}", CF_FEEDS="firewall_events",
                        CF_ZONE_IDS=zone, CF_START_LOOKBACK_S=str(2 * 3600),
                        CF_POLL_INTERVAL_S="1")
    first = start_connector(tmp_path, env, "connector-0")
    services = [sim.service, first]
    try:
        first.wait_for("committed window", timeout_s=120)
        found = re.search(r"no checkpoint, starting at (\S+)", first.output())
        assert found
        start = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
        first.kill()
        final = start_connector(tmp_path, env, "connector-1")
        services.append(final)
        end_text = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
        wait_until(lambda: any(e >= end_text for e in re.findall(
            r"committed window \S+ \.\. (\S+):", final.output())), 240,
            "two hours of windows", [final, sim.service])
        final.stop()
        last_end = max(re.findall(r"committed window \S+ \.\. (\S+):", final.output()))
        end = datetime.fromisoformat(last_end.replace("Z", "+00:00")) - timedelta(seconds=1)
        truth = sim.admin(f"firewall_events?zone_id={zone}&start={found.group(1)}"
                          f"&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        expected = {FirewallEvents.key({FIELD_MAP[k]: v for k, v in key.items()})
                    for key in truth["keys"]}
        scope = f"zone:{zone}".encode()
        keys = [m.key.decode() for m in read_topic(stack, "cloudflare.firewall_events.v1")
                if m.headers.get("cf.scope") == scope]
        assert not duplicates(keys)
        assert truth["count"] > 2 * 3600 * 2 * 0.9
        assert set(keys) == expected, (len(keys), truth["count"])
        assert "resuming at" in final.output()
    finally:
        for service in reversed(services):
            service.stop()
