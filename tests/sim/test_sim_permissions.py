"""Per-token permissions (facts §0 table), /user/audit_logs parity (§1), CLI and admin knobs."""

from __future__ import annotations

import pytest

from sim import perms
from sim.__main__ import _limited, build_parser
from sim.config import DEFAULT_ACCOUNT_TOKEN, DEFAULT_GLOBAL_KEY, SimConfig

ACCT = SimConfig().account_id
LIMITED = "L" * 40
LIMITED_AT = "cfat_" + "q" * 40 + "0badc0de"
ENDPOINTS = {
    "audit_v1": f"/accounts/{ACCT}/audit_logs",
    "user_audit": "/user/audit_logs",
    "audit_v2": f"/accounts/{ACCT}/logs/audit?since=2026-01-01&before=2027-01-01",
    "members": f"/accounts/{ACCT}/members",
    "access_requests": f"/accounts/{ACCT}/access/logs/access_requests",
    "access_users": f"/accounts/{ACCT}/access/users",
}
GRANTS = [
    ([], set()),
    ([perms.ACCOUNT_SETTINGS_READ], {"audit_v1", "user_audit", "audit_v2", "members"}),
    (["account_settings_write"], {"audit_v1", "user_audit", "audit_v2", "members"}),
    ([perms.SCIM_PROVISIONING], {"members"}),
    ([perms.ACCESS_AUDIT_LOGS_READ], {"access_requests"}),
    (["access_organizations_identity_providers_and_groups_read"], {"access_users"}),
    ([perms.ACCESS_ORGS_WRITE, perms.LOGS_READ], {"access_users"}),
    (list(perms.ALL), set(ENDPOINTS)),
]


@pytest.mark.parametrize(("granted", "allowed"), GRANTS)
def test_limited_user_token(serve, granted, allowed):
    async def scenario(sim, c):
        h = {"Authorization": f"Bearer {LIMITED}"}
        for name, path in ENDPOINTS.items():
            r = await c.get(path, headers=h)
            if name in allowed:
                assert r.status_code == 200, (name, r.text)
            else:
                assert r.status_code == 403, (name, r.text)
                assert r.json()["errors"] == [{"code": 10000, "message": "Authentication error"}]
                assert r.json()["success"] is False and r.json()["result"] is None
                assert "x-ratelimit-remaining" in r.headers  # counted like any other call
        r = await c.get("/user/tokens/verify", headers=h)  # verify ignores permissions
        assert r.status_code == 200 and r.json()["result"]["status"] == "active"
        for name, path in ENDPOINTS.items():  # the default credentials hold everything
            assert (await c.get(path)).status_code == 200, name
            key = {"X-Auth-Email": sim.config.email, "X-Auth-Key": DEFAULT_GLOBAL_KEY}
            assert (await c.get(path, headers=key)).status_code == 200, name

    serve(scenario, limited_tokens={LIMITED: frozenset(granted)})


def test_limited_account_token_and_main_token(serve):
    async def scenario(sim, c):
        h = {"Authorization": f"Bearer {LIMITED_AT}"}
        r = await c.get(f"/accounts/{ACCT}/tokens/verify", headers=h)
        assert r.status_code == 200
        assert (await c.get("/user/tokens/verify", headers=h)).status_code == 401
        assert (await c.get(ENDPOINTS["access_requests"], headers=h)).status_code == 200
        assert (await c.get(ENDPOINTS["members"], headers=h)).status_code == 403
        # restricting the configured api_token itself
        assert (await c.get(ENDPOINTS["members"])).status_code == 200
        assert (await c.get(ENDPOINTS["audit_v1"])).status_code == 403
        assert (await c.get("/user/tokens/verify")).status_code == 200
        at = {"Authorization": f"Bearer {DEFAULT_ACCOUNT_TOKEN}"}
        assert (await c.get(ENDPOINTS["audit_v1"], headers=at)).status_code == 200

    cfg = SimConfig()
    serve(scenario, limited_tokens={LIMITED_AT: frozenset({perms.ACCESS_AUDIT_LOGS_READ}),
                                    cfg.api_token: frozenset({perms.SCIM_PROVISIONING})})


def test_permission_checked_after_account(serve):
    async def scenario(sim, c):
        h = {"Authorization": f"Bearer {LIMITED}"}
        r = await c.get(f"/accounts/{'f' * 32}/members", headers=h)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == 9109
        r = await c.get("/accounts/nope/members", headers=h)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == 7003

    serve(scenario, limited_tokens={LIMITED: frozenset()})


def test_admin_limited_tokens(serve):
    async def scenario(sim, c):
        h = {"Authorization": f"Bearer {LIMITED}"}
        assert (await c.get(ENDPOINTS["members"], headers=h)).status_code == 403  # unknown
        r = await c.post(f"{sim.admin_url}/limited_tokens",
                         json={LIMITED: [perms.ACCOUNT_SETTINGS_READ]})
        assert r.json() == {LIMITED: [perms.ACCOUNT_SETTINGS_READ]}
        assert (await c.get(ENDPOINTS["members"], headers=h)).status_code == 200
        assert (await c.get(ENDPOINTS["access_users"], headers=h)).status_code == 403
        cfg = (await c.get(f"{sim.admin_url}/config")).json()
        assert cfg["limited_tokens"] == {LIMITED: [perms.ACCOUNT_SETTINGS_READ]}
        r = await c.post(f"{sim.admin_url}/limited_tokens", json={LIMITED: None})
        assert r.json() == {}
        assert (await c.get(ENDPOINTS["members"], headers=h)).status_code == 403
        r = await c.post(f"{sim.admin_url}/limited_tokens", json={LIMITED: "all"})
        assert r.status_code == 400

    serve(scenario)


def test_parse_limited_token_and_cli():
    assert perms.slug(perms.ACCESS_ORGS_READ) == (
        "access_organizations_identity_providers_and_groups_read")
    assert perms.parse_limited_token("T=a,b") == ("T", frozenset({"a", "b"}))
    assert perms.parse_limited_token(f"T={perms.ACCESS_ORGS_READ};Logs Read") == (
        "T", frozenset({perms.ACCESS_ORGS_READ, "Logs Read"}))
    assert perms.parse_limited_token("T=") == ("T", frozenset())
    with pytest.raises(ValueError, match="TOKEN="):
        perms.parse_limited_token("no-equals")
    parser = build_parser()
    args = parser.parse_args(["--limited-token", f"{LIMITED}=account_settings_read",
                              "--limited-token", f"{LIMITED_AT}=",
                              "--audit-v2-cursor-style", "after"])
    assert _limited(parser, args.limited_token) == {
        LIMITED: frozenset({"account_settings_read"}), LIMITED_AT: frozenset()}
    assert args.audit_v2_cursor_style == "after"
    with pytest.raises(SystemExit):
        _limited(parser, ["short=logs_read"])
    assert perms.allows(None, ["x"]) and not perms.allows(frozenset(), ["x"])


USER_PARAMS = [
    {}, {"direction": "asc", "per_page": "7", "page": "3"},
    {"since": "2026-11-22T18:00:00Z", "before": "2026-11-22T20:00:00Z", "direction": "asc"},
    {"action.type": "login", "per_page": "1000"}, {"actor.ip": "2001:db8::/32"},
    {"hide_user_logs": "true", "per_page": "1000"}, {"zone.name": "example.com"},
    {"per_page": "1001"}, {"direction": "up"}, {"since": "yesterday"},
]


def test_user_audit_logs_takes_the_account_endpoints_params(serve):
    async def scenario(sim, c):
        for params in USER_PARAMS:
            a = await c.get(f"/accounts/{ACCT}/audit_logs", params=params)
            u = await c.get("/user/audit_logs", params=params)
            assert (u.status_code, u.json()) == (a.status_code, a.json()), params
        some = (await c.get(f"{sim.admin_url}/audit_logs")).json()[11]
        r = await c.get("/user/audit_logs", params={"id": some["id"]})
        assert r.json()["result"] == [some]

    serve(scenario, initial_events=300)


def test_admin_feed_params(serve):
    async def scenario(sim, c):
        health = (await c.get(f"{sim.admin_url}/health")).json()
        assert health["events"] == 10 and health["access_requests"] == 11
        assert health["audit_logs_v2"] == 12 and health["members"] == 24
        assert health["access_users"] == 40
        r = await c.post(f"{sim.admin_url}/generate", json={"n": 3, "feed": "audit_logs_v2"})
        assert r.json()["created"] == 3 and len(sim.state.audit_v2.events()) == 15
        r = await c.post(f"{sim.admin_url}/generate", json={"n": 3, "feed": "nope"})
        assert r.status_code == 400
        rec = {"action": "logout", "allowed": True, "app_domain": "x", "app_uid": "u",
               "connection": "okta", "created_at": "2026-11-22T20:00:00.5Z",
               "ip_address": "192.0.2.1", "ray_id": "0123456789abcdef", "user_email": "a@b.c"}
        r = await c.post(f"{sim.admin_url}/events", json={"events": [rec],
                                                          "feed": "access_requests"})
        assert r.json() == {"added": 1}
        assert rec in (await c.get(f"{sim.admin_url}/access_requests")).json()
        r = await c.post(f"{sim.admin_url}/live", json={"events_per_second": 7,
                                                        "feed": "access_requests"})
        assert r.json() == {"events_per_second": 7.0}
        st = sim.state
        assert (st.access_requests.events_per_second, st.store.events_per_second) == (7, 0)
        await c.post(f"{sim.admin_url}/live", json={"events_per_second": 2})
        assert {st.store.events_per_second, st.audit_v2.events_per_second,
                st.access_requests.events_per_second} == {2}
        await c.post(f"{sim.admin_url}/live", json={"events_per_second": 0})

    serve(scenario, initial_events=10, access_initial_events=11, audit_v2_initial_events=12)
