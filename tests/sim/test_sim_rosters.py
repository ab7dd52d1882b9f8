"""Account members and Zero Trust users: shapes, page pagination, filters, admin mutations."""

from __future__ import annotations

import uuid

import pytest

from sim.access_users import AccessUserRoster
from sim.members import ROLES, MemberRoster
from sim.store import QueryError
from sim.timeutil import parse_time

MEMBERS = "/accounts/{}/members"
USERS = "/accounts/{}/access/users"


def test_member_shape_and_determinism(make_config):
    roster = MemberRoster(make_config()).members()
    assert roster == MemberRoster(make_config()).members() and len(roster) == 24
    assert roster != MemberRoster(make_config(seed=1)).members()
    assert len({m["id"] for m in roster}) == 24 and len({m["email"] for m in roster}) == 24
    assert {m["status"] for m in roster} == {"accepted", "pending"}
    assert roster[0]["roles"][0]["name"] == "Super Administrator - All Privileges"
    for m in roster:
        assert set(m) == {"id", "email", "status", "roles", "policies", "user"}
        assert set(m["user"]) == {"id", "email", "first_name", "last_name",
                                  "two_factor_authentication_enabled"}
        assert m["user"]["email"] == m["email"]
        for r in m["roles"]:
            assert set(r) == {"id", "name", "description", "permissions"}
            assert r["name"] in ROLES and set(r["permissions"]["dns"]) == {"read", "write"}
        for p in m["policies"]:
            assert set(p) == {"id", "access", "permission_groups", "resource_groups"}
    assert any(m["policies"] for m in roster)


def test_member_query(make_config):
    r = MemberRoster(make_config())
    acct = r.config.account_id
    first = r.query(acct, {})
    assert len(first.result) == 20
    assert first.result_info == {"page": 1, "per_page": 20, "count": 20, "total_count": 24,
                                 "total_pages": 2}
    pages = [r.query(acct, {"per_page": "5", "page": str(p)}).result for p in range(1, 7)]
    assert [m for p in pages for m in p] == r.members() and pages[-1] == []
    by_email = r.query(acct, {"order": "user.email", "per_page": "50"}).result
    assert [m["email"] for m in by_email] == sorted(m["email"] for m in r.members())
    desc = r.query(acct, {"order": "user.email", "direction": "desc", "per_page": "50"}).result
    assert desc == by_email[::-1]
    pending = r.query(acct, {"status": "pending", "per_page": "50"}).result
    assert pending and all(m["status"] == "pending" for m in pending)
    assert all(m["user"]["first_name"] is None for m in pending)
    by_first = r.query(acct, {"order": "user.first_name", "per_page": "50"}).result
    assert by_first[-len(pending):] == pending  # null names sort last, stable


@pytest.mark.parametrize("params", [
    {"per_page": "4"}, {"per_page": "51"}, {"page": "0"}, {"order": "id"},
    {"status": "gone"}, {"direction": "up"},
])
def test_member_invalid_params(make_config, params):
    r = MemberRoster(make_config())
    with pytest.raises(QueryError):
        r.query(r.config.account_id, params)


def test_member_per_page_clamp(make_config):
    r = MemberRoster(make_config(per_page_over_max="clamp"))
    assert r.query(r.config.account_id, {"per_page": "500"}).result_info["per_page"] == 50


def test_access_user_shape_and_query(make_config, clock):
    r = AccessUserRoster(make_config())
    users = r.users()
    assert users == AccessUserRoster(make_config()).users() and len(users) == 40
    for u in users:
        assert set(u) == {"id", "uid", "email", "name", "access_seat", "gateway_seat",
                          "seat_uid", "active_device_count", "last_successful_login",
                          "created_at", "updated_at"}
        assert str(uuid.UUID(u["id"])) == u["id"] == u["uid"]
        assert isinstance(u["access_seat"], bool) and isinstance(u["active_device_count"], int)
        created, updated = parse_time(u["created_at"]), parse_time(u["updated_at"])
        assert created <= updated <= clock.now
        if u["last_successful_login"] is not None:
            assert created <= parse_time(u["last_successful_login"]) <= clock.now
    assert any(u["last_successful_login"] is None for u in users)
    acct = r.config.account_id
    p = r.query(acct, {})
    assert p.result_info == {"page": 1, "per_page": 25, "count": 25, "total_count": 40,
                             "total_pages": 2}
    pages = [r.query(acct, {"per_page": "7", "page": str(i)}).result for i in range(1, 8)]
    assert [u for pg in pages for u in pg] == users
    u = users[3]
    assert r.query(acct, {"email": u["email"].upper()}).result == [u]
    assert r.query(acct, {"name": u["name"]}).result == [u]
    needle = users[0]["name"].split()[0].lower()
    found = r.query(acct, {"search": needle.upper(), "per_page": "100"}).result
    assert users[0] in found
    assert all(needle in x["email"] or needle in x["name"].lower() for x in found)
    with pytest.raises(QueryError):
        r.query(acct, {"per_page": "1001"})


def test_http_members_and_mutations(serve, clock):
    async def scenario(sim, c):
        url, admin = MEMBERS.format(sim.config.account_id), f"{sim.admin_url}/members"

        async def listed() -> list[dict]:
            out, page = [], 1
            while True:
                body = (await c.get(url, params={"page": page, "per_page": 5})).json()
                out += body["result"]
                if page >= body["result_info"]["total_pages"]:
                    return out
                page += 1

        before = await listed()
        assert before == (await c.get(admin)).json() and len(before) == 24
        gone, promoted = before[3]["email"], before[5]["email"]
        r = await c.post(admin, json={
            "add": ["new.hire@example.com",
                    {"email": "cto@example.com", "role": "Administrator", "status": "accepted",
                     "first_name": "Cee", "last_name": "Tio"}],
            "remove": [gone], "set_role": {promoted: ["Administrator", "Billing"]},
            "set_status": {"new.hire@example.com": "accepted"}})
        assert r.status_code == 200 and r.json() == {"members": 25}
        after = await listed()
        emails = [m["email"] for m in after]
        assert gone not in emails and emails[-2:] == ["new.hire@example.com", "cto@example.com"]
        assert after[-1]["user"]["first_name"] == "Cee"
        assert next(m for m in after if m["email"] == "new.hire@example.com")[
            "status"] == "accepted"
        roles = next(m for m in after if m["email"] == promoted)["roles"]
        assert [x["name"] for x in roles] == ["Administrator", "Billing"]
        for bad in ({"remove": ["nobody@example.com"]}, {"add": [promoted]},
                    {"set_role": {promoted: "Emperor"}}, {"add": ["x@example.com"],
                                                          "set_status": {promoted: "?"}}):
            r = await c.post(admin, json=bad)
            assert r.status_code == 400 and "error" in r.json()
        assert await listed() == after  # failed mutations change nothing

    serve(scenario)


def test_http_access_users_and_mutations(serve, clock):
    async def scenario(sim, c):
        url, admin = USERS.format(sim.config.account_id), f"{sim.admin_url}/access_users"
        body = (await c.get(url, params={"per_page": 1000})).json()
        assert body["success"] and body["result"] == (await c.get(admin)).json()
        users = body["result"]
        clock.advance(60)
        target = users[0]
        r = await c.post(admin, json={
            "add": [{"email": "kiosk@example.com", "name": "Kiosk", "gateway_seat": True}],
            "remove": [users[1]["email"]],
            "set_seat": {target["email"]: {"access_seat": not target["access_seat"],
                                           "gateway_seat": True}}})
        assert r.status_code == 200 and r.json() == {"users": 40}
        now = (await c.get(url, params={"per_page": 1000})).json()["result"]
        changed = next(u for u in now if u["email"] == target["email"])
        assert changed["access_seat"] is not target["access_seat"] and changed["gateway_seat"]
        assert parse_time(changed["updated_at"]) == clock.now
        assert users[1]["email"] not in {u["email"] for u in now}
        kiosk = (await c.get(url, params={"email": "kiosk@example.com"})).json()["result"]
        assert kiosk[0]["access_seat"] and kiosk[0]["gateway_seat"]
        assert kiosk[0]["last_successful_login"] is None
        r = await c.post(admin, json={"set_seat": {"ghost@example.com": {"access_seat": False}}})
        assert r.status_code == 400

    serve(scenario)
