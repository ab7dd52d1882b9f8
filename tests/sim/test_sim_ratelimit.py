"""Rate limiting: budget per credential, 429/971 with Retry-After, block, recovery (facts §8)."""

from __future__ import annotations

import asyncio
from email.utils import parsedate_to_datetime

import httpx

from sim import run_sim


def test_limit_then_block_then_recovery(make_config, clock):
    cfg = make_config(rate_limit=5, rate_window_s=60.0, rate_block_s=30.0)

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            h = {"Authorization": f"Bearer {cfg.api_token}"}
            url = f"/accounts/{cfg.account_id}/audit_logs"
            remaining = []
            for _ in range(5):
                r = await c.get(url, headers=h)
                assert r.status_code == 200
                assert r.headers["x-ratelimit-limit"] == "5"
                remaining.append(int(r.headers["x-ratelimit-remaining"]))
                reset = parsedate_to_datetime(r.headers["x-ratelimit-reset"])
                assert reset.timestamp() == int(clock.now.timestamp()) + 60
            assert remaining == [4, 3, 2, 1, 0]
            r = await c.get(url, headers=h)
            assert r.status_code == 429
            assert r.headers["Retry-After"] == "30"
            assert r.headers["x-ratelimit-remaining"] == "0"
            assert r.json()["errors"] == [
                {"code": 971, "message": "Please wait and consider throttling your request speed"}]
            assert r.json()["success"] is False
            # every call is blocked, the verify endpoint and the global key too (same user)
            clock.advance(10.2)
            r = await c.get("/user/tokens/verify", headers=h)
            assert r.status_code == 429 and r.headers["Retry-After"] == "20"  # rounded up
            kh = {"X-Auth-Email": cfg.email, "X-Auth-Key": cfg.global_key}
            assert (await c.get(url, headers=kh)).status_code == 429
            # an account-owned token has its own budget
            at = {"Authorization": f"Bearer {cfg.account_token}"}
            assert (await c.get(url, headers=at)).status_code == 200
            # bad credentials are rejected before counting
            bad = {"Authorization": f"Bearer {'Q' * 40}"}
            assert (await c.get(url, headers=bad)).status_code == 403
            clock.advance(20)
            r = await c.get(url, headers=h)
            assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "4"

    asyncio.run(body())


def test_window_resets_without_block(make_config, clock):
    cfg = make_config(rate_limit=2, rate_window_s=10.0)

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            h = {"Authorization": f"Bearer {cfg.api_token}"}
            for _ in range(2):
                assert (await c.get("/user/tokens/verify", headers=h)).status_code == 200
            clock.advance(10)
            r = await c.get("/user/tokens/verify", headers=h)
            assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "1"

    asyncio.run(body())


def test_admin_can_change_limits(make_config):
    cfg = make_config()

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient() as c:
            h = {"Authorization": f"Bearer {cfg.api_token}"}
            r = await c.post(f"{sim.admin_url}/rate_limit", json={"limit": 1, "block_s": 5})
            assert r.json() == {"limit": 1, "window_s": 300.0, "block_s": 5.0}
            assert (await c.get(f"{sim.base_url}/user/tokens/verify", headers=h)).status_code == 200
            r = await c.get(f"{sim.base_url}/user/tokens/verify", headers=h)
            assert r.status_code == 429 and r.headers["Retry-After"] == "5"

    asyncio.run(body())


def test_ietf_draft_ratelimit_headers_on_every_answer(make_config, clock):
    """Cloudflare's `Ratelimit` / `Ratelimit-Policy` (changelog 2025-09-03), 429 included."""
    from connector.governor import parse_rate_limit

    cfg = make_config(rate_limit=3, rate_window_s=60.0)

    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            h = {"Authorization": f"Bearer {cfg.api_token}"}
            seen = []
            for _ in range(4):
                r = await c.get(f"/accounts/{cfg.account_id}/audit_logs", headers=h)
                seen.append((r.status_code, r.headers["Ratelimit"], r.headers["Ratelimit-Policy"]))
                quota = parse_rate_limit(r.headers, 0.0)
                assert quota is not None and quota.reset_s > 0
            return seen

    seen = asyncio.run(body())
    assert [s for s, _, _ in seen] == [200, 200, 200, 429]
    assert [h.split(";")[1] for _, h, _ in seen] == ["r=2", "r=1", "r=0", "r=0"]
    assert all(p == '"default";q=3;w=60' for _, _, p in seen)
