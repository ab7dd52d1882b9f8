"""The virtual clock: GET/POST /__sim/clock moves the simulator's time and backfills the
time-ordered feeds over the skipped span; Logpull and GraphQL follow the clock."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sim.__main__ import build_parser
from sim.clock import VirtualClock
from sim.timeutil import format_rfc3339, parse_time

ACCT = "0123456789abcdef0123456789abcdef"
_TIME = {"audit_logs": lambda r: r["when"], "audit_logs_v2": lambda r: r["action"]["time"],
         "access_requests": lambda r: r["created_at"]}


def test_virtual_clock_offsets_its_base(clock):
    vc = VirtualClock(-3600, base=clock)
    assert vc() == clock.now - timedelta(hours=1) and vc.offset_s == -3600
    vc.advance(5400)
    assert vc() == clock.now + timedelta(minutes=30)
    assert build_parser().parse_args(["--clock-offset-s", "-21600"]).clock_offset_s == -21600


def test_advance_backfills_every_time_ordered_feed(serve, clock):
    async def scenario(sim, c):
        admin = sim.admin_url
        before = {f: await _truth(c, admin, f) for f in _TIME}
        assert (await c.get(f"{admin}/clock")).json()["offset_s"] == 0
        r = await c.post(f"{admin}/clock", json={
            "advance_s": 6 * 3600, "events_per_hour": {"audit_logs": 100, "access_requests": 50}})
        body = r.json()
        assert r.status_code == 200, body
        # audit_logs_v2 left out: its live rate (0 here) applies
        assert body["backfilled"] == {"audit_logs": 600, "access_requests": 300,
                                      "audit_logs_v2": 0}
        assert body["offset_s"] == 6 * 3600
        assert body["now"] == format_rfc3339(clock.now + timedelta(hours=6))
        start, end = clock.now - timedelta(seconds=1), clock.now + timedelta(hours=6)
        for feed, n in body["backfilled"].items():
            after = await _truth(c, admin, feed)
            new = [r for r in after if r not in before[feed]]
            assert len(after) == len(before[feed]) + n == len(new) + len(before[feed])
            times = [parse_time(_TIME[feed](r)) for r in new]
            assert all(start <= t <= end for t in times), feed
            if n:
                hours = Counter(int((t - start).total_seconds() // 3600) for t in times)
                assert set(hours) == set(range(6)), "spread over the whole span"
                assert max(Counter(map(_TIME[feed], new)).values()) >= 2, "bursts share a time"
        # the API answers from the new now: since the old now returns exactly the backfill
        since = format_rfc3339(start)
        page = await c.get(f"/accounts/{ACCT}/audit_logs",
                           params={"since": since, "per_page": "1000", "direction": "asc"})
        assert len(page.json()["result"]) == 600

    serve(scenario, initial_events=30, access_initial_events=30, audit_v2_initial_events=30)


def test_offset_and_number_rate_and_bad_bodies(serve, clock):
    async def scenario(sim, c):
        admin = sim.admin_url
        r = await c.post(f"{admin}/clock", json={"offset_s": -7200})
        assert r.json()["backfilled"] == dict.fromkeys(_TIME, 0)
        assert r.json()["now"] == format_rfc3339(clock.now - timedelta(hours=2))
        r = await c.post(f"{admin}/clock", json={"advance_s": 1800, "events_per_hour": 20})
        body = r.json()
        assert body["offset_s"] == -5400 and set(body["backfilled"].values()) == {10}
        for bad in ({"advance_s": -1}, {"advance_s": "x"}, {"events_per_hour": {"nope": 1}},
                    {"advance_s": 10, "events_per_hour": -1},
                    {"advance_s": 3600, "events_per_hour": 10**9}):
            r = await c.post(f"{admin}/clock", json=bad)
            assert r.status_code == 400, bad
        assert (await c.get(f"{admin}/clock")).json()["offset_s"] == -5400

    serve(scenario, initial_events=5)


def test_logpull_follows_the_virtual_clock(serve, clock):
    async def scenario(sim, c):
        admin = sim.admin_url
        zone = sim.config.zone_ids[0]
        end = (clock.now + timedelta(hours=1)).replace(microsecond=0)
        params = {"start": format_rfc3339(end - timedelta(minutes=10)),
                  "end": format_rfc3339(end), "fields": "RayID"}
        path = f"/zones/{zone}/logs/received"
        assert (await c.get(path, params=params)).status_code == 400, "end is in the future"
        await c.post(f"{admin}/clock", json={"advance_s": 3600 + 120})
        r = await c.get(path, params=params)
        assert r.status_code == 200
        assert len(r.text.splitlines()) == 600  # 10 minutes at 1 record/s

    serve(scenario, initial_events=5, logpull_rps=1.0)


async def _truth(c, admin, feed):
    r = await c.get(f"{admin}/{feed}", params={"account_id": ACCT})
    return r.json()
