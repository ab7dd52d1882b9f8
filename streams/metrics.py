"""Prometheus metrics of the streams worker (served on ``STREAMS_METRICS_PORT`` when set).

Labels: ``agent`` is the raw dataset an agent consumes (``http_requests``), ``route`` the
SIEM route (``http_activity``, ``audit`` for the deprecated ``siem.audit.v1``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge

EVENTS_IN = Counter("cfkafka_streams_events_in_total", "Raw records consumed", ["agent"])
EVENTS_OUT = Counter(
    "cfkafka_streams_events_out_total", "SIEM records written", ["agent", "route"]
)
DUPLICATES = Counter(
    "cfkafka_streams_duplicates_total",
    "Raw records dropped as duplicates (rosters: a repeat of the user's last state)",
    ["agent"],
)
SAMPLED = Counter(
    "cfkafka_streams_sampled_out_total", "Events dropped by a route's sample", ["agent", "route"]
)
REMOVALS = Counter(
    "cfkafka_streams_roster_removals_total", "Roster tombstones (users removed)", ["agent"]
)
DEAD_LETTERS = Counter(
    "cfkafka_streams_dead_letters_total", "Raw records sent to the DLQ", ["agent", "stage"]
)
LAG = Gauge(
    "cfkafka_streams_lag_seconds",
    "Processing lag: now minus the Kafka timestamp of the last record processed",
    ["agent"],
)
LAST_EVENT = Gauge(
    "cfkafka_streams_last_event_timestamp_seconds",
    "When the agent last processed a record (epoch seconds)",
    ["agent"],
)


@dataclass
class AgentMetrics:
    """One agent's metrics: counted per event in plain ints, written to the Prometheus
    children by ``publish`` (the worker calls it at every commit: a scrape sees the counts
    of at most ``STREAMS_COMMIT_INTERVAL_S`` ago). A Prometheus ``inc``/``set`` takes a lock
    and ~1 µs; four per event were a tenth of a native-path event's time."""

    agent: str
    received: int = 0
    #: when ``publish`` last saw new records (epoch seconds): the last event's processing
    last_event: float | None = None
    _children: dict[str, Any] = field(default_factory=dict, repr=False)
    _labelled: dict[tuple[int, tuple[str, ...]], Any] = field(default_factory=dict, repr=False)
    #: route -> records sent since the last ``publish``
    _sent: dict[str, int] = field(default_factory=dict, repr=False)
    #: (metric, labels) -> other increments since the last ``publish``
    _pending: dict[tuple[Any, tuple[str, ...]], int] = field(default_factory=dict, repr=False)
    _published: int = field(default=0, repr=False)
    #: Kafka timestamp (epoch seconds) of the last record consumed
    _timestamp: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Bind the children that do not depend on a route or stage."""
        self._children.update(
            events_in=EVENTS_IN.labels(self.agent),
            lag=LAG.labels(self.agent),
            last=LAST_EVENT.labels(self.agent),
        )
        # the series exist (at 0) from the start
        self._child(DUPLICATES)
        self._child(REMOVALS)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._labelled.get(key)
        if child is None:
            child = self._labelled[key] = metric.labels(self.agent, *labels)
        return child

    def _count(self, metric: Any, *labels: str) -> None:
        pending, key = self._pending, (metric, labels)
        pending[key] = pending.get(key, 0) + 1

    def consumed(self, timestamp: float | None) -> None:
        """One raw record consumed; ``timestamp`` is its Kafka timestamp (epoch seconds)."""
        self.received += 1
        if timestamp:
            self._timestamp = timestamp

    def sent(self, route: str) -> None:
        """One SIEM record written to ``route``."""
        sent = self._sent
        sent[route] = sent.get(route, 0) + 1

    def duplicate(self) -> None:
        """One duplicate dropped."""
        self._count(DUPLICATES)

    def sampled(self, route: str) -> None:
        """One event dropped by ``route``'s sample."""
        self._count(SAMPLED, route)

    def removed(self) -> None:
        """One roster tombstone."""
        self._count(REMOVALS)

    def dead_letter(self, stage: str) -> None:
        """One record dead-lettered at ``stage``."""
        self._count(DEAD_LETTERS, stage)

    def publish(self) -> None:
        """Write the counts since the last call to the Prometheus children; the lag is now
        minus the last record's timestamp."""
        if self.received != self._published:
            now = time.time()
            self._children["events_in"].inc(self.received - self._published)
            self._published = self.received
            self.last_event = now
            self._children["last"].set(now)
            if self._timestamp is not None:
                self._children["lag"].set(max(0.0, now - self._timestamp))
        sent, self._sent = self._sent, {}
        for route, count in sent.items():
            self._child(EVENTS_OUT, route).inc(count)
        pending, self._pending = self._pending, {}
        for (metric, labels), count in pending.items():
            self._child(metric, *labels).inc(count)

    def status(self) -> dict[str, Any]:
        """The agent's line in ``/health``."""
        age = None if self.last_event is None else round(time.time() - self.last_event, 1)
        return {"agent": self.agent, "received": self.received, "last_event_age_s": age}
