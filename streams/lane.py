"""The worker's short path for a record the native transform takes whole.

For a dataset whose records ``streams.pipeline.process`` would hand to the native
transform's ``run`` (enriched in Rust, no sampling of its route, no alert rules: the
common bulk case, ``http_requests``), under ``exactly_once`` (at-least-once checks every
delivery), ``NativeLane`` does what ``Handlers.raw`` and ``process`` do for such a record,
without their general machinery (the ``Source`` tuple, the outcome objects, the sink
layers): the dedup check, ``run``, one produce for the SIEM record, the dedup key's table
write and its changelog produce, the counts.

A lane returns False, having done nothing, wherever the general path could do something
else (no key, the transform declines): the worker then hands the record to
``Handlers.raw``, which gives it the Python path's outcome.
``tests/streams/test_streams_lane.py`` checks that both paths give the same records, table
writes and counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException

from .handlers import Handlers, Sink, Stats
from .metrics import AgentMetrics
from .native import NativeDataset
from .routing import Dataset
from .state import Partition

#: ``Producer.produce`` (or a stand-in) as the lane calls it
Produce = Callable[..., None]

SCOPE = "cf.scope"


def scope_of(message: Any) -> str | None:
    """The ``cf.scope`` header as text (``pipeline.header`` of ``dict(headers)``: the last
    one wins; None when missing or not UTF-8)."""
    found = None
    for name, data in message.headers() or ():
        if name == SCOPE:
            found = data
    try:
        return None if found is None else found.decode()
    except UnicodeDecodeError:
        return None


class NativeLane:
    """``Handlers.raw`` for records of one dataset that the native ``run`` handles."""

    def __init__(self, handlers: Handlers, dataset: Dataset, native: NativeDataset) -> None:
        self.stats: Stats = handlers.stats
        self.counters: AgentMetrics = handlers.metrics[dataset.name]
        self.native = native
        self.topic = native.route.topic
        self.route = native.route.name
        self.now: Callable[[], float] = handlers.now

    @staticmethod
    def of(handlers: Handlers, dataset: Dataset) -> NativeLane | None:
        """The lane of ``dataset`` when ``process`` would take the native ``run`` branch for
        its records (else None: every record goes through ``Handlers.raw``)."""
        options = handlers.options
        native = options.native.get(dataset.name)
        if (native is None or dataset.roster or not native.direct
                or native.enricher is not options.enricher or options.alert_rules
                or native.route.name in options.sample_rates):
            return None
        return NativeLane(handlers, dataset, native)

    def __call__(self, message: Any, partition: int, table: Partition, produce: Produce,
                 send: Sink) -> bool:
        """Handle one consumed record; False: not handled (the general path's turn), nothing
        was done. ``produce`` is the transactional producer's (it may raise); ``send`` the
        worker's, which waits for room in a full queue and tells fatal errors apart."""
        key = message.key()
        if key is None:
            return False
        _, timestamp = message.timestamp()
        if table.get(key) is not None:  # ``dedupe.first_sighting``
            self.counters.consumed(timestamp / 1000 if timestamp > 0 else time.time())
            self.stats.received += 1
            self.stats.duplicates += 1
            self.counters.duplicate()
            return True
        encoded = self.native.run(message.value(), key, scope_of(message))
        if encoded is None:
            return False
        try:
            produce(self.topic, encoded, key, partition=partition)
        except (BufferError, KafkaException):
            return False  # nothing sent: the general path sends it (or dead-letters it)
        counters = self.counters
        counters.consumed(timestamp / 1000 if timestamp > 0 else time.time())
        counters.sent(self.route)
        self.stats.received += 1
        # after the send, as ``Handlers.raw``: an output Kafka refuses leaves the key unseen
        changelog = table.set(key, int(self.now()))
        report = table.report()
        try:
            produce(table.topic, changelog, key, partition=table.number, on_delivery=report)
        except (BufferError, KafkaException):
            send(table.topic, table.number, key, changelog, None, report)
        self.stats.sent += 1
        return True

