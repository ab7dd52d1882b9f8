"""``cfkafka run --config cfkafka.yaml``: feeds per scope, secrets from a file and the
environment, Kafka/registry settings from the file, ``/user/audit_logs`` for a user token;
and invalid files exit 2 naming the key."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest
from support import ROOT, duplicates, read_topic, start_sim, wait_until

from infra.procs import Service

pytestmark = pytest.mark.e2e

CONFIG = """
cloudflare:
  settle_lag_s: 1.5
  poll_interval_s: 0.5
  start_lookback_s: 86400
  per_page: 50
accounts:
  - id: "{account}"
    name: e2e
    api_token: {{file: {token_file}}}
    feeds: [audit_logs, user_audit_logs, members]
kafka:
  bootstrap.servers: {bootstrap}
  client.id: {{env: E2E_CLIENT_ID}}
schema_registry:
  url: {registry}
connector:
  name: {name}
  # the raw topics are shared by the whole session; the stream workers of other tests
  # need the default 3 (under exactly_once raw and SIEM topics must match)
  topic_partitions: 3
"""


def _scoped_keys(stack, topic: str, scope: str) -> list[str]:
    return [m.key.decode() for m in read_topic(stack, topic)
            if m.headers.get("cf.scope") == scope.encode() and m.key is not None]


def test_run_from_a_yaml_file(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=400, events_per_second=10)
    token_file = tmp_path / "cf-token"
    token_file.write_text(sim.token + "\n")
    config = tmp_path / "cfkafka.yaml"
    config.write_text(CONFIG.format(
        account=sim.account_id, token_file=token_file, bootstrap=stack.bootstrap,
        registry=stack.registry_url, name=f"e2e-config-{secrets.token_hex(3)}"))
    # Only the API base URL comes from the environment: the file carries everything else.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CF_", "CFKAFKA_", "KAFKA_", "SCHEMA_REGISTRY"))}
    env.update(CF_API_BASE_URL=sim.base_url, E2E_CLIENT_ID="e2e-config")
    connector = Service("connector", [sys.executable, "-m", "connector", "run", "--config",
                                      str(config)], env=env,
                        log_path=tmp_path / "connector.log").start()
    services = [sim.service, connector]
    try:
        connector.wait_for("committed", timeout_s=90)
        time.sleep(2)
        sim.pause()
        truth = {e["id"] for e in sim.events()}
        account, user = f"account:{sim.account_id}", f"user:{sim.account_id}"

        def converged() -> bool:
            return all(set(_scoped_keys(stack, "cloudflare.audit_logs.v1", scope)) == truth
                       for scope in (account, user))

        wait_until(converged, 120, "audit logs through both endpoints", services)
        for scope in (account, user):
            keys = _scoped_keys(stack, "cloudflare.audit_logs.v1", scope)
            assert not duplicates(keys), scope
        members = sim.admin(f"members?account_id={sim.account_id}")
        wait_until(lambda: len(set(_scoped_keys(stack, "cloudflare.members.v1", account)))
                   == len(members), 60, "members roster", services)
        assert sim.token not in connector.output(), "the token must never be logged"
    finally:
        for service in reversed(services):
            service.stop()


def test_invalid_file_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "cfkafka.yaml"
    config.write_text("accounts:\n  - id: 0123456789abcdef0123456789abcdef\n"
                      "    api_token: {env: MISSING_TOKEN_VAR}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CF_")}
    env.pop("MISSING_TOKEN_VAR", None)
    done = subprocess.run(
        [sys.executable, "-m", "connector", "run", "--config", str(config)], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert ("accounts[0].api_token in " + str(config) +
            ": environment variable MISSING_TOKEN_VAR is not set") in done.stderr
    assert "Traceback" not in done.stderr
