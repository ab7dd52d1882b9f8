"""Bad input gets a clear answer and loses nothing (real processes, real broker)."""

from __future__ import annotations

import secrets
import sys
import time

import pytest
from support import (
    Topics,
    connector_env,
    start_connector,
    start_sim,
    wait_until,
)

from infra.procs import Service

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("credentials", "code", "fix"),
    [
        ({"CF_API_TOKEN": "A" * 40}, "code 1000", "CF_API_TOKEN"),
        ({"CF_API_TOKEN": "0123456789abcdef0123456789abcdef01234"}, "code 6111",
         "a global API key goes in CF_API_KEY"),
        ({"CF_API_TOKEN": "", "CF_API_EMAIL": "secops@example.com", "CF_API_KEY": "B" * 40},
         "code 6103", "for an API token use CF_API_TOKEN"),
        ({"CF_API_TOKEN": "", "CF_API_EMAIL": "nobody@example.com",
          "CF_API_KEY": "0123456789abcdef0123456789abcdef01234"}, "code 9103", "CF_API_KEY"),
    ],
    ids=["wrong-token", "global-key-as-token", "token-as-global-key", "unknown-key"],
)
def test_bad_credentials_exit_nonzero_with_code_and_fix(tmp_path, credentials, code, fix):
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0)
    try:
        env = connector_env(
            type("NoKafka", (), {"bootstrap": "127.0.0.1:1", "registry_url": "http://127.0.0.1:1"}),
            sim, "bad-creds", **credentials,
        )
        connector = start_connector(tmp_path, env)
        connector.proc.wait(60)
        output = connector.output()
        assert connector.returncode == 2, output
        assert code in output, output
        assert fix in output, output
        assert "Traceback" not in output, output
        for secret in credentials.values():
            if len(secret) >= 37:
                assert secret not in output, "a secret was printed"
    finally:
        sim.service.stop()


def test_rate_limit_storm_is_waited_out(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=600, events_per_second=5,
                    extra=["--rate-limit", "15", "--rate-window-s", "4", "--rate-block-s", "3"])
    sim.admin("faults", {"kind": "rate_limit", "count": 6, "retry_after": 1})
    connector = start_connector(
        tmp_path, connector_env(stack, sim, f"e2e-429-{secrets.token_hex(3)}", CF_PER_PAGE="25")
    )
    try:
        time.sleep(3)
        sim.pause()
        truth = {e["id"] for e in sim.events()}
        topics = Topics(stack, sim.account_id)
        wait_until(lambda: {r["id"] for r in topics.raw()} == truth, 150, "all events",
                   [connector, sim.service])
        assert connector.output().count("rate limited") >= 6, "the storm did not happen"
        assert len(topics.raw()) == len(truth)
    finally:
        connector.stop()
        sim.service.stop()


def test_unencodable_record_goes_to_dlq_while_the_run_continues(stack, tmp_path):
    sim = start_sim(tmp_path, initial_events=50, events_per_second=5)
    bad_when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
    sim.admin("events", {"account_id": sim.account_id,
                         "events": [{"id": 987654, "when": bad_when,
                                     "action": {"type": "rec_del", "result": True}}]})
    connector = start_connector(
        tmp_path, connector_env(stack, sim, f"e2e-dlq-{secrets.token_hex(3)}")
    )
    try:
        time.sleep(4)
        sim.pause()
        truth = {e["id"] for e in sim.events() if isinstance(e["id"], str)}
        topics = Topics(stack, sim.account_id)
        wait_until(lambda: {r["id"] for r in topics.raw()} == truth, 90, "good events",
                   [connector, sim.service])
        dead = topics.dlq()
        assert len(dead) == 1, dead
        assert b'"id":987654' in dead[0].value
        assert b"'id'" in dead[0].headers["dlq.reason"], dead[0].headers
        assert dead[0].headers["dlq.stage"] == b"encode"
        assert connector.running
    finally:
        connector.stop()
        sim.service.stop()


def test_verify_names_the_missing_permission_and_run_refuses(tmp_path):
    limited = "cfsimLimitedToken000000000000000000000ab"
    sim = start_sim(tmp_path, initial_events=5, events_per_second=0,
                    extra=["--limited-token", f"{limited}=account_settings_read"])
    no_kafka = type("NoKafka", (), {"bootstrap": "127.0.0.1:1", "registry_url": "http://127.0.0.1:1"})
    env = connector_env(no_kafka, sim, "verify", CF_API_TOKEN=limited,
                        CF_FEEDS="audit_logs,audit_logs_v2,access_requests")
    try:
        verify = Service("verify", [sys.executable, "-m", "connector", "verify"], env=env,
                         log_path=tmp_path / "verify.log").start()
        verify.proc.wait(60)
        table = verify.output()
        assert verify.returncode == 2, table
        rows = {line.split()[0]: line for line in table.splitlines()
                if line.startswith(("audit", "access"))}
        assert rows["audit_logs"].endswith("OK")
        assert rows["audit_logs_v2"].endswith("OK")
        assert "MISSING permission 'Access: Audit Logs Read' (Cloudflare code 10000)" in rows[
            "access_requests"]
        assert limited not in table
        run = start_connector(tmp_path, env, "run")
        run.proc.wait(60)
        assert run.returncode == 2
        assert "Access: Audit Logs Read" in run.output()
        assert "Traceback" not in run.output()
    finally:
        sim.service.stop()
