"""What the worker does with one consumed record: run ``streams.pipeline.process`` (or an
alert rule) and write the outcome (SIEM records, dead letters, table writes) to a ``Sink``.

No Kafka here: the worker passes its transactional producer as the sink, the tests a list.
Every record goes to the source partition's number (the topics are co-partitioned), except
alert-rule inputs (the partition of their subject) and findings (the input's partition).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from . import dlq
from .alerts.base import Rule
from .codecs import Codecs
from .dedupe import expired
from .dlq import DeadLetter
from .metrics import AgentMetrics
from .ocsf import conform
from .pipeline import Duplicate, Options, Output, Removed, Sampled, alert_partition, process
from .routing import ALERTS, Dataset
from .state import Partition
from .topics import DLQ

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


class Sink(Protocol):
    """Where records go (the worker: ``Producer.produce`` in the open transaction)."""

    def __call__(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None: ...


class Source(NamedTuple):
    """The consumed record being handled (confluent-kafka's ``Message``, flattened; a tuple:
    one is made per record)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    #: Kafka timestamp, epoch milliseconds
    timestamp_ms: int


@dataclass
class Stats:
    """Counters since the worker started, logged every ``PROGRESS_INTERVAL_S``."""

    received: int = 0
    sent: int = 0
    duplicates: int = 0
    sampled_out: int = 0
    dead_letters: int = 0
    alerts: int = 0
    committed: int = 0
    aborted: int = 0

    def line(self) -> str:
        """``received=.. sent=.. duplicates=.. ...`` (every counter)."""
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def write(sink: Sink, table: Partition, key: bytes, value: Any) -> None:
    """Set (None: delete) ``key`` in ``table`` and its changelog record in the transaction."""
    raw = table.set(key, value)
    sink(table.topic, table.number, key, raw, None, table.report())


def dead_letter(sink: Sink, source: Source, letter: DeadLetter) -> None:
    """The original bytes to ``cloudflare.dlq.v1`` with the reason and where they came from."""
    headers = dlq.headers(letter, source.topic, source.partition, source.offset,
                          datetime.now(UTC))
    sink(DLQ, source.partition, source.key, source.value, headers)
    log.warning("dead letter %s/%s/%s (%s): %s", source.topic, source.partition,
                source.offset, letter.stage, letter.reason)


@dataclass
class Handlers:
    """The per-record work, with what it needs injected (codecs, options, rules, clock)."""

    codecs: Codecs
    options: Options
    partitions: int
    stats: Stats
    metrics: Mapping[str, AgentMetrics]
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        #: rule uid -> rule (the alert handler's dispatch)
        self.rules: dict[str, Rule] = {rule.uid: rule for rule in self.options.alert_rules}

    def raw(self, source: Source, dataset: Dataset, table: Partition, sink: Sink) -> None:
        """One raw record: dedup -> ... -> encode, and its outputs to ``sink``."""
        counters = self.metrics[dataset.name]
        counters.consumed(source.timestamp_ms / 1000)
        outcome = process(source.key, source.value, dict(source.headers or ()), table,
                          self.codecs, dataset, self.options)
        self.stats.received += 1
        if isinstance(outcome, Output):  # the common case first
            for send in outcome.sends:
                if send.key is None:
                    sink(send.topic, source.partition, outcome.key, send.value,
                         list(send.headers) or None)
                else:  # an alert-rule input: to its subject's partition
                    sink(send.topic, alert_partition(send.key, self.partitions), send.key,
                         send.value)
                counters.sent(send.route)
            # after the sends: an output Kafka refuses leaves the key unseen (the worker
            # dead-letters the record, and a replay from the DLQ is not a duplicate)
            state = outcome.state if dataset.roster else int(self.now())
            write(sink, table, outcome.key, state)
            self.stats.sent += 1
        elif isinstance(outcome, Duplicate):
            self.stats.duplicates += 1
            counters.duplicate()
        elif isinstance(outcome, Sampled):
            self.stats.sampled_out += 1
            counters.sampled(outcome.route)
        elif isinstance(outcome, Removed):
            counters.removed()
            if table.get(outcome.key) is not None:
                write(sink, table, outcome.key, None)
        else:
            dead_letter(sink, source, outcome)
            self.stats.dead_letters += 1
            counters.dead_letter(outcome.stage)

    def alert(self, source: Source, table: Partition, sink: Sink) -> None:
        """One alert-rule input: run the rule on the subject's state, publish its findings.

        Inputs come from ``raw`` (``streams.pipeline.alert_inputs``), keyed
        ``<rule uid>|<subject>``; the state table is co-partitioned with them.
        """
        try:
            body = json.loads(source.value or b"")
            rule, record = self.rules[body["rule"]], body["event"]
            if not isinstance(record, dict):
                msg = "event is not an object"
                raise TypeError(msg)  # noqa: TRY301
            if source.key is None:
                msg = "input has no key"
                raise TypeError(msg)  # noqa: TRY301
        except (ValueError, KeyError, TypeError) as exc:
            dead_letter(sink, source,
                        DeadLetter("decode", f"alert input: {type(exc).__name__}: {exc}"))
            self.stats.dead_letters += 1
            return
        state = table.get(source.key)
        new_state, findings = rule.step(state, record, source.timestamp_ms)
        if new_state is None:
            if state is not None:
                write(sink, table, source.key, None)
        elif new_state != state:
            write(sink, table, source.key, new_state)
        for finding in findings:
            value = self.codecs.encode_alert(conform(ALERTS.schema, finding))
            uid = str(finding.get("finding_info", {}).get("uid") or "").encode() or source.key
            sink(ALERTS.topic, source.partition, uid, value)
            self.stats.alerts += 1
            log.info("alert %s: %s", rule.uid,
                     finding.get("message") or finding.get("finding_info"))

    def expired_keys(self, table: Partition, horizon_s: int) -> list[bytes]:
        """Keys of an event dedup table first seen more than ``horizon_s`` ago."""
        return expired(table.items(), int(self.now()), horizon_s)

    def spent_alert_keys(self, table: Partition) -> list[bytes]:
        """Rule states that carry no information any more (their window has passed)."""
        now_ms = int(self.now() * 1000)
        spent = []
        for key, state in table.items():
            rule = self.rules.get(key.split(b"|", 1)[0].decode(errors="replace"))
            expires = rule.expires_at(state) if rule is not None and state else now_ms
            if expires is not None and expires <= now_ms:
                spent.append(key)
        return spent

    def expire_seen(self, table: Partition, sink: Sink, horizon_s: int) -> int:
        """Delete keys first seen more than ``horizon_s`` ago (tombstones); return how many."""
        keys = self.expired_keys(table, horizon_s)
        for key in keys:
            write(sink, table, key, None)
        return len(keys)

    def sweep_alerts(self, table: Partition, sink: Sink) -> int:
        """Delete spent rule states (tombstones); return how many."""
        keys = self.spent_alert_keys(table)
        for key in keys:
            write(sink, table, key, None)
        return len(keys)
