"""The raw-topics agent: dedupe -> decode -> normalize -> route -> send (or dead-letter)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from schemas.registry import registry_client

from . import dlq, restore
from .alerts import default_rules
from .alerts.base import Rule
from .app import app, settings
from .codecs import Codecs, connect
from .dedupe import ALERT_TABLE, SWEEP_INTERVAL_S, tables, tombstone_writer
from .dlq import DeadLetter
from .enrich import Enricher, Roster, ThreatList
from .masking import Masker
from .metrics import AgentMetrics
from .ocsf import conform
from .pipeline import Duplicate, Options, Output, Removed, Sampled, alert_partition, process
from .progress import Progress, Stalls
from .roster_reader import RosterReader
from .routing import ALERTS, DATASETS, Dataset
from .topics import ALERT_EVENTS, BY_TOPIC, DLQ, ENABLED, alert_events, raw_topics

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
COMMIT_INTERVAL_S = settings.commit_interval_s

#: Held while one event is handled and acked, and while offsets commit. Faust's own commit
#: runs concurrently with the agents, so under exactly_once a transaction could commit the
#: output of an event whose offset it does not include (kill -9 then duplicates it). Faust's
#: timed commits are disabled in streams.app; this module commits between events instead.
#: All raw topics' partition p share one transaction (``{app id}-{group}-{p}``: the topics
#: are co-partitioned, so Faust puts them in one group).
processing = asyncio.Lock()

#: the roster join's state (every roster partition, read by ``roster_reader``)
ROSTER = Roster()


def _enricher() -> Enricher | None:
    if not settings.enrich:
        return None
    lists = [ThreatList(path) for path in settings.threat_lists]
    return Enricher.default(
        account_names=settings.account_names,
        zone_names=settings.zone_names,
        roster=ROSTER,
        threat_lists=lists,
    )


#: per-route behaviour, from the settings read once in streams.app
OPTIONS = Options(
    legacy_audit=settings.legacy_audit,
    sample_rates=dict(settings.sample_rates),
    maskers={route: Masker(kinds, settings.mask_key) for route, kinds in settings.masks.items()},
    enricher=_enricher(),
    alert_rules=default_rules(settings.alert_config) if settings.alerts else (),
    alert_topic=ALERT_EVENTS,
)
#: rule uid -> rule (the alert agent's dispatch)
RULES: dict[str, Rule] = {rule.uid: rule for rule in OPTIONS.alert_rules}


@dataclass
class Stats:
    """Counters since the worker started (all agents), logged every ``PROGRESS_INTERVAL_S``."""

    received: int = 0
    sent: int = 0
    duplicates: int = 0
    sampled_out: int = 0
    dead_letters: int = 0
    alerts: int = 0
    redelivered: int = 0
    rereads: int = 0

    def line(self) -> str:
        """``received=.. sent=.. duplicates=.. ...`` (every counter)."""
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


stats = Stats()
progress: Progress[Any] = Progress()
#: local table writes whose transaction has not committed (rolled back on revocation)
uncommitted = restore.Uncommitted()
stalls: Stalls[Any] = Stalls()
#: log start offsets of partitions without a committed offset (asked once each)
log_start: dict[Any, int] = {}
metrics: dict[str, AgentMetrics] = {d.name: AgentMetrics(d.name) for d in ENABLED}
ready = False


def codecs() -> Codecs:
    """The worker's codecs (set at start by ``StreamsApp``; built here if it was not)."""
    if app.codecs is None:
        app.codecs = connect(registry_client(settings.registry_url))
    found: Codecs = app.codecs
    return found


async def handle(event: Any, dataset: Dataset | None = None, table: Any = None) -> None:
    """Process one raw event; outputs and changelog writes join its partition's transaction."""
    dataset = dataset or DATASETS[0]
    table = tables[dataset.name] if table is None else table
    message = event.message
    counters = metrics[dataset.name]
    counters.consumed(message.timestamp)
    outcome = process(
        message.key, message.value, dict(message.headers or ()), table, codecs(), dataset,
        OPTIONS,
    )
    stats.received += 1
    if isinstance(outcome, Duplicate):
        stats.duplicates += 1
        counters.duplicate()
    elif isinstance(outcome, Sampled):
        stats.sampled_out += 1
        counters.sampled(outcome.route)
    elif isinstance(outcome, Removed):
        counters.removed()
        if outcome.key in table.data:
            await remember(table, outcome.key, None, message)
    elif isinstance(outcome, Output):
        state = outcome.state if dataset.roster else int(time.time())
        await remember(table, outcome.key, state, message)
        for send in outcome.sends:
            if send.key is None:
                await publish(send.topic, outcome.key, send.value, message,
                              list(send.headers) or None)
            else:  # an alert-rule input: to its subject's partition
                partition = alert_partition(send.key, settings.topic_partitions)
                await publish(send.topic, send.key, send.value, message, None, partition)
            counters.sent(send.route)
        stats.sent += 1
    else:
        now = datetime.now(UTC)
        headers = dlq.headers(outcome, message.topic, message.partition, message.offset, now)
        await publish(DLQ, message.key, message.value, message, headers)
        stats.dead_letters += 1
        counters.dead_letter(outcome.stage)
        log.warning(
            "dead letter %s/%s/%s (%s): %s",
            message.topic,
            message.partition,
            message.offset,
            outcome.stage,
            outcome.reason,
        )


async def publish(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    source: Any,
    headers: list[tuple[str, bytes]] | None = None,
    partition: int | None = None,
) -> None:
    """Write to ``topic``'s partition equal to the source's (or ``partition``), in the source
    partition's transaction.

    Not ``Topic.send``: under exactly_once Faust picks the transaction from the *consumer's*
    metadata for the destination topic, which has none for topics the worker only writes,
    and then silently sends outside any transaction (committed at once, duplicated after a
    crash). The transactional id is Faust's own ``{app id}-{topic group}-{partition}``.
    """
    transactional_id = None
    if app.in_transaction:
        group = app.assignor.group_for_topic(source.topic)
        transactional_id = f"{app.conf.id}-{group}-{source.partition}"
    await app.producer.send(
        topic, key, value, source.partition if partition is None else partition, None, headers,
        transactional_id=transactional_id,
    )


async def remember(table: Any, key: bytes, value: Any, source: Any) -> None:
    """Set (None: delete) ``key`` in the local table and write its changelog record in the
    source partition's transaction, before the event is acked.

    Not ``table[key] = value``: Faust puts that changelog record in the producer buffer,
    whose flush gives up after 0.1 s and whose background sender may hold a record it
    took but did not send yet, so under load the record could miss the transaction that
    commits the event's outputs and offset (after a kill -9 the dedup table then lacks the
    key and a later duplicate is published again). The record is what Faust would write:
    raw key, JSON value (the table's serializers), None for a delete.
    """
    previous = table.data.get(key)
    uncommitted.note(table, source.partition, key,
                     None if previous is None else json.dumps(previous).encode())
    if value is None:
        table.data.pop(key, None)
    else:
        table.data[key] = value
    payload = None if value is None else json.dumps(value).encode()
    await publish(table.changelog_topic.get_topic_name(), key, payload, source)


async def consume(stream: Any, handler: Callable[[Any], Awaitable[None]]) -> None:
    """Handle each event of ``stream`` under ``processing`` and ack it.

    An offset re-read after a hole (see ``commit``) that this worker already processed in
    the open transaction is acked without being processed again.
    """
    async for event in stream.events():
        message = event.message
        async with processing:
            generation = app.consumer_generation_id
            committed = app.consumer._committed_offset.get(message.tp)  # type: ignore[attr-defined]
            if progress.seen(generation, message.tp, message.offset) or (
                committed is not None and message.offset < committed
            ):
                # delivered again (after a re-read, or a stale copy): its outputs are in
                # the open transaction or already committed
                stats.redelivered += 1
            else:
                await handler(event)
                progress.mark(generation, message.tp, message.offset)
            event.ack()


async def handle_raw(event: Any) -> None:
    """Dispatch a raw event to its dataset (only enabled raw topics reach the channel; a
    test harness: ``<internal>``)."""
    dataset = BY_TOPIC.get(event.message.topic, ENABLED[0])
    await handle(event, dataset, tables[dataset.name])


@app.agent(raw_topics, name="raw")
async def process_raw(stream: Any) -> None:
    """Consume every enabled raw topic (read_committed under exactly_once).

    One agent over all raw topics (one multi-topic channel): the events are serialized by
    ``processing`` anyway, and one stream is the shape the kill -9 tests run.
    """
    await consume(stream, handle_raw)


async def handle_alert_input(event: Any) -> None:
    """Run one rule on one event with the subject's state; publish its findings.

    Inputs come from ``handle`` (``streams.pipeline.alert_inputs``), keyed
    ``<rule uid>|<subject>``; the state table ``alert-state`` is co-partitioned with them.
    """
    message = event.message
    table = tables[ALERT_TABLE]
    try:
        body = json.loads(message.value)
        rule, record = RULES[body["rule"]], body["event"]
        if not isinstance(record, dict):
            msg = "event is not an object"
            raise TypeError(msg)  # noqa: TRY301
    except (ValueError, KeyError, TypeError) as exc:
        letter = DeadLetter("decode", f"alert input: {type(exc).__name__}: {exc}")
        headers = dlq.headers(letter, message.topic, message.partition, message.offset,
                              datetime.now(UTC))
        await publish(DLQ, message.key, message.value, message, headers)
        stats.dead_letters += 1
        return
    state = table.data.get(message.key)
    new_state, findings = rule.step(state, record, int(message.timestamp * 1000))
    if new_state is None:
        if state is not None:
            await remember(table, message.key, None, message)
    elif new_state != state:
        await remember(table, message.key, new_state, message)
    for finding in findings:
        value = codecs().encode_alert(conform(ALERTS.schema, finding))
        uid = str(finding.get("finding_info", {}).get("uid") or "").encode() or message.key
        await publish(ALERTS.topic, uid, value, message)
        stats.alerts += 1
        log.info("alert %s: %s", rule.uid, finding.get("message") or finding.get("finding_info"))


async def process_alerts(stream: Any) -> None:
    """Consume the alert-rule inputs (``ALERT_EVENTS``) when ``STREAMS_ALERTS`` is on."""
    await consume(stream, handle_alert_input)


if settings.alerts:
    alerts_agent = app.agent(alert_events, name="alerts")(process_alerts)


@app.timer(interval=SWEEP_INTERVAL_S)  # type: ignore[untyped-decorator]
async def sweep_alert_states() -> None:
    """Delete rule states that carry no information any more (bounded table, tombstones)."""
    if ALERT_TABLE not in tables:
        return
    table = tables[ALERT_TABLE]
    now_ms = int(time.time() * 1000)
    spent = []
    for key, state in list(table.data.items()):
        rule = RULES.get(key.split(b"|", 1)[0].decode(errors="replace"))
        expires = rule.expires_at(state) if rule is not None and state else now_ms
        if expires is not None and expires <= now_ms:
            spent.append(key)
    tombstone = tombstone_writer(table)
    for key in spent:
        table.data.pop(key, None)
        await tombstone(key)
    if spent:
        log.info("alert state: swept %d spent rule states", len(spent))


@app.timer(interval=COMMIT_INTERVAL_S)  # type: ignore[untyped-decorator]
async def commit() -> None:
    """Commit acked offsets (under exactly_once: end each partition's transaction).

    Only partitions without holes (``streams.progress``); a partition with a hole is sought
    back to it. Uses Faust internals (acked offsets, committed offsets, fetch gaps): there
    is no public API for them.
    """
    async with processing:
        consumer: Any = app.consumer
        waiting = [tp for tp, offsets in consumer._acked.items() if offsets]
        clean: set[Any] = set()
        held: set[int] = set()  # partitions with a hole in one of their topics
        for tp in waiting:
            start = consumer._committed_offset.get(tp)
            committed = start is not None
            if start is None:  # never committed: from the log start (asked once)
                if tp not in log_start:
                    log_start.update(await consumer.earliest_offsets(*waiting))
                start = log_start.get(tp)
            if start is None:
                continue
            gaps = [o for gap in consumer._gap.get(tp, ()) for o in range(gap.begin, gap.end)]
            holes = progress.holes(tp, start, max(consumer._acked[tp]) + 1, gaps,
                                   committed=committed)
            if not holes:
                clean.add(tp)
            else:
                held.add(tp.partition)
            if holes and progress.reread(tp, holes[0]):
                stats.rereads += 1
                log.warning(
                    "%s/%s: offsets from %d were not delivered; re-reading from there",
                    tp.topic, tp.partition, holes[0],
                )
                await consumer.seek(tp, holes[0])
        # Partition p's topics share one transaction: committing it commits the outputs and
        # table writes of every event processed in it, so it commits only when none of
        # p's topics has a hole (else events past a hole would be out, their offsets not).
        clean = {tp for tp in clean if tp.partition not in held}
        if clean:
            await consumer.commit(clean)
            uncommitted.committed({tp.partition for tp in clean})
        progress.prune({tp: consumer._committed_offset.get(tp) for tp in waiting})


def _log_ends(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Log end offsets (blocking; a short-lived confluent-kafka consumer)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers,
                         "group.id": f"{settings.app_id}-watchdog", "enable.auto.commit": False})
    try:
        return {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                for t, p in tps}
    finally:
        consumer.close()


@app.timer(interval=5.0)  # type: ignore[untyped-decorator]
async def unstick() -> None:
    """Nudge partitions Faust stopped delivering (``streams.progress.Stalls``): seek each to
    its committed offset (else the log start). Re-delivered offsets are acked, not processed
    again (``consume``)."""
    if not ready:
        return
    consumer: Any = app.consumer
    watched = {d.topic for d in ENABLED} | ({ALERT_EVENTS} if settings.alerts else set())
    tps = [tp for tp in consumer.assignment() if tp.topic in watched]
    if not tps:
        return
    try:
        ends = await asyncio.to_thread(_log_ends, [(tp.topic, tp.partition) for tp in tps])
    except Exception as exc:  # noqa: BLE001 - a watchdog never stops the worker
        log.debug("watchdog: end offsets not available: %s", exc)
        return
    now = time.monotonic()
    for tp in tps:
        read = consumer._read_offset.get(tp)  # noqa: SLF001
        end = ends.get((tp.topic, tp.partition))
        if stalls.check(tp, read, end, now):
            # from the committed offset (else the log start): messages Faust dropped before
            # the stall come again; the ones already processed are only acked (``consume``)
            committed = consumer._committed_offset.get(tp)  # noqa: SLF001
            if committed is None:
                committed = (await consumer.earliest_offsets(tp)).get(tp)
            offset = committed or 0
            log.warning("%s/%s: no record delivered for %.0f s below the end %s; seeking to %d",
                        tp.topic, tp.partition, stalls.stall_s, end, offset)
            stats.rereads += 1
            async with processing:
                await consumer.seek(tp, offset)


async def roll_back(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    """Partitions are revoked (a rebalance): Faust drops its transactional producers without
    committing, so undo the local table writes of those open transactions
    (``streams.restore.Uncommitted``); the events come again from the committed offsets."""
    async with processing:
        undone = uncommitted.rollback()
    if undone:
        log.info("rebalance: rolled back %d uncommitted table writes", undone)


app.on_partitions_revoked.connect(roll_back)  # type: ignore[arg-type]  # mode types it narrowly


@app.task  # type: ignore[untyped-decorator]
async def announce_ready() -> None:
    """Log ``STREAMS READY`` once tables are recovered and partitions are assigned."""
    global ready  # noqa: PLW0603 - one flag for /health
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    while not (app.consumer.assignment() and recovery.completed.is_set()):
        await asyncio.sleep(0.2)
    assigned: dict[str, list[int]] = {}
    for tp in app.consumer.assignment():
        assigned.setdefault(tp.topic, []).append(tp.partition)
    raw = {d.topic for d in ENABLED}
    line = "; ".join(f"{t} {sorted(p)}" for t, p in sorted(assigned.items()) if t in raw)
    ready = True
    log.info("STREAMS READY: partitions %s", line)


def status() -> list[dict[str, Any]]:
    """``/health``: one line per agent; unhealthy before partitions are assigned or stopping."""
    healthy = ready and not app.should_stop
    return [{**m.status(), "healthy": healthy} for m in metrics.values()]


@app.task  # type: ignore[untyped-decorator]
async def roster_reader() -> None:
    """Follow every partition of the roster topics into ``ROSTER`` (the join by email)."""
    if OPTIONS.enricher is None:
        return
    reader = RosterReader({"bootstrap.servers": settings.bootstrap_servers},
                          codecs().decode_raw, ROSTER)
    reader.start()
    try:
        await app.wait_until_stopped()
    finally:
        reader.stop()


@app.task  # type: ignore[untyped-decorator]
async def serve_metrics() -> None:
    """Prometheus ``/metrics`` and ``/health`` on ``STREAMS_METRICS_PORT`` (0: off)."""
    if not settings.metrics_port:
        return
    from connector.health import serve

    await serve(status, settings.metrics_port)
    log.info("metrics on :%d/metrics, health on :%d/health", settings.metrics_port,
             settings.metrics_port)


@app.timer(interval=PROGRESS_INTERVAL_S)  # type: ignore[untyped-decorator]
async def report_progress() -> None:
    """Periodic progress line."""
    log.info("streams progress: %s", stats.line())
