"""All REST feeds at once through the real broker: each topic gets its exact event set once,
across kill -9 restarts (several feeds share the offsets topic and its transactions)."""

from __future__ import annotations

import random
import secrets
import time

import pytest
from support import Topics, connector_env, duplicates, start_connector, start_sim, wait_until

from connector.feeds import AccessRequests

pytestmark = pytest.mark.e2e

FEEDS = "audit_logs,audit_logs_v2,access_requests"


def _truth(sim):
    return {
        "cloudflare.audit_logs.v1": {e["id"] for e in sim.events()},
        "cloudflare.audit_logs_v2.v1": {
            e["id"] for e in sim.admin(f"audit_logs_v2?account_id={sim.account_id}")
        },
        "cloudflare.access_requests.v1": {
            AccessRequests().key(e)
            for e in sim.admin(f"access_requests?account_id={sim.account_id}")
        },
    }


def _keys(topics, topic):
    return [key.decode() for key, _ in topics.feed(topic)]


def test_all_feeds_exactly_once_across_kill9(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=1500, events_per_second=15)
    env = connector_env(stack, sim, f"e2e-feeds-{secrets.token_hex(3)}", CF_FEEDS=FEEDS,
                        CF_PER_PAGE="15")
    rand = random.Random(5)
    services = [sim.service]
    try:
        for round_ in range(3):
            connector = start_connector(tmp_path, env, f"connector-{round_}")
            services.append(connector)
            connector.wait_for(lambda out: out.count("committed") >= 3, timeout_s=90)
            time.sleep(rand.uniform(0.1, 1.5))  # mostly mid catch-up: 100 pages per feed
            connector.kill()
        connector = start_connector(tmp_path, env, "connector-final")
        services.append(connector)
        time.sleep(3)
        sim.pause()
        truth = _truth(sim)
        assert all(truth.values()), truth.keys()
        topics = Topics(stack, sim.account_id)

        def converged():
            return all(set(_keys(topics, t)) == ids for t, ids in truth.items())

        wait_until(converged, 180, "every feed's topic", [connector, sim.service])
        for topic, ids in truth.items():
            keys = _keys(topics, topic)
            assert not duplicates(keys), f"duplicates in {topic}"
            assert len(keys) == len(ids), topic
    finally:
        for service in reversed(services):
            service.stop()
