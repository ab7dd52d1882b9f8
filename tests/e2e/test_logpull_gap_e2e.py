"""A Logpull outage longer than the 7-day retention: the lost range is published to
cloudflare.gaps.v1 (feed, scope, window) and the feed continues from the horizon."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from support import connector_env, read_topic, start_connector, start_sim, wait_until

from schemas.registry import Decoder, registry_client

pytestmark = pytest.mark.e2e


def test_nine_day_outage_yields_a_gap_record_and_continues(stack, tmp_path):
    zone = secrets.token_hex(16)
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0,
                    extra=["--zone-id", zone, "--logpull-rps", "0.01",
                           "--logpull-zone-rate-limit", "100000", "--rate-limit", "100000"])
    env = connector_env(stack, sim, f"e2e-gap-{secrets.token_hex(3)}", CF_FEEDS="http_requests",
                        CF_ZONE_IDS=zone, CF_START_LOOKBACK_S=str(9 * 86400),
                        CF_LOGPULL_REQUESTS_PER_MINUTE="100000",
                        CF_API_REQUESTS_PER_5MIN="300000")
    connector = start_connector(tmp_path, env)
    try:
        connector.wait_for("past Cloudflare's retention", timeout_s=60)
        wait_until(lambda: len(re.findall(r"committed window", connector.output())) >= 30, 120,
                   "windows after the gap", [connector, sim.service])
    finally:
        connector.stop()
        sim.service.stop()
    key = f"http_requests/zone:{zone}".encode()
    gaps = [m for m in read_topic(stack, "cloudflare.gaps.v1") if m.key == key]
    assert len(gaps) == 1, "one gap record, committed with the first window"
    with registry_client(stack.registry_url) as client:
        gap = Decoder(client).decode(gaps[0].value)
    start = datetime.fromisoformat(gap["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(gap["end"].replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert gap["feed"] == "http_requests"
    assert gap["scope"] == f"zone:{zone}"
    assert now - start > timedelta(days=9), "the gap starts where the outage began"
    assert timedelta(hours=167) < now - end < timedelta(hours=168), "and ends at the horizon"
    first_window = re.search(r"committed window (\S+) \.\.", connector.output()).group(1)
    assert first_window == gap["end"], "fetching resumes exactly where the gap ends"
