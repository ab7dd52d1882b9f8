"""Query semantics of the audit log endpoint: since/before, direction, pagination."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sim import EventStore, QueryError, run_sim
from sim.timeutil import parse_time


def _ev(i: int, when: str) -> dict:
    return {"id": f"00000000-0000-4000-8000-{i:012d}", "action": {"type": "login", "result": True},
            "actor": {"id": "1", "type": "system"}, "when": when}


@pytest.fixture
def store(make_config):
    s = EventStore(make_config(initial_events=0))
    s.add([
        _ev(1, "2026-11-22T10:00:00Z"),
        _ev(2, "2026-11-22T10:00:01Z"),
        _ev(3, "2026-11-22T10:00:01Z"),  # tie with 2
        _ev(4, "2026-11-22T10:00:01.5Z"),
        _ev(5, "2026-11-22T10:00:01.480205Z"),  # inserted later, sorts before 4
        _ev(6, "2026-11-22T10:00:01Z"),  # tie with 2 and 3, inserted last
        _ev(7, "2026-11-22T10:00:03Z"),
    ])
    return s


def _ids(page) -> list[int]:
    return [int(r["id"][-12:]) for r in page.result]


def test_since_is_inclusive(store):
    params = {"since": "2026-11-22T10:00:01Z", "direction": "asc"}
    page = store.query(store.config.account_id, params)
    assert _ids(page) == [2, 3, 6, 5, 4, 7]


def test_before_is_exclusive(store):
    params = {"before": "2026-11-22T10:00:01Z", "direction": "asc"}
    page = store.query(store.config.account_id, params)
    assert _ids(page) == [1]


def test_real_instants_not_strings(store):
    # as strings "...01.5Z" < "...01Z"; as instants 01.5 > 01
    page = store.query(store.config.account_id,
                       {"since": "2026-11-22T10:00:01.480206Z",
                        "before": "2026-11-22T12:00:03+02:00", "direction": "asc"})
    assert _ids(page) == [4]
    page = store.query(store.config.account_id, {"since": "2026-11-22T10:00:01.480205000Z"})
    assert _ids(page) == [7, 4, 5]


def test_full_date_and_offsets(store):
    acct = store.config.account_id
    assert store.query(acct, {"since": "2026-11-22"}).result_info["total_count"] == 7
    assert store.query(acct, {"since": "2026-11-23"}).result_info["total_count"] == 0
    assert _ids(store.query(acct, {"since": "2026-11-22T11:00:02+01:00"})) == [7]


def test_directions_are_exact_reverses_with_stable_ties(store):
    acct = store.config.account_id
    asc = _ids(store.query(acct, {"direction": "asc"}))
    assert asc == [1, 2, 3, 6, 5, 4, 7]
    assert _ids(store.query(acct, {})) == asc[::-1]  # default desc
    assert _ids(store.query(acct, {"direction": "asc"})) == asc  # repeatable


def test_pagination_result_info(store):
    acct = store.config.account_id
    p2 = store.query(acct, {"direction": "asc", "per_page": "3", "page": "2"})
    assert _ids(p2) == [6, 5, 4]
    assert p2.result_info == {"page": 2, "per_page": 3, "count": 3, "total_count": 7,
                              "total_pages": 3}
    p3 = store.query(acct, {"direction": "asc", "per_page": "3", "page": "3"})
    assert _ids(p3) == [7] and p3.result_info["count"] == 1
    p9 = store.query(acct, {"per_page": "3", "page": "9"})
    assert p9.result == [] and p9.result_info["total_pages"] == 3
    empty = store.query("f" * 32, {})
    assert empty.result_info == {"page": 1, "per_page": 100, "count": 0, "total_count": 0,
                                 "total_pages": 0}


@pytest.mark.parametrize("params", [
    {"per_page": "0"}, {"per_page": "1001"}, {"per_page": "x"}, {"page": "0"},
    {"direction": "up"}, {"since": "yesterday"}, {"before": "2026-13-01"},
])
def test_invalid_params(store, params):
    with pytest.raises(QueryError):
        store.query(store.config.account_id, params)


def test_per_page_bounds_over_http(make_config):
    cfg = make_config(initial_events=1200)

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            h = {"Authorization": f"Bearer {cfg.api_token}"}
            url = f"/accounts/{cfg.account_id}/audit_logs"
            r = await c.get(url, headers=h)
            assert r.status_code == 200 and r.json()["result_info"]["per_page"] == 100
            assert len(r.json()["result"]) == 100
            r = await c.get(url, params={"per_page": 1000}, headers=h)
            assert r.status_code == 200 and len(r.json()["result"]) == 1000
            r = await c.get(url, params={"per_page": 1001}, headers=h)
            assert r.status_code == 400
            err = r.json()["errors"][0]
            assert err["code"] == 6008 and err["error_chain"][0]["code"] == 11000
            assert "between 1 and 1000" in err["error_chain"][0]["message"]
            assert r.json()["success"] is False and r.json()["result"] is None
            r = await c.get(url, params={"per_page": 0}, headers=h)
            assert r.status_code == 400
            cfg.per_page_over_max = "clamp"
            r = await c.get(url, params={"per_page": 5000}, headers=h)
            assert r.status_code == 200 and r.json()["result_info"]["per_page"] == 1000

    asyncio.run(body())


def test_filters(make_config):
    store = EventStore(make_config(initial_events=300))
    acct = store.config.account_id
    some = store.events()[17]
    assert _ids_of(store.query(acct, {"id": some["id"]})) == [some["id"]]
    logins = store.query(acct, {"action.type": "login", "per_page": "1000"}).result
    assert logins and all(r["action"]["type"] == "login" for r in logins)
    v6 = store.query(acct, {"actor.ip": "2001:db8::/32", "per_page": "1000"}).result
    assert v6 and all(":" in r["actor"]["ip"] for r in v6)


def _ids_of(page) -> list[str]:
    return [r["id"] for r in page.result]


def test_when_is_parsed_as_an_instant():
    assert parse_time("2026-11-22T10:00:01.5Z") > parse_time("2026-11-22T10:00:01Z")
    assert parse_time("2026-11-22T11:00:01+01:00") == parse_time("2026-11-22T10:00:01Z")
