"""Audit Logs v2: required bounds, cursor pagination, count as a string, cursor styles (§2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sim import run_sim
from sim.audit_v2 import AuditV2Store, decode_cursor, encode_cursor
from sim.store import QueryError
from sim.timeutil import parse_time

PATH = "/accounts/{}/logs/audit"
ALL = {"since": "2026-01-01", "before": "2027-01-01"}
T = "2026-11-22T10:00:01Z"


def _ev(i: int, time: str, **over) -> dict:
    rec = {"id": f"ev-{i:04d}", "account": {"id": "a", "name": "n"},
           "action": {"description": "d", "result": "success", "time": time, "type": "update"},
           "actor": {"id": "u", "context": "dash", "email": "e@example.com",
                     "ip_address": "198.51.100.1", "token_id": "", "token_name": "",
                     "type": "user"},
           "raw": {"cf_ray_id": "0" * 16, "method": "PATCH", "status_code": 200, "uri": "/x",
                   "user_agent": "ua"},
           "resource": {"id": "r", "product": "dns_records", "request": {}, "response": {},
                        "scope": {"id": "a", "type": "accounts"}, "type": "dns_records"},
           "zone": {"id": "", "name": ""}}
    rec.update(over)
    return rec


def _ids(result: list[dict]) -> list[int]:
    return [int(r["id"][3:]) for r in result]


@pytest.fixture
def store(make_config):
    s = AuditV2Store(make_config(audit_v2_initial_events=0))
    s.add([_ev(1, "2026-11-22T10:00:00Z"), _ev(2, T), _ev(3, T), _ev(4, "2026-11-22T10:00:01.5Z"),
           _ev(5, T), _ev(6, "2026-11-22T10:00:03Z")])
    return s


def _all_pages(store, params: dict, style="cursor") -> tuple[list[dict], list[dict]]:
    out, infos, cursor = [], [], ""
    while True:
        res, info = store.query(store.config.account_id, {**params, "cursor": cursor}, style)
        out += res
        infos.append(info)
        cursor = info["cursor"] if style == "cursor" else info["cursors"].get("after", "")
        if not cursor:
            return out, infos


def test_record_shape_and_determinism(make_config):
    events = AuditV2Store(make_config(audit_v2_initial_events=800)).events()
    assert events == AuditV2Store(make_config(audit_v2_initial_events=800)).events()
    assert len({e["id"] for e in events}) == 800
    for e in events:
        assert set(e) == {"id", "account", "action", "actor", "raw", "resource", "zone"}
        assert set(e["account"]) == {"id", "name"} and set(e["zone"]) == {"id", "name"}
        assert set(e["action"]) == {"description", "result", "time", "type"}
        assert e["action"]["result"] in ("success", "failure")
        assert e["action"]["type"] in ("create", "delete", "update", "view")
        assert set(e["actor"]) == {"id", "context", "email", "ip_address", "token_id",
                                   "token_name", "type"}
        assert e["actor"]["type"] in ("account", "cloudflare_admin", "system", "user")
        assert e["actor"]["context"] in ("api_key", "api_token", "dash", "oauth", "origin_ca_key")
        assert set(e["raw"]) == {"cf_ray_id", "method", "status_code", "uri", "user_agent"}
        assert isinstance(e["raw"]["status_code"], int)
        res = e["resource"]
        assert set(res) == {"id", "product", "request", "response", "scope", "type"}
        assert all(isinstance(res[k], dict) for k in ("request", "response", "scope"))
    times = [parse_time(e["action"]["time"]) for e in events]
    assert times == sorted(times) and len(set(times)) < len(times)  # ordered, with ties
    assert {e["actor"]["context"] for e in events} >= {"dash", "api_token", "api_key"}


def test_required_bounds(store):
    acct = store.config.account_id
    for params in ({}, {"since": "2026-01-01"}, {"before": "2026-01-01"},
                   {"since": "", "before": "2027-01-01"}):
        with pytest.raises(QueryError, match="required"):
            store.query(acct, params)
    with pytest.raises(QueryError):
        store.query(acct, {"since": "2027-01-01", "before": "2026-01-01"})


def test_since_inclusive_before_exclusive_with_ties(store):
    acct = store.config.account_id
    q = lambda **p: _ids(store.query(acct, {"direction": "asc", **p})[0])  # noqa: E731
    assert q(since=T, before="2027-01-01") == [2, 3, 5, 4, 6]
    assert q(since="2026-01-01", before=T) == [1]
    assert q(since=T, before="2026-11-22T10:00:01.5Z") == [2, 3, 5]
    assert _ids(store.query(acct, ALL)[0]) == [6, 4, 5, 3, 2, 1]  # desc default
    assert q(since="2026-11-22", before="2026-11-23") == [1, 2, 3, 5, 4, 6]  # dates = UTC


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 2, 3, 5, 6, 7])
def test_cursor_to_the_end_ties_across_pages(store, direction, limit):
    params = {**ALL, "direction": direction, "limit": str(limit)}
    out, infos = _all_pages(store, params)
    want = [1, 2, 3, 5, 4, 6]
    assert _ids(out) == (want if direction == "asc" else want[::-1])
    assert all(isinstance(i["count"], str) for i in infos)
    assert [int(i["count"]) for i in infos] == [len(c) for c in _chunks(6, limit)]
    assert infos[-1]["cursor"] == "" and all(i["cursor"] for i in infos[:-1])


def _chunks(n: int, size: int) -> list[range]:
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def test_cursor_style_after(store):
    out, infos = _all_pages(store, {**ALL, "limit": "4"}, "after")
    assert len(out) == 6 and infos[0]["cursors"]["after"] and infos[-1]["cursors"] == {}
    assert all("cursor" not in i for i in infos) and infos[-1]["count"] == "2"


def test_bad_cursors_and_limits(store):
    acct = store.config.account_id
    res, info = store.query(acct, {**ALL, "limit": "2"})
    for bad in ("%%%", "bm90IGpzb24", encode_cursor((parse_time(T), 0), "asc")):
        with pytest.raises(QueryError, match="cursor"):
            store.query(acct, {**ALL, "cursor": bad})
    assert decode_cursor(info["cursor"], "desc")[0] == parse_time("2026-11-22T10:00:01.5Z")
    for params in ({"limit": "0"}, {"limit": "1001"}, {"direction": "sideways"},
                   {"since": "yesterday"}):
        with pytest.raises(QueryError):
            store.query(acct, {**ALL, **params})


def test_filters(make_config):
    s = AuditV2Store(make_config(audit_v2_initial_events=500))
    acct = s.config.account_id
    every = {**ALL, "limit": "1000"}
    creates = s.query(acct, {**every, "action_type": "create"})[0]
    assert creates and all(e["action"]["type"] == "create" for e in creates)
    not_users = s.query(acct, {**every, "actor_type.not": "user"})[0]
    assert not_users and all(e["actor"]["type"] != "user" for e in not_users)
    some = s.events()[9]
    assert s.query(acct, {**every, "id": some["id"]})[0] == [some]
    assert s.query(acct, {**every, "raw_status_code": str(some["raw"]["status_code"]),
                          "id": some["id"]})[0] == [some]


def test_http_paging_while_events_arrive(serve, clock):
    async def scenario(sim, c):
        url = PATH.format(sim.config.account_id)
        r = await c.get(url, params={"since": "2026-11-22", "before": "2026-11-23"})
        body = r.json()
        assert r.status_code == 200 and body["success"] and body["result_info"]["count"] == "100"
        assert isinstance(body["result_info"]["cursor"], str) and body["result_info"]["cursor"]
        truth = (await c.get(f"{sim.admin_url}/audit_logs_v2")).json()
        before = "2026-11-22T20:19:49Z"
        params = {"since": "2026-11-22", "before": before, "direction": "desc", "limit": 33}
        seen = []
        while True:
            r = await c.get(url, params=params)
            seen += r.json()["result"]
            clock.advance(0.01)  # newer arrivals never shift a desc cursor
            await c.post(f"{sim.admin_url}/generate", json={"n": 5, "feed": "audit_logs_v2"})
            params["cursor"] = r.json()["result_info"]["cursor"]
            if not params["cursor"]:
                break
        assert seen == [e for e in truth if parse_time(e["action"]["time"]) < parse_time(
            before)][::-1]
        assert len(seen) == 250

    serve(scenario, audit_v2_initial_events=250, history_s=3600)


def test_http_required_params_and_style_switches(serve):
    async def scenario(sim, c):
        url = PATH.format(sim.config.account_id)
        r = await c.get(url, params={"since": "2026-11-22"})
        body = r.json()
        assert r.status_code == 400 and body["success"] is False and body["result"] is None
        assert "before is required" in body["errors"][0]["error_chain"][0]["message"]
        r = await c.get(url, params={**ALL, "limit": 4, "cursor_style": "after"})
        assert set(r.json()["result_info"]) == {"count", "cursors"}
        assert (await c.post(f"{sim.admin_url}/options",
                             json={"audit_v2_cursor_style": "after"})).status_code == 200
        r = await c.get(url, params={**ALL, "limit": 1000})
        assert r.json()["result_info"] == {"count": "20", "cursors": {}}
        r = await c.get(url, params={**ALL, "cursor_style": "cursor", "limit": 1000})
        assert r.json()["result_info"] == {"count": "20", "cursor": ""}
        r = await c.get(url, params={**ALL, "cursor_style": "links"})
        assert r.status_code == 400
        assert (await c.post(f"{sim.admin_url}/options",
                             json={"audit_v2_cursor_style": "x"})).status_code == 400

    serve(scenario, audit_v2_initial_events=20)


def test_config_cursor_style_after(serve):
    async def scenario(sim, c):
        r = await c.get(PATH.format(sim.config.account_id), params={**ALL, "limit": 5})
        assert r.json()["result_info"]["cursors"]["after"]

    serve(scenario, audit_v2_cursor_style="after")


def test_live_arrivals_on_the_new_feeds(make_config):
    cfg = make_config(initial_events=0, access_initial_events=0, audit_v2_initial_events=0,
                      events_per_second=40.0, clock=lambda: datetime.now(UTC))

    async def body():
        async with run_sim(cfg) as sim:
            await asyncio.sleep(0.6)
            st = sim.state
            sizes = [len(st.access_requests.events()), len(st.audit_v2.events())]
            assert all(5 <= n <= 60 for n in sizes), sizes
            for feed in (st.access_requests, st.audit_v2):
                feed.events_per_second = 0
            await asyncio.sleep(0.3)
            paused = [len(st.access_requests.events()), len(st.audit_v2.events())]
            await asyncio.sleep(0.3)
            assert [len(st.access_requests.events()), len(st.audit_v2.events())] == paused

    asyncio.run(body())
