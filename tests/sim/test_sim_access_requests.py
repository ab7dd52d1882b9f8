"""Zero Trust Access authentication logs: shape, bounds, ties, truncation, paging (facts §3)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections import Counter

import pytest

from sim.access_requests import FIELDS, AccessRequestStore
from sim.store import QueryError
from sim.timeutil import parse_time

PATH = "/accounts/{}/access/logs/access_requests"
T = "2026-11-22T10:00:01.5Z"


def _rec(i: int, created_at: str) -> dict:
    return {"action": "login", "allowed": True, "app_domain": "a.example.com",
            "app_uid": str(uuid.UUID(int=i, version=4)), "connection": "saml",
            "created_at": created_at, "ip_address": "198.51.100.7",
            "ray_id": f"{i:016x}", "user_email": f"u{i}@example.com"}


def _key(r: dict) -> tuple:
    return (r["ray_id"], r["created_at"], r["action"], r["user_email"])


def _n(recs: list[dict]) -> list[int]:
    return [int(r["ray_id"], 16) for r in recs]


@pytest.fixture
def store(make_config):
    s = AccessRequestStore(make_config(access_initial_events=0))
    s.add([_rec(1, "2026-11-22T10:00:00.25Z"), _rec(2, T), _rec(3, T),
           _rec(4, "2026-11-22T10:00:01.500001Z"), _rec(5, T), _rec(6, "2026-11-22T10:00:03.1Z")])
    return s


def test_record_shape_ties_and_determinism(make_config):
    a = AccessRequestStore(make_config(access_initial_events=600)).events()
    assert a == AccessRequestStore(make_config(access_initial_events=600)).events()
    assert len(a) == 600
    for r in a:
        assert tuple(sorted(r)) == tuple(sorted(FIELDS)) and "id" not in r
        assert r["action"] in ("login", "logout") and isinstance(r["allowed"], bool)
        assert str(uuid.UUID(r["app_uid"])) == r["app_uid"]
        assert re.fullmatch(r"[0-9a-f]{16}", r["ray_id"])
        ipaddress.ip_address(r["ip_address"])
        assert "@" in r["user_email"] and r["app_domain"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", r["created_at"])
    assert sum("." in r["created_at"] for r in a) > 590
    assert {r["connection"] for r in a} >= {"saml", "onetimepin", "azureAD", "okta"}
    assert any(":" in r["ip_address"] for r in a) and {r["action"] for r in a} == {
        "login", "logout"}
    assert max(Counter(r["created_at"] for r in a).values()) >= 2  # ties
    times = [parse_time(r["created_at"]) for r in a]
    assert times == sorted(times)
    assert len({_key(r) for r in a}) == len(a)  # the facts' dedup key is unique here


def test_since_inclusive_until_exclusive_with_ties(store):
    acct = store.config.account_id
    q = lambda **p: _n(store.query(acct, {"direction": "asc", **p}).result)  # noqa: E731
    assert q(since=T) == [2, 3, 5, 4, 6]
    assert q(until=T) == [1]
    assert q(since=T, until="2026-11-22T10:00:01.500001Z") == [2, 3, 5]
    assert q(since="2026-11-22T11:00:01.5+01:00", until="2026-11-22T10:00:03.1Z") == [2, 3, 5, 4]
    assert _n(store.query(acct, {}).result) == [6, 4, 5, 3, 2, 1]  # default desc, exact reverse


def test_limit_truncates_and_paging(store):
    acct = store.config.account_id
    page = store.query(acct, {"direction": "asc", "limit": "2"})
    assert _n(page.result) == [1, 2]
    assert page.result_info == {"page": 1, "per_page": 2, "count": 2, "total_count": 6}
    p2 = store.query(acct, {"direction": "asc", "per_page": "4", "page": "2", "limit": "1"})
    assert _n(p2.result) == [4, 6]  # limit is ignored once page/per_page are given
    assert p2.result_info == {"page": 2, "per_page": 4, "count": 2, "total_count": 6}
    assert store.query(acct, {"page": "3", "per_page": "4"}).result == []


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "1001"}, {"per_page": "1001"}, {"page": "0"}, {"per_page": "x"},
    {"direction": "up"}, {"since": "today"}, {"until": "2026-13-01T00:00:00Z"},
    {"email": "a", "emailOp": "like"}, {"allowed": "true", "allowedOp": "gt"},
])
def test_invalid_params(store, params):
    with pytest.raises(QueryError):
        store.query(store.config.account_id, params)


def test_filters(make_config):
    s = AccessRequestStore(make_config(access_initial_events=400))
    acct = s.config.account_id
    every = {"per_page": "1000"}
    email = s.events()[0]["user_email"]
    exact = s.query(acct, {**every, "email": email.upper(), "email_exact": "true"}).result
    assert exact and {r["user_email"] for r in exact} == {email}
    assert s.query(acct, {**every, "email": email, "emailOp": "eq"}).result == exact
    neq = s.query(acct, {**every, "email": email, "emailOp": "neq"}).result
    assert len(neq) + len(exact) == 400 and email not in {r["user_email"] for r in neq}
    sub = s.query(acct, {**every, "email": "@partner."}).result
    assert sub and all("@partner." in r["user_email"] for r in sub)
    denied = s.query(acct, {**every, "allowed": "false"}).result
    assert denied and not any(r["allowed"] for r in denied)
    okta = s.query(acct, {**every, "idp": "okta", "idpOp": "neq"}).result
    assert okta and all(r["connection"] != "okta" for r in okta)


def test_http_default_truncation_and_paging_to_the_end(serve):
    async def scenario(sim, c):
        acct = sim.config.account_id
        r = await c.get(PATH.format(acct))
        body = r.json()
        assert r.status_code == 200 and body["success"] is True and body["errors"] == []
        assert len(body["result"]) == 25
        assert body["result_info"] == {"page": 1, "per_page": 25, "count": 25,
                                       "total_count": 130}
        truth = (await c.get(f"{sim.admin_url}/access_requests")).json()
        assert len(truth) == 130 and body["result"] == truth[::-1][:25]
        seen, page = [], 1
        while True:  # XSOAR style: asc, page/per_page, stop on a short page
            r = await c.get(PATH.format(acct), params={"direction": "asc", "per_page": 30,
                                                       "page": page})
            chunk = r.json()["result"]
            seen += chunk
            if len(chunk) < 30:
                break
            page += 1
            # arrivals during paging land at the end (clock >= every created_at)
            await c.post(f"{sim.admin_url}/generate", json={"n": 3, "feed": "access_requests"})
        truth = (await c.get(f"{sim.admin_url}/access_requests")).json()
        assert seen == truth and len(truth) == 130 + 3 * (page - 1)

    serve(scenario, access_initial_events=130)


def test_http_since_cursor_polling_with_ties(serve, clock):
    async def scenario(sim, c):
        acct = sim.config.account_id
        got: dict[tuple, dict] = {}
        since = None
        for _ in range(6):
            await c.post(f"{sim.admin_url}/generate",
                         json={"n": 7, "ties": 3, "feed": "access_requests"})
            clock.advance(0.5)  # fewer ties per instant than `limit`, or a since-cursor stalls
            while True:
                params = {"direction": "asc", "limit": 4}
                if since:
                    params["since"] = since
                r = await c.get(PATH.format(acct), params=params)
                res = r.json()["result"]
                new = [x for x in res if _key(x) not in got]
                got.update((_key(x), x) for x in res)
                if res:
                    since = res[-1]["created_at"]  # inclusive: boundary re-fetched, deduped
                if not new:
                    break
        truth = (await c.get(f"{sim.admin_url}/access_requests")).json()
        assert sorted(got) == sorted(_key(x) for x in truth) and len(truth) == 42 + 10

    serve(scenario, access_initial_events=10)


def test_http_errors(serve):
    async def scenario(sim, c):
        url = PATH.format(sim.config.account_id)
        r = await c.get(url, params={"per_page": 1001})
        err = r.json()["errors"][0]
        assert r.status_code == 400 and err["code"] == 6008
        assert err["error_chain"][0]["code"] == 11000 and r.json()["result"] is None
        assert (await c.get(PATH.format("f" * 32))).status_code == 403
        assert (await c.get(url, headers={"Authorization": "Bearer " + "Z" * 40})).json()[
            "errors"][0]["code"] == 10000

    serve(scenario)
