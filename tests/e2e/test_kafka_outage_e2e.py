"""With Kafka down no checkpoint advances; the connector retries until it is back."""

from __future__ import annotations

import secrets
import time

import pytest
from support import Topics, connector_env, duplicates, start_connector, start_sim, wait_until

from infra.stack import LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_stack(tmp_path):
    """A broker of our own (the shared one must not go down): always the local JVM stack."""
    stack = LocalStack(tmp_path / "stack")
    info = stack.start()
    try:
        yield stack, info
    finally:
        stack.stop()


def test_kafka_outage_loses_nothing_and_duplicates_nothing(own_stack, tmp_path):
    stack, info = own_stack
    sim = start_sim(tmp_path, initial_events=300, events_per_second=20)
    connector = start_connector(
        tmp_path, connector_env(info, sim, f"e2e-outage-{secrets.token_hex(3)}", CF_PER_PAGE="50",
                             CFKAFKA_TRANSACTION_TIMEOUT_S="4")
    )
    try:
        connector.wait_for("committed", timeout_s=90)
        stack.stop_broker()
        committed_before = connector.output().count("committed")
        time.sleep(15)  # events keep arriving at Cloudflare during the outage
        assert connector.running, connector.output()[-2000:]
        assert connector.output().count("committed") == committed_before, (
            "nothing can be committed while Kafka is down"
        )
        stack.start_broker()
        time.sleep(3)
        sim.pause()
        truth = sim.events()
        topics = Topics(info, sim.account_id)
        wait_until(lambda: {r["id"] for r in topics.raw()} == {e["id"] for e in truth}, 240,
                   "every event after the outage", [connector, sim.service])
        ids = [r["id"] for r in topics.raw()]
        assert not duplicates(ids)
        assert len(ids) == len(truth)
        log = connector.output()
        assert "retrying in" in log, "the failed transaction was retried, not skipped"
        assert log.count("resuming after") >= 1, "the position was reloaded from Kafka"
    finally:
        connector.stop()
        sim.service.stop()
