"""Secured Kafka against the real broker: the local stack's SASL_PLAINTEXT listener (PLAIN,
``infra.stack.SASL_USER``). The connector and the stream worker, given only the SASL address
and the ``KAFKA_CONF_*`` settings, reach the broker with every client (the connector: topic
checks, checkpoints, transactional producers; the worker: topic checks, the group consumer,
the transactional producer, the changelog restore, the roster reader) and their output is
exact; with a wrong password each exits with status 2 naming the settings to fix. The
password appears in no output.

A ``SCHEMA_REGISTRY_URL`` that is not a registry's API stops either with status 2 naming
the variable (the registry's answer to a wrong path on the real registry).

The SASL listener exists on the local JVM stack (``cfkafka dev up`` exports its address as
``CFKAFKA_DEV_SASL_BOOTSTRAP``); on other stacks these tests are skipped, not passed.
"""

from __future__ import annotations

import random
import secrets
import time

import pytest
from support import (
    connector_env,
    count_keys,
    duplicates,
    produce,
    read_topic,
    skip_history,
    start_connector,
    start_sim,
    start_streams,
    streams_env,
    wait_until,
)
from test_streams_datasets_e2e import Raw, _unique
from test_streams_datasets_e2e import samples as ocsf_samples

from infra.stack import SASL_PASSWORD, SASL_USER

pytestmark = pytest.mark.e2e

DATASET = "http_requests"
TOPIC = "siem.http_activity.v1"


def secured(stack, password: str) -> dict[str, str]:
    """The SASL listener's address and ``KAFKA_CONF_*`` settings (skip without one)."""
    if not stack.sasl_bootstrap:
        pytest.skip("this stack has no SASL listener (the local JVM stack starts one)")
    return {
        "KAFKA_BOOTSTRAP_SERVERS": stack.sasl_bootstrap,
        "KAFKA_CONF_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_CONF_SASL_MECHANISM": "PLAIN",
        "KAFKA_CONF_SASL_USERNAME": SASL_USER,
        "KAFKA_CONF_SASL_PASSWORD": password,
    }


def sasl_env(stack, tmp_path, app_id: str, password: str) -> dict[str, str]:
    return {**streams_env(stack, tmp_path, app_id), **secured(stack, password),
            "STREAMS_DATASETS": DATASET}


def wait_exit(service, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while service.running and time.monotonic() < deadline:
        time.sleep(0.5)
    out = service.output()
    assert not service.running, f"still running after {timeout_s:.0f} s:\n{out[-3000:]}"
    return out


@pytest.mark.timeout(300)
def test_connector_over_sasl(stack, tmp_path):
    name = f"e2e-sasl-{secrets.token_hex(4)}"
    sim = start_sim(tmp_path, initial_events=120, events_per_second=5)
    env = connector_env(stack, sim, name, CF_FEEDS="audit_logs",
                        **secured(stack, SASL_PASSWORD))
    scope = f"account:{sim.account_id}".encode()

    def ids() -> list[str]:
        return [m.key.decode() for m in read_topic(stack, "cloudflare.audit_logs.v1")
                if m.key is not None and m.headers.get("cf.scope") == scope]

    connector = start_connector(tmp_path, env)
    try:
        wait_until(lambda: len(ids()) >= 120, 120,
                   "the audit events, through the SASL listener", [connector, sim.service],
                   poll_s=2)
        sim.pause()
        truth = {e["id"] for e in sim.events()}
        wait_until(lambda: truth <= set(ids()), 60, "every audit event", [connector],
                   poll_s=2)
        assert connector.stop() == 0, connector.output()[-3000:]
        got = ids()
        assert set(got) == truth and not duplicates(got)
        assert SASL_PASSWORD not in connector.output()
    finally:
        connector.stop()
        sim.service.stop()


@pytest.mark.timeout(300)
def test_connector_with_a_wrong_kafka_password_exits_naming_the_fix(stack, tmp_path):
    wrong = f"not-the-password-{secrets.token_hex(4)}"
    sim = start_sim(tmp_path, initial_events=10)
    env = connector_env(stack, sim, f"e2e-sasl-bad-{secrets.token_hex(4)}",
                        CF_FEEDS="audit_logs", **secured(stack, wrong))
    connector = start_connector(tmp_path, env)
    try:
        out = wait_exit(connector)
        assert connector.returncode == 2, out[-3000:]
        assert "Kafka refused the client's credentials" in out, out[-3000:]
        assert "Invalid username or password" in out and "KAFKA_CONF_SASL_PASSWORD" in out
        assert wrong not in out
    finally:
        connector.stop()
        sim.service.stop()


@pytest.mark.timeout(600)
def test_streams_worker_over_sasl(stack, tmp_path):
    run = secrets.token_hex(4)
    raw = Raw(stack, run)
    records = [_unique(DATASET, r, run, i) for i, r in enumerate(ocsf_samples(DATASET, 300))]
    batch = [raw.message(DATASET, r) for r in records]
    expected = {m[1] for m in batch if m[1] is not None}
    batch += random.Random(3).sample(batch, 60)  # duplicates

    app_id = f"e2e-sasl-{run}"
    env = sasl_env(stack, tmp_path, app_id, SASL_PASSWORD)
    skip_history(stack, app_id, [f"cloudflare.{DATASET}.v1"])
    worker = start_streams(tmp_path, env, "sasl")
    try:
        worker.wait_for("STREAMS READY", timeout_s=180)
        produce(stack, batch)
        wanted = dict.fromkeys(expected, 1)
        wait_until(lambda: count_keys(stack, TOPIC, expected)[0] == wanted, 240,
                   "every http record once, through the SASL listener", [worker], poll_s=2)
        time.sleep(2)
        got, _ = count_keys(stack, TOPIC, expected)
        assert got == wanted, {k: n for k, n in got.items() if n != 1}
        assert worker.stop() == 0, worker.output()[-3000:]
        out = worker.output()
        assert "duplicates=60" in out.split("streams stopped: ")[-1], out[-2000:]
        assert SASL_PASSWORD not in out
    finally:
        worker.stop()


@pytest.mark.timeout(300)
def test_streams_worker_with_a_wrong_password_exits_naming_the_fix(stack, tmp_path):
    wrong = f"not-the-password-{secrets.token_hex(4)}"
    env = sasl_env(stack, tmp_path, f"e2e-sasl-bad-{secrets.token_hex(4)}", wrong)
    worker = start_streams(tmp_path, env, "sasl-bad")
    try:
        out = wait_exit(worker)
        assert worker.returncode == 2, out[-3000:]  # a settings error
        assert "Kafka refused the client's credentials" in out, out[-3000:]
        assert "Invalid username or password" in out and "KAFKA_CONF_SASL_PASSWORD" in out
        assert wrong not in out
    finally:
        worker.stop()


def not_a_registry(stack) -> str:
    return stack.registry_url.rsplit("/apis/", 1)[0] + "/not-the-api"


@pytest.mark.timeout(180)
def test_a_wrong_registry_url_stops_both_naming_the_variable(stack, tmp_path):
    url = not_a_registry(stack)
    sim = start_sim(tmp_path, initial_events=10)
    connector = start_connector(tmp_path, connector_env(
        stack, sim, f"e2e-sr-{secrets.token_hex(4)}", CF_FEEDS="audit_logs",
        SCHEMA_REGISTRY_URL=url))
    worker = start_streams(tmp_path, {**streams_env(stack, tmp_path, "e2e-sr-bad"),
                                      "SCHEMA_REGISTRY_URL": url}, "sr-bad")
    try:
        for service in (connector, worker):
            out = wait_exit(service, 90)
            assert service.returncode == 2, out[-3000:]
            assert f"{url} is not a schema registry's API (HTTP 404)" in out, out[-3000:]
            assert "check SCHEMA_REGISTRY_URL" in out
            assert "Traceback" not in out
    finally:
        connector.stop()
        worker.stop()
        sim.service.stop()
