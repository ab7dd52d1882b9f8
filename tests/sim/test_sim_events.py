"""The event generator and store: determinism, record shape, `when` skew, ties, live arrivals."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from sim import EventStore, run_sim
from sim.events import ACTION_TYPES, EventGenerator
from sim.timeutil import parse_time

V1_FIELDS = {"id", "action", "actor", "interface", "metadata", "newValue", "oldValue", "owner",
             "resource", "when"}
OPTIONAL = {"newValueJson", "oldValueJson", "account"}


def test_same_seed_same_events(make_config):
    a = EventStore(make_config(seed=7, initial_events=300)).events()
    b = EventStore(make_config(seed=7, initial_events=300)).events()
    c = EventStore(make_config(seed=8, initial_events=300)).events()
    assert a == b and len(a) == 300
    assert [e["id"] for e in a] != [e["id"] for e in c]


def test_content_does_not_depend_on_batching():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    one = EventGenerator(3, "a" * 32)
    many = EventGenerator(3, "a" * 32)
    first = one.batch(now, 10)
    second = many.batch(now, 4) + many.batch(now, 6)
    assert [e["id"] for e in first] == [e["id"] for e in second]


def test_when_skew_guarantee():
    gen = EventGenerator(11, "b" * 32)
    rng = random.Random(5)
    for _ in range(400):
        t = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**11))
        for ev in gen.batch(t, rng.randint(1, 40), ties=rng.choice([None, 1, 3])):
            when = parse_time(ev["when"])
            assert t - timedelta(seconds=1) <= when <= t, (t, ev["when"])


def test_history_spread_and_skew(make_config, clock):
    store = EventStore(make_config(initial_events=500, history_s=3600))
    whens = [parse_time(e["when"]) for e in store.events()]
    assert len(whens) == 500 and whens == sorted(whens)
    assert clock.now - timedelta(seconds=3601) <= whens[0] < clock.now - timedelta(seconds=3000)
    assert whens[-1] <= clock.now


def test_record_shape_and_variety(make_config):
    events = EventStore(make_config(initial_events=2000)).events()
    assert len({e["id"] for e in events}) == len(events)
    for e in events:
        assert V1_FIELDS <= set(e) <= V1_FIELDS | OPTIONAL, set(e)
        uuid.UUID(e["id"])
        assert isinstance(e["action"]["result"], bool)
        assert e["interface"] in ("", "UI", "API")
        assert set(e["resource"]) == {"id", "type"} and set(e["owner"]) == {"id"}
        if e["actor"]["type"] == "system":
            assert e["actor"] == {"id": "1", "type": "system"}
        else:
            assert set(e["actor"]) == {"id", "email", "ip", "type"}
    assert {e["action"]["type"] for e in events} == set(ACTION_TYPES)
    assert {e["actor"]["type"] for e in events} == {"user", "system", "admin", "Cloudflare"}
    assert any(":" in e["actor"].get("ip", "") for e in events)
    assert any("." in e["actor"].get("ip", "") for e in events)
    whens = [e["when"] for e in events]
    assert any("." not in w for w in whens) and any(len(w) > 24 for w in whens)  # s and µs
    assert max(Counter(whens).values()) >= 2  # bursts of ties
    assert any(e["newValue"] == "null" for e in events)
    assert any("newValueJson" in e for e in events) and any("oldValueJson" in e for e in events)
    assert any("account" in e for e in events)  # fields unknown to v1
    assert any("description" in e["action"] for e in events)
    assert any("info" in e["action"] for e in events)


def test_admin_generate_with_ties_and_ground_truth(make_config, clock):
    cfg = make_config(initial_events=10)

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient() as c:
            r = await c.post(f"{sim.admin_url}/generate", json={"n": 10, "ties": 5})
            made = r.json()["events"]
            assert r.json()["created"] == 10
            counts = Counter(e["when"] for e in made)
            assert sorted(counts.values()) == [5, 5]
            for w in counts:
                assert clock.now - timedelta(seconds=1) <= parse_time(w) <= clock.now
            truth = (await c.get(f"{sim.admin_url}/audit_logs")).json()
            assert len(truth) == 20 and truth[-10:] == made
            r = await c.post(f"{sim.admin_url}/generate", json={"n": 4, "precision": "s"})
            assert {e["when"] for e in r.json()["events"]} == {"2026-11-22T20:19:48Z"}
            r = await c.post(f"{sim.admin_url}/events", json={"events": [
                {"id": "x", "when": "2026-11-22T20:19:48.1Z"}]})
            assert r.json() == {"added": 1}
            assert (await c.get(f"{sim.admin_url}/health")).json()["events"] == 25

    asyncio.run(body())


def test_live_arrivals_and_pause(make_config):
    cfg = make_config(initial_events=0, events_per_second=50.0, clock=lambda: datetime.now(UTC))

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient() as c:
            start = datetime.now(UTC)
            await asyncio.sleep(0.6)
            n = len(sim.store.events())
            assert 5 <= n <= 60
            for e in sim.store.events():
                assert start - timedelta(seconds=1) <= parse_time(e["when"]) <= datetime.now(UTC)
            r = await c.post(f"{sim.admin_url}/live", json={"events_per_second": 0})
            assert r.json() == {"events_per_second": 0.0}
            await asyncio.sleep(0.3)
            paused = len(sim.store.events())
            await asyncio.sleep(0.4)
            assert len(sim.store.events()) == paused

    asyncio.run(body())
