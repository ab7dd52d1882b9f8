"""streams.metrics: per-dataset Prometheus counters, the /health line, and the raw
handler counting into them."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from prometheus_client import REGISTRY

from streams.metrics import AgentMetrics


def _value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_agent_metrics_count_per_agent_route_and_stage():
    agent = "t_metrics_agent"
    metrics = AgentMetrics(agent)
    metrics.consumed(time.time() - 5)
    metrics.consumed(None)
    metrics.sent("http_activity")
    metrics.sent("http_activity")
    metrics.duplicate()
    metrics.sampled("http_activity")
    metrics.dead_letter("decode")
    metrics.removed()
    assert _value("cfkafka_streams_events_in_total", agent=agent) == 0  # until published
    metrics.publish()
    assert _value("cfkafka_streams_events_in_total", agent=agent) == 2
    assert _value("cfkafka_streams_events_out_total", agent=agent, route="http_activity") == 2
    assert _value("cfkafka_streams_duplicates_total", agent=agent) == 1
    assert _value("cfkafka_streams_sampled_out_total", agent=agent, route="http_activity") == 1
    assert _value("cfkafka_streams_dead_letters_total", agent=agent, stage="decode") == 1
    assert _value("cfkafka_streams_roster_removals_total", agent=agent) == 1
    assert 4 < _value("cfkafka_streams_lag_seconds", agent=agent) < 60
    status = metrics.status()
    assert status["agent"] == agent and status["received"] == 2
    assert status["last_event_age_s"] is not None and status["last_event_age_s"] < 60


def test_the_raw_handler_counts_into_its_dataset_metrics(wiring, raw):
    sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
    from ocsf_samples import samples

    agent = "firewall_events"
    before = {
        "in": _value("cfkafka_streams_events_in_total", agent=agent),
        "dup": _value("cfkafka_streams_duplicates_total", agent=agent),
        "dlq": _value("cfkafka_streams_dead_letters_total", agent=agent, stage="decode"),
        "out": _value("cfkafka_streams_events_out_total", agent=agent,
                      route="detection_finding"),
    }
    w = wiring()
    message = raw.message(agent, samples(agent, 1)[0])
    w.raw(agent, message, offset=0)
    w.raw(agent, message, offset=1)
    w.raw(agent, (b"k", b"garbage", None), offset=2)
    w.handlers.metrics[agent].publish()
    assert _value("cfkafka_streams_events_in_total", agent=agent) - before["in"] == 3
    assert _value("cfkafka_streams_duplicates_total", agent=agent) - before["dup"] == 1
    assert _value("cfkafka_streams_dead_letters_total", agent=agent,
                  stage="decode") - before["dlq"] == 1
    assert _value("cfkafka_streams_events_out_total", agent=agent,
                  route="detection_finding") - before["out"] == 1
    assert w.handlers.metrics[agent].received == 3
