"""Logpull http_requests through the real broker: every record of the fetched range exactly
once, with a mid-stream `Error streaming data`, a truncated gzip stream and a kill -9."""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime

import pytest
from support import connector_env, duplicates, read_topic, start_connector, start_sim, wait_until

pytestmark = pytest.mark.e2e


def _start_of(log: str) -> str:
    found = re.search(r"http_requests zone:\w+: no checkpoint, starting at (\S+)", log)
    assert found, log[-2000:]
    return found.group(1)


def _last_end(logs: str) -> str | None:
    ends = re.findall(r"committed window \S+ \.\. (\S+):", logs)
    return max(ends) if ends else None


def test_logpull_windows_exactly_once_across_failures_and_kill9(stack, tmp_path):
    zone = secrets.token_hex(16)
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0,
                    extra=["--zone-id", zone, "--logpull-rps", "3"])
    env = connector_env(stack, sim, f"e2e-logpull-{secrets.token_hex(3)}",
                        CF_FEEDS="http_requests", CF_ZONE_IDS=zone,
                        CF_START_LOOKBACK_S=str(3 * 3600), CF_POLL_INTERVAL_S="1")
    sim.admin("faults", {"kind": "stream_error", "count": 1, "path": "/logs/received"})
    first = start_connector(tmp_path, env, "connector-0")
    services = [sim.service, first]
    try:
        first.wait_for("committed window", timeout_s=120)
        start = _start_of(first.output())
        first.kill()  # mid catch-up: 3 one-hour windows
        sim.admin("faults", {"kind": "truncated_gzip", "count": 1, "path": "/logs/received"})
        final = start_connector(tmp_path, env, "connector-1")
        services.append(final)
        target = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() + 3 * 3600
        wait_until(
            lambda: (_last_end(final.output()) or "") >= time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(target)),
            180, "caught up to the last closed window", [final, sim.service])
        final.stop()
        logs = first.output() + final.output()
        end = _last_end(logs)
        assert "Error streaming data" in logs, "the stream_error fault happened"
        assert "stream broke" in logs, "the truncated gzip fault happened"
        assert "resuming at" in final.output()
        truth = sim.admin(f"logpull?zone_id={zone}&start={start}&end={end}")
        scope = f"zone:{zone}".encode()
        keys = [m.key.decode() for m in read_topic(stack, "cloudflare.http_requests.v1")
                if m.headers.get("cf.scope") == scope]
        assert not duplicates(keys)
        expected = {f"{r:016x}" if isinstance(r, int) else r for r in truth["ray_ids"]}
        assert truth["count"] > 3 * 3600 * 3 * 0.9
        assert set(keys) == expected, (len(keys), truth["count"])
    finally:
        for service in reversed(services):
            service.stop()
