"""Six hours of downtime with every feed enabled: stop the connector, let 6 simulated hours
of events pile up in every feed and change the rosters, restart, and every raw topic ends up
with exactly the expected events once, the rosters with the final state, and no gap record.

Simulated time: the simulator and the first connector run 6 hours in the past (the
simulator's `--clock-offset-s`, the connector's clock shifted by the same amount). While the
connector is down, `POST /__sim/clock {advance_s: 6 h}` moves the simulator to the present
and backfills the REST feeds over the skipped span (Logpull and GraphQL data exist for every
second anyway); the connector is restarted unshifted, on the wall clock, 6 h later.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from support import (
    connector_env,
    duplicates,
    read_topic,
    start_connector,
    start_connector_at,
    start_sim,
    wait_until,
)

from connector.feeds import AccessRequests
from connector.feeds.firewall_events import FIELD_MAP, FirewallEvents
from schemas.registry import Decoder, registry_client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

DOWNTIME_S = 6 * 3600
LOOKBACK_S = 3 * 3600  # the first run's catch-up: 3 one-hour windows, the 2 h REST history
PER_HOUR = 120  # backfilled events per REST feed per simulated hour of downtime
RATE = 0.05  # Logpull records and firewall events per second per zone (180 an hour)
FEEDS = ("audit_logs,audit_logs_v2,access_requests,members,access_users,http_requests,"
         "firewall_events")
REST_TOPICS = ("cloudflare.audit_logs.v1", "cloudflare.audit_logs_v2.v1",
               "cloudflare.access_requests.v1")
ZONE_FEEDS = {"http_requests": "cloudflare.http_requests.v1",
              "firewall_events": "cloudflare.firewall_events.v1"}


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rest_truth(sim) -> dict[str, set[str]]:
    acct = sim.account_id
    return {
        "cloudflare.audit_logs.v1": {e["id"] for e in sim.events()},
        "cloudflare.audit_logs_v2.v1": {
            e["id"] for e in sim.admin(f"audit_logs_v2?account_id={acct}")},
        "cloudflare.access_requests.v1": {
            AccessRequests().key(e) for e in sim.admin(f"access_requests?account_id={acct}")},
    }


def _keys(stack, topic: str, scope: str) -> list[str]:
    return [m.key.decode() for m in read_topic(stack, topic)
            if m.headers.get("cf.scope") == scope.encode()]


def _windows(stack, zones) -> dict[tuple[str, str], list[dict]]:
    """(feed, zone) -> the committed windows, in commit order (cloudflare-connector.commits)."""
    out: dict[tuple[str, str], list[dict]] = {(f, z): [] for f in ZONE_FEEDS for z in zones}
    for m in read_topic(stack, "cloudflare-connector.commits"):
        value = json.loads(m.value)
        if (value.get("feed"), value.get("zone")) in out:
            out[value["feed"], value["zone"]].append(value)
    return out


def _caught_up(stack, zones, at_least: datetime) -> bool:
    return all(done and _parse(done[-1]["to"]) >= at_least
               for done in _windows(stack, zones).values())


def _roster(stack, topic: str, account: str) -> tuple[dict[bytes, dict], list[tuple]]:
    """The compacted view (last value per key, removed keys dropped, decoded) and changes."""
    last: dict[bytes, bytes | None] = {}
    changes = []
    for m in read_topic(stack, topic):
        if (m.key or b"").startswith(f"{account}/".encode()):
            last[m.key] = m.value
            changes.append((m.key, m.headers.get("cf.change")))
    with registry_client(stack.registry_url) as client:
        decoder = Decoder(client)
        return {k: decoder.decode(v) for k, v in last.items() if v is not None}, changes


def _expected_members(sim) -> dict[bytes, dict]:
    return {f"{sim.account_id}/{m['user']['id']}".encode(): m
            for m in sim.admin(f"members?account_id={sim.account_id}")}


def _expected_users(sim) -> dict[bytes, dict]:
    return {f"{sim.account_id}/{u['id']}".encode(): u
            for u in sim.admin(f"access_users?account_id={sim.account_id}")}


def _members_match(stack, sim) -> bool:
    current, _ = _roster(stack, "cloudflare.members.v1", sim.account_id)
    expected = _expected_members(sim)
    return current.keys() == expected.keys() and all(
        (v["id"], v["email"], v["status"], [r["name"] for r in json.loads(v["roles"])])
        == (m["id"], m["email"], m["status"], [r["name"] for r in m["roles"]])
        for k, m in expected.items() for v in (current[k],))


def _users_match(stack, sim) -> bool:
    current, _ = _roster(stack, "cloudflare.access_users.v1", sim.account_id)
    expected = _expected_users(sim)
    fields = ("email", "name", "access_seat", "gateway_seat", "updated_at")
    return current.keys() == expected.keys() and all(
        all(current[k][f] == u[f] for f in fields) for k, u in expected.items())


def test_six_hours_of_downtime_every_feed_catches_up_exactly_once(stack, tmp_path):
    zones = [secrets.token_hex(16) for _ in range(2)]
    sim = start_sim(tmp_path, initial_events=300, events_per_second=0.5, extra=[
        "--clock-offset-s", str(-DOWNTIME_S), "--logpull-rps", str(RATE),
        "--graphql-eps", str(RATE), *(a for z in zones for a in ("--zone-id", z))])
    env = connector_env(stack, sim, f"e2e-downtime-{secrets.token_hex(3)}", CF_FEEDS=FEEDS,
                        CF_ZONE_IDS=",".join(zones), CF_START_LOOKBACK_S=str(LOOKBACK_S),
                        CF_SNAPSHOT_INTERVAL_S="3600", CF_POLL_INTERVAL_S="1")
    scope = f"account:{sim.account_id}"
    services = [sim.service]
    try:
        # 1. six hours ago: the connector catches up and publishes every feed
        first_start = datetime.now(UTC) - timedelta(seconds=DOWNTIME_S)
        first = start_connector_at(tmp_path, env, -DOWNTIME_S, "connector-0")
        services.append(first)
        before_stop = _rest_truth(sim)
        members, users = _expected_members(sim), _expected_users(sim)

        def first_run_done():
            rest = all(set(_keys(stack, t, scope)) >= ids for t, ids in before_stop.items())
            rosters = (len(_roster(stack, "cloudflare.members.v1", sim.account_id)[0])
                       == len(members) and
                       len(_roster(stack, "cloudflare.access_users.v1", sim.account_id)[0])
                       == len(users))
            windows = _caught_up(stack, zones, first_start - timedelta(minutes=6))
            return rest and rosters and windows

        wait_until(first_run_done, 150, "the first run to catch up", [first, sim.service], 2)
        for (feed, zone), done in _windows(stack, zones).items():
            late = _parse(done[0]["from"]) - (first_start - timedelta(seconds=LOOKBACK_S + 300))
            assert timedelta(0) <= late < timedelta(seconds=90), (feed, zone, "shifted clock")
        time.sleep(1)  # mid-poll, live events still arriving
        first.kill()  # kill -9: down for 6 hours

        # 2. the downtime: 6 simulated hours of events, roster changes
        moved = sim.admin("clock", {"advance_s": DOWNTIME_S, "events_per_hour": PER_HOUR})
        assert abs(moved["offset_s"]) < 1e-6, moved
        assert set(moved["backfilled"].values()) == {6 * PER_HOUR}, moved
        down_from = _parse(moved["now"]) - timedelta(seconds=DOWNTIME_S)
        gone, promoted = members[next(iter(members))], list(members.values())[1]
        new_role = "DNS" if promoted["roles"][0]["name"] != "DNS" else "Billing"
        sim.admin("members", {"account_id": sim.account_id, "remove": [gone["email"]],
                              "add": ["downtime.hire@example.com", "temp@example.com"],
                              "set_role": {promoted["email"]: new_role}})
        temp_member = next(m for m in sim.admin(f"members?account_id={sim.account_id}")
                           if m["email"] == "temp@example.com")
        sim.admin("members", {"account_id": sim.account_id, "remove": ["temp@example.com"]})
        old_user, seated = list(users.values())[0], list(users.values())[1]
        sim.admin("access_users", {
            "account_id": sim.account_id, "remove": [old_user["email"]],
            "add": [{"email": "contractor.new@example.com", "gateway_seat": True}],
            "set_seat": {seated["email"]: {"access_seat": not seated["access_seat"]}}})

        # 3. restart on the wall clock: everything since the kill is fetched
        final = start_connector(tmp_path, env, "connector-1")
        services.append(final)
        restarted = datetime.now(UTC)
        final.wait_for(lambda out: out.count("resuming") >= 2 * len(zones) + 3, 60)
        assert "no checkpoint" not in final.output()
        time.sleep(3)
        sim.pause()
        truth = _rest_truth(sim)
        # (the rosters are listed at once: the last snapshot is 6 h old, the interval 1 h)
        wait_until(
            lambda: all(set(_keys(stack, t, scope)) == ids for t, ids in truth.items())
            and _caught_up(stack, zones, restarted - timedelta(minutes=6, seconds=30))
            and _members_match(stack, sim) and _users_match(stack, sim),
            180, "every feed to catch up after the downtime", [final, sim.service], 2)
        assert final.stop() == 0, final.output()[-3000:]

        # 4. exactly once, against the simulator's ground truth
        for topic, ids in truth.items():
            keys = _keys(stack, topic, scope)
            assert not duplicates(keys), (topic, duplicates(keys))
            assert set(keys) == ids and len(keys) == len(ids), topic
        down_events = [e for e in sim.events()
                       if _parse(e["when"]) >= down_from - timedelta(seconds=1)]
        assert len(down_events) >= 6 * PER_HOUR, "the truth holds the downtime's events"
        for (feed, zone), windows in _windows(stack, zones).items():
            _check_windows(stack, sim, feed, zone, windows, down_from, restarted)
        gaps = [m for m in read_topic(stack, "cloudflare.gaps.v1")
                if any(z in (m.key or b"").decode() for z in zones)]
        assert not gaps, "6 hours is within every retention horizon"
        dlq = [m for m in read_topic(stack, "cloudflare.dlq.v1")
               if sim.account_id in (m.headers.get("dlq.source") or b"").decode()
               or any(z in (m.headers.get("dlq.source") or b"").decode() for z in zones)]
        assert not dlq

        # 5. the rosters: the final state, the intermediate hire never published
        assert _members_match(stack, sim) and _users_match(stack, sim)
        _, member_changes = _roster(stack, "cloudflare.members.v1", sim.account_id)
        temp_key = f"{sim.account_id}/{temp_member['user']['id']}".encode()
        assert all(k != temp_key for k, _ in member_changes)
        assert [c for _, c in member_changes].count(b"removed") == 1
        _, user_changes = _roster(stack, "cloudflare.access_users.v1", sim.account_id)
        assert [c for _, c in user_changes].count(b"removed") == 1
        assert [c for _, c in user_changes].count(b"changed") >= 1
    finally:
        for service in reversed(services):
            service.stop()


def _check_windows(stack, sim, feed, zone, windows, down_from, restarted):
    """Contiguous committed windows from the first start to the present, across the kill;
    the topic holds exactly the simulator's events of that range, once."""
    for prev, nxt in zip(windows, windows[1:], strict=False):
        assert prev["to"] == nxt["from"], (feed, zone, prev, nxt)
    start, end = windows[0]["from"], windows[-1]["to"]
    assert _parse(start) < down_from - timedelta(hours=2)
    assert _parse(end) >= restarted - timedelta(minutes=6, seconds=30)
    spans = [w for w in windows if _parse(w["from"]) < down_from < _parse(w["to"])
             or _parse(w["from"]) >= down_from]
    assert len(spans) >= 6, (feed, zone, "six hours of windows after the restart")
    keys = _keys(stack, ZONE_FEEDS[feed], f"zone:{zone}")
    assert not duplicates(keys), (feed, zone, duplicates(keys))
    assert sum(w["records"] for w in windows) == len(keys), (feed, zone)
    if feed == "http_requests":
        truth = sim.admin(f"logpull?zone_id={zone}&start={start}&end={end}")
        expected = set(truth["ray_ids"])
    else:
        last = (_parse(end) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        truth = sim.admin(f"firewall_events?zone_id={zone}&start={start}&end={last}")
        expected = {FirewallEvents.key({FIELD_MAP[k]: v for k, v in key.items()})
                    for key in truth["keys"]}
    hours = (_parse(end) - _parse(start)).total_seconds() / 3600
    assert truth["count"] > hours * 3600 * RATE * 0.8, (feed, zone, truth["count"])
    assert set(keys) == expected and len(keys) == len(expected), (feed, zone, len(keys),
                                                                  len(expected))
