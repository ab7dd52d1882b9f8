"""Credential checks: one case per Cloudflare error code and HTTP status (facts §0, §7, §8)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sim import SimConfig, run_sim
from sim.config import DEFAULT_ACCOUNT_TOKEN, DEFAULT_API_TOKEN, DEFAULT_GLOBAL_KEY

ACCT = SimConfig().account_id
OTHER = "f" * 32
EMAIL = SimConfig().email
UNKNOWN_TOKEN = "Z" * 40
LOGS = f"/accounts/{ACCT}/audit_logs"


def bearer(v: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {v}"}


def key(email: str, k: str) -> dict[str, str]:
    return {"X-Auth-Email": email, "X-Auth-Key": k}


CASES = [
    # (id, path, headers, status, code, chain codes)
    ("token ok", LOGS, bearer(DEFAULT_API_TOKEN), 200, None, []),
    ("account token ok", LOGS, bearer(DEFAULT_ACCOUNT_TOKEN), 200, None, []),
    ("global key ok", LOGS, key(EMAIL, DEFAULT_GLOBAL_KEY), 200, None, []),
    ("user audit ok", "/user/audit_logs", bearer(DEFAULT_API_TOKEN), 200, None, []),
    ("no credentials", LOGS, {}, 400, 9106, []),
    ("global key as bearer", LOGS, bearer(DEFAULT_GLOBAL_KEY), 400, 6003, [6111]),
    ("bearer too short", LOGS, bearer("abc"), 400, 6003, [6111]),
    ("bearer bad chars", LOGS, bearer("!" * 40), 400, 6003, [6111]),
    ("not bearer scheme", LOGS, {"Authorization": f"Token {DEFAULT_API_TOKEN}"}, 400, 6003, [6111]),
    ("cfk_ key as bearer", LOGS, bearer("cfk_" + "a" * 48), 400, 6003, [6111]),
    ("token as key", LOGS, key(EMAIL, DEFAULT_API_TOKEN), 400, 6003, [6103]),
    ("bad email", LOGS, key("not-an-email", DEFAULT_GLOBAL_KEY), 400, 6003, [6102]),
    ("bad email and key", LOGS, key("nope", "short"), 400, 6003, [6102, 6103]),
    ("key without email", LOGS, {"X-Auth-Key": DEFAULT_GLOBAL_KEY}, 400, 6003, [6102]),
    ("unknown token", LOGS, bearer(UNKNOWN_TOKEN), 403, 10000, []),
    ("unknown key", LOGS, key(EMAIL, "0" * 37), 403, 9103, []),
    ("unknown email", LOGS, key("x@example.org", DEFAULT_GLOBAL_KEY), 403, 9103, []),
    ("other account", f"/accounts/{OTHER}/audit_logs", bearer(DEFAULT_API_TOKEN), 403, 9109, []),
    ("malformed account", "/accounts/nope/audit_logs", bearer(DEFAULT_API_TOKEN), 400, 7003, []),
    ("account token on user logs", "/user/audit_logs", bearer(DEFAULT_ACCOUNT_TOKEN), 403, 10000,
     []),
    ("unknown route", "/zones", bearer(DEFAULT_API_TOKEN), 404, 7000, []),
    # token verify (§7)
    ("verify user ok", "/user/tokens/verify", bearer(DEFAULT_API_TOKEN), 200, None, []),
    ("verify unknown", "/user/tokens/verify", bearer(UNKNOWN_TOKEN), 401, 1000, []),
    ("verify cfat on user", "/user/tokens/verify", bearer(DEFAULT_ACCOUNT_TOKEN), 401, 1000, []),
    ("verify global key", "/user/tokens/verify", key(EMAIL, DEFAULT_GLOBAL_KEY), 400, 1001, []),
    ("verify nothing", "/user/tokens/verify", {}, 400, 1001, []),
    ("verify malformed", "/user/tokens/verify", bearer(DEFAULT_GLOBAL_KEY), 400, 6003, [6111]),
    ("verify account ok", f"/accounts/{ACCT}/tokens/verify", bearer(DEFAULT_ACCOUNT_TOKEN), 200,
     None, []),
    ("verify account user token", f"/accounts/{ACCT}/tokens/verify", bearer(DEFAULT_API_TOKEN),
     401, 1000, []),
    ("verify account wrong id", f"/accounts/{OTHER}/tokens/verify",
     bearer(DEFAULT_ACCOUNT_TOKEN), 401, 1000, []),
]


def _run(path: str, headers: dict[str, str]) -> httpx.Response:
    async def body() -> httpx.Response:
        async with run_sim(SimConfig(initial_events=5, events_per_second=0)) as sim:
            async with httpx.AsyncClient(base_url=sim.base_url) as c:
                return await c.get(path, headers=headers)

    return asyncio.run(body())


@pytest.mark.parametrize(("path", "headers", "status", "code", "chain"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_auth_case(path, headers, status, code, chain):
    r = _run(path, headers)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"success", "errors", "messages", "result"}
    if code is None:
        assert body["success"] is True and body["errors"] == []
        return
    assert body["success"] is False and body["result"] is None
    (err,) = body["errors"]
    assert err["code"] == code
    assert [e["code"] for e in err.get("error_chain", [])] == chain


def test_verify_success_shape():
    r = _run("/user/tokens/verify", bearer(DEFAULT_API_TOKEN))
    body = r.json()
    assert body["result"]["status"] == "active" and body["result"]["id"]
    assert body["messages"] == [{"code": 10000, "message": "This API Token is valid and active",
                                 "type": None}]


def test_error_messages():
    assert _run(LOGS, bearer(DEFAULT_GLOBAL_KEY)).json()["errors"][0] == {
        "code": 6003, "message": "Invalid request headers",
        "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}]}
    assert _run(LOGS, bearer(UNKNOWN_TOKEN)).json()["errors"][0]["message"] == (
        "Authentication error")
    assert _run("/user/tokens/verify", {}).json()["errors"][0]["message"] == (
        'Missing "Authorization" header')
    assert _run("/nope", {}).json()["errors"][0]["message"] == "No route for that URI"


def test_default_credentials_have_the_documented_formats():
    cfg = SimConfig()
    assert len(cfg.api_token) == 40 and cfg.api_token.isalnum()
    assert cfg.api_token.startswith("cfsimtoken")
    assert 37 <= len(cfg.global_key) <= 45
    assert all(ch in "0123456789abcdef" for ch in cfg.global_key)
    assert cfg.account_token.startswith("cfat_") and len(cfg.account_token) > 45
