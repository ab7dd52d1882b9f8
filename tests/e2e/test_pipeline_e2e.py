"""End to end: simulator -> connector -> Kafka + registry -> stream worker, as processes.

Every test uses its own Cloudflare account id (so topics can be shared across tests in one
broker) and asserts against the simulator's ground truth.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter

import pytest
from support import (
    Topics,
    connector_env,
    duplicates,
    start_connector,
    start_sim,
    start_streams,
    streams_env,
    wait_until,
)

pytestmark = pytest.mark.e2e


def _assert_ground_truth_is_interesting(events):
    whens = Counter(e["when"] for e in events)
    assert any(n > 1 for n in whens.values()), "the scenario must contain tied timestamps"
    assert any("." not in w for w in whens), "and second-precision timestamps"
    assert any("." in w for w in whens), "and microsecond-precision timestamps"


def _assert_exactly_once(truth, records, id_field, what):
    ids = [r[id_field] for r in records]
    assert not duplicates(ids), f"duplicates in {what}: {duplicates(ids)}"
    expected = {e["id"] for e in truth}
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} events missing from {what}, e.g. {sorted(missing)[:3]}"
    assert set(ids) == expected, f"unexpected events in {what}: {set(ids) - expected}"


def _converged(topics, truth_ids, siem=True):
    def check():
        raw = {r["id"] for r in topics.raw()}
        if raw != truth_ids:
            return False
        return not siem or {r["event_id"] for r in topics.siem()} == truth_ids
    return check


def test_every_event_once_in_raw_and_siem_topics(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=400, events_per_second=25)
    connector = start_connector(tmp_path, connector_env(stack, sim, f"e2e-{secrets.token_hex(3)}"))
    worker = start_streams(tmp_path, streams_env(stack, tmp_path, f"e2e-{secrets.token_hex(3)}"))
    try:
        time.sleep(8)  # live arrivals while the connector pages through history
        sim.pause()
        truth = sim.events()
        _assert_ground_truth_is_interesting(truth)
        topics = Topics(stack, sim.account_id)
        wait_until(_converged(topics, {e["id"] for e in truth}), 150, "raw and siem topics",
                   [connector, worker, sim.service])
        _assert_exactly_once(truth, topics.raw(), "id", "cloudflare.audit_logs.v1")
        _assert_exactly_once(truth, topics.siem(), "event_id", "siem.audit.v1")
        raw_by_id = {r["id"]: r for r in topics.raw()}
        for event in truth:  # the value survives: time exactly as sent, action and actor
            raw = raw_by_id[event["id"]]
            assert raw["when"] == event["when"]
            assert raw["action"]["type"] == event["action"]["type"]
        assert connector.running
        assert worker.running
    finally:
        for service in (worker, connector, sim.service):
            service.stop()
    assert connector.returncode == 0, connector.output()[-2000:]


def test_connector_kill9_loses_and_duplicates_nothing(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=1500, events_per_second=30)
    env = connector_env(stack, sim, f"e2e-kill-{secrets.token_hex(3)}", CF_PER_PAGE="50")
    rand = random.Random(11)
    services = [sim.service]
    try:
        for round_ in range(3):
            connector = start_connector(tmp_path, env, f"connector-{round_}")
            services.append(connector)
            connector.wait_for("committed", timeout_s=90)
            time.sleep(rand.uniform(0.2, 2.5))
            connector.kill()
        connector = start_connector(tmp_path, env, "connector-final")
        services.append(connector)
        time.sleep(3)
        sim.pause()
        truth = sim.events()
        topics = Topics(stack, sim.account_id)
        wait_until(_converged(topics, {e["id"] for e in truth}, siem=False), 120,
                   "raw topic", [connector, sim.service])
        _assert_exactly_once(truth, topics.raw(), "id", "cloudflare.audit_logs.v1")
        assert "resuming after" in connector.output()
    finally:
        for service in reversed(services):
            service.stop()


def test_worker_kill9_loses_and_duplicates_nothing(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=1500, events_per_second=30)
    connector = start_connector(tmp_path, connector_env(stack, sim, f"e2e-{secrets.token_hex(3)}"))
    app_id = f"e2e-wkill-{secrets.token_hex(3)}"
    env = streams_env(stack, tmp_path, app_id)
    services = [sim.service, connector]
    topics = Topics(stack, sim.account_id)
    try:
        for round_ in range(2):
            worker = start_streams(tmp_path, env, f"streams-{round_}")
            services.append(worker)
            wait_until(lambda: len(topics.siem()) > 0, 120, "first siem output",
                       [worker, connector])
            time.sleep(random.uniform(0.5, 2.0))
            worker.kill()
        worker = start_streams(tmp_path, env, "streams-final")
        services.append(worker)
        time.sleep(3)
        sim.pause()
        truth = sim.events()
        wait_until(_converged(topics, {e["id"] for e in truth}), 180, "raw and siem topics",
                   [connector, worker, sim.service])
        _assert_exactly_once(truth, topics.siem(), "event_id", "siem.audit.v1")
    finally:
        for service in reversed(services):
            service.stop()
