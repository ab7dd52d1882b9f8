"""sim_thread(): the simulator on a background thread, for synchronous callers."""

from __future__ import annotations

import httpx

from sim import SimConfig, sim_thread


def test_sim_thread_serves_and_stops():
    cfg = SimConfig(initial_events=30, events_per_second=0)
    with sim_thread(cfg) as sim:
        r = httpx.get(f"{sim.base_url}/accounts/{cfg.account_id}/audit_logs",
                      params={"direction": "asc", "per_page": 1000},
                      headers={"Authorization": f"Bearer {cfg.api_token}"})
        assert r.status_code == 200 and r.json()["result_info"]["total_count"] == 30
        truth = httpx.get(f"{sim.admin_url}/audit_logs").json()
        assert [e["id"] for e in truth] == [e["id"] for e in r.json()["result"]]
    try:
        httpx.get(f"{sim.admin_url}/health", timeout=1)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("simulator still serving after the with block")
