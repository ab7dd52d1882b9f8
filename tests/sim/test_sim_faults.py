"""Injected faults: 5xx (envelope and edge HTML), latency, connection reset, 429 storm."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sim import run_sim


def _with_sim(cfg, scenario):
    async def body():
        async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
            await scenario(sim, c, {"Authorization": f"Bearer {cfg.api_token}"})

    asyncio.run(body())


def test_status_fault_envelope_then_normal(make_config):
    async def scenario(sim, c, h):
        r = await c.post(f"{sim.admin_url}/faults", json={"kind": "status", "status": 503,
                                                          "count": 2})
        assert r.json()["pending"][0]["count"] == 2
        for _ in range(2):
            r = await c.get("/user/tokens/verify", headers=h)
            assert r.status_code == 503
            assert r.json()["success"] is False and r.json()["errors"][0]["code"] == 10001
        assert (await c.get("/user/tokens/verify", headers=h)).status_code == 200
        stats = (await c.get(f"{sim.admin_url}/stats")).json()
        assert stats["by_status"] == {"503": 2, "200": 1} and stats["total"] == 3

    _with_sim(make_config(), scenario)


@pytest.mark.parametrize("status", [502, 504])
def test_edge_html_fault(make_config, status):
    async def scenario(sim, c, h):
        await c.post(f"{sim.admin_url}/faults", json={"kind": "status", "status": status})
        r = await c.get("/user/tokens/verify")  # faults come before auth, like the edge
        assert r.status_code == status
        assert r.headers["content-type"].startswith("text/html")
        assert "<center>cloudflare</center>" in r.text

    _with_sim(make_config(), scenario)


def test_path_filter_and_html_body_override(make_config):
    async def scenario(sim, c, h):
        await c.post(f"{sim.admin_url}/faults",
                     json={"kind": "status", "status": 500, "path": "audit_logs", "body": "html"})
        assert (await c.get("/user/tokens/verify", headers=h)).status_code == 200
        r = await c.get(f"/accounts/{sim.config.account_id}/audit_logs", headers=h)
        assert r.status_code == 500 and "500 Internal Server Error" in r.text
        assert (await c.get(f"{sim.admin_url}/faults")).json() == {"pending": []}

    _with_sim(make_config(), scenario)


def test_latency_fault(make_config):
    async def scenario(sim, c, h):
        await c.post(f"{sim.admin_url}/faults", json={"kind": "latency", "latency_s": 0.4})
        start = time.monotonic()
        r = await c.get("/user/tokens/verify", headers=h)
        assert r.status_code == 200 and time.monotonic() - start >= 0.4
        start = time.monotonic()
        await c.get("/user/tokens/verify", headers=h)
        assert time.monotonic() - start < 0.4

    _with_sim(make_config(), scenario)


def test_reset_fault(make_config):
    async def scenario(sim, c, h):
        await c.post(f"{sim.admin_url}/faults", json={"kind": "reset"})
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await c.get("/user/tokens/verify", headers=h)
        assert (await c.get("/user/tokens/verify", headers=h)).status_code == 200
        assert (await c.get(f"{sim.admin_url}/stats")).json()["by_status"]["reset"] == 1

    _with_sim(make_config(), scenario)


def test_rate_limit_storm(make_config):
    async def scenario(sim, c, h):
        await c.post(f"{sim.admin_url}/faults",
                     json={"kind": "rate_limit", "count": 2, "retry_after": 7})
        for _ in range(2):
            r = await c.get(f"/accounts/{sim.config.account_id}/audit_logs", headers=h)
            assert r.status_code == 429 and r.headers["Retry-After"] == "7"
            assert r.json()["errors"][0]["code"] == 971
        assert (await c.get("/user/tokens/verify", headers=h)).status_code == 200

    _with_sim(make_config(), scenario)


def test_bad_fault_requests(make_config):
    async def scenario(sim, c, h):
        for body in ({"kind": "boom"}, {"kind": "status", "count": 0},
                     {"kind": "status", "status": 200}):
            assert (await c.post(f"{sim.admin_url}/faults", json=body)).status_code == 400
        r = await c.delete(f"{sim.admin_url}/faults")
        assert r.json() == {"pending": []}

    _with_sim(make_config(), scenario)
