"""The audit-log agent: dedupe -> decode -> normalize -> encode -> send (or dead-letter)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from schemas.registry import registry_client

from . import dlq
from .app import app, settings
from .codecs import Codecs, connect
from .dedupe import seen
from .pipeline import Duplicate, Output, process
from .topics import DLQ, SIEM_AUDIT, raw_audit_logs

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
COMMIT_INTERVAL_S = 1.0

#: Held while one event is handled and acked, and while offsets commit. Faust's own commit
#: runs concurrently with the agent, so under exactly_once a transaction could commit the
#: output of an event whose offset it does not include (kill -9 then duplicates it). Faust's
#: timed commits are disabled in streams.app; this module commits between events instead.
processing = asyncio.Lock()


@dataclass
class Stats:
    """Counters since the worker started, logged every ``PROGRESS_INTERVAL_S``."""

    received: int = 0
    sent: int = 0
    duplicates: int = 0
    dead_letters: int = 0

    def line(self) -> str:
        """``received=.. sent=.. duplicates=.. dead_letters=..``."""
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


stats = Stats()


def codecs() -> Codecs:
    """The worker's codecs (set at start by ``StreamsApp``; built here if it was not)."""
    if app.codecs is None:
        app.codecs = connect(registry_client(settings.registry_url))
    found: Codecs = app.codecs
    return found


async def handle(event: Any) -> None:
    """Process one raw event; outputs and changelog writes join its partition's transaction."""
    message = event.message
    outcome = process(message.key, message.value, dict(message.headers or ()), seen, codecs())
    stats.received += 1
    if isinstance(outcome, Duplicate):
        stats.duplicates += 1
    elif isinstance(outcome, Output):
        seen[outcome.key] = int(time.time())
        await publish(SIEM_AUDIT, outcome.key, outcome.value, message)
        await _flush_changelog()
        stats.sent += 1
    else:
        now = datetime.now(UTC)
        headers = dlq.headers(outcome, message.topic, message.partition, message.offset, now)
        await publish(DLQ, message.key, message.value, message, headers)
        stats.dead_letters += 1
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
) -> None:
    """Write to ``topic``'s partition equal to the source's, in the source partition's transaction.

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
        topic, key, value, source.partition, None, headers, transactional_id=transactional_id
    )


async def _flush_changelog() -> None:
    # Table writes go to the producer's buffer; hand them to the transactional producer
    # before this event is acked, so they commit with its offset (Faust's EOS commit does
    # not drain that buffer first).
    buffer = app.producer.buffer
    if buffer.size:
        await buffer.flush()


@app.agent(raw_audit_logs, name="audit_logs")
async def process_audit_logs(stream: Any) -> None:
    """Consume ``cloudflare.audit_logs.v1`` (read_committed under exactly_once)."""
    async for event in stream.events():
        async with processing:
            await handle(event)
            event.ack()


@app.timer(interval=COMMIT_INTERVAL_S)  # type: ignore[untyped-decorator]
async def commit() -> None:
    """Commit acked offsets (under exactly_once: end each partition's transaction)."""
    async with processing:
        await app.consumer.commit()


@app.task  # type: ignore[untyped-decorator]
async def announce_ready() -> None:
    """Log ``STREAMS READY`` once tables are recovered and partitions are assigned."""
    while not app.consumer.assignment():
        await asyncio.sleep(0.2)
    topic = raw_audit_logs.get_topic_name()
    assigned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topic)
    log.info("STREAMS READY: %s partitions %s", topic, assigned)


@app.timer(interval=PROGRESS_INTERVAL_S)  # type: ignore[untyped-decorator]
async def report_progress() -> None:
    """Periodic progress line."""
    log.info("streams progress: %s", stats.line())
