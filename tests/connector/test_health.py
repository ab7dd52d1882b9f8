import asyncio

import httpx
from aiohttp.test_utils import TestServer

from connector import metrics
from connector.health import create_app


def _get(status, path):
    async def go():
        server = TestServer(create_app(status))
        await server.start_server()
        try:
            async with httpx.AsyncClient() as client:
                return await client.get(f"http://127.0.0.1:{server.port}{path}")
        finally:
            await server.close()

    return asyncio.run(go())


def test_health_is_ok_while_every_runner_runs_and_503_when_one_died():
    feeds = [{"feed": "audit_logs", "scope": "account:a", "published": 3, "healthy": True}]
    ok = _get(lambda: feeds, "/health")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "feeds": feeds}
    dead = [{**feeds[0], "healthy": False}]
    assert _get(lambda: dead, "/health").status_code == 503


def test_metrics_are_prometheus_text():
    metrics.EVENTS.labels("audit_logs").inc(2)
    response = _get(list, "/metrics")
    assert response.status_code == 200
    assert 'cfkafka_events_total{feed="audit_logs"}' in response.text


def test_a_commit_counts_events_bytes_dead_letters_and_stamps_the_checkpoint_time():
    import time

    metrics.committed("t_feed", "s1", events=3, dead_letters=1, value_bytes=120)
    metrics.committed("t_feed", "s1", events=2, dead_letters=0, value_bytes=80)
    assert metrics.EVENTS.labels("t_feed")._value.get() == 5
    assert metrics.BYTES.labels("t_feed")._value.get() == 200
    assert metrics.DLQ.labels("t_feed")._value.get() == 1
    assert metrics.TRANSACTIONS.labels("t_feed")._value.get() == 2
    assert abs(metrics.LAST_COMMIT.labels("t_feed", "s1")._value.get() - time.time()) < 5
