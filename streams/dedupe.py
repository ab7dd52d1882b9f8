"""Dedup tables, one per raw topic, and the expiry timer of the event tables.

Each table is co-partitioned with its raw topic (same key, same partition count, murmur2),
so no repartition is needed.

- Event datasets (``<dataset>-seen``, e.g. ``audit_logs-seen``): Kafka key (the dataset's
  dedup key) -> first-seen epoch seconds. Expiry is a plain timer that deletes keys older
  than ``STREAMS_DEDUP_HORIZON_S`` and writes tombstones, which keeps the changelog bounded
  (windowed tables neither tombstone nor expire keys restored from the changelog).
- Roster datasets (``members-state``, ``access_users-state``): compacted current state, one
  key per user whose later changes reuse the key, so the key alone cannot deduplicate.
  The table holds a digest of the user's last published state; a record is dropped only
  when it repeats that state (two connectors publishing the same snapshot), a removal
  (tombstone) deletes the entry. A user going A -> B -> A yields three events, which a
  key + digest "seen" set would not. No expiry: the table is as large as the roster.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from . import restore
from .app import app, settings
from .routing import Dataset
from .topics import ENABLED

log = logging.getLogger(__name__)


def _table(dataset: Dataset) -> Any:
    if dataset.roster:
        return app.Table(
            dataset.table,
            key_type=bytes,
            value_type=str,
            partitions=settings.topic_partitions,
            help=f"{dataset.name} user key -> digest of the last state published.",
        )
    return app.Table(
        dataset.table,
        key_type=bytes,
        value_type=int,
        partitions=settings.topic_partitions,
        help=f"{dataset.name} key -> first-seen epoch seconds (dedup; expired by a timer).",
    )


#: dataset name -> its dedup table; ``ALERT_TABLE`` -> the alert rules' state
tables: dict[str, Any] = {d.name: _table(d) for d in ENABLED}
ALERT_TABLE = "alert-state"
if settings.alerts:
    tables[ALERT_TABLE] = app.Table(
        ALERT_TABLE,
        key_type=bytes,
        partitions=settings.topic_partitions,
        help="<rule uid>|<subject> -> the rule's state (JSON); spent states are swept.",
    )

#: How often the expiry timer runs: a tenth of the horizon, between 1 s and 10 min.
SWEEP_INTERVAL_S = float(min(max(settings.dedup_horizon_s // 10, 1), 600))


def first_sighting(table: Mapping[bytes, int | None], key: bytes) -> bool:
    """True when ``key`` has not been seen within the horizon (it is not in ``table``)."""
    return table.get(key) is None


def state_digest(record: Mapping[str, Any]) -> str:
    """A digest of a decoded roster record (canonical JSON, sha256, 32 hex)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def repeated_state(table: Mapping[bytes, str | None], key: bytes, digest: str) -> bool:
    """True when ``digest`` is the state last published for ``key``."""
    return table.get(key) == digest


def expired(items: Iterable[tuple[bytes, int | None]], now: int, horizon_s: int) -> list[bytes]:
    """Keys first seen at or before ``now - horizon_s`` (values that are not ints count too)."""
    cutoff = now - horizon_s
    return [key for key, first in items if not isinstance(first, int) or first <= cutoff]


async def expire(
    store: MutableMapping[bytes, int | None],
    tombstone: Callable[[bytes], Awaitable[object]],
    now: int,
    horizon_s: int,
) -> int:
    """Delete expired keys from ``store`` and write a tombstone for each; return how many."""
    keys = expired(list(store.items()), now, horizon_s)
    for n, key in enumerate(keys, 1):
        store.pop(key, None)
        await tombstone(key)
        if n % 500 == 0:
            await asyncio.sleep(0)
    return len(keys)


def tombstone_writer(table: Any) -> Callable[[bytes], Awaitable[object]]:
    # Not through the Table API: a timer has no current event (so no source partition),
    # and under exactly_once a changelog write outside an event would sit in a transaction
    # that only commits with that partition's next event, and time out on idle partitions.
    # A plain (idempotent, non-transactional) write is safe: the key's last set is days old
    # and long committed. The default partitioner (murmur2) puts it in the key's partition.
    topic = table.changelog_topic.get_topic_name()

    async def send(key: bytes) -> object:
        return await app.producer.send(topic, key, None, None, None, None)

    return send


@app.timer(interval=SWEEP_INTERVAL_S)  # type: ignore[untyped-decorator]
async def expire_seen() -> None:
    """Drop keys older than ``STREAMS_DEDUP_HORIZON_S`` from the event dedup tables."""
    for dataset in ENABLED:
        if dataset.roster:
            continue
        table = tables[dataset.name]
        n = await expire(
            table.data, tombstone_writer(table), int(time.time()), settings.dedup_horizon_s
        )
        if n:
            log.info(
                "dedup table %s: expired %d keys older than %ds",
                dataset.table, n, settings.dedup_horizon_s,
            )


async def catch_up(sender: Any, *_: Any, signal: Any = None, **__: Any) -> None:
    """Read the active changelog partitions to their end before the raw partitions resume
    (``streams.restore``: Faust's recovery can skip them after a crash)."""
    recovery: Any = app.tables.recovery  # type: ignore[attr-defined]
    by_topic: dict[str, Any] = {}
    starts: dict[tuple[str, int], int | None] = {}
    for table in tables.values():
        tps = recovery.actives_for_table.get(table, set())
        if tps:
            by_topic[table.changelog_topic.get_topic_name()] = table
            starts.update(restore.starts_for(table, tps))
    if not starts:
        return
    began = time.monotonic()
    conf = {"bootstrap.servers": settings.bootstrap_servers}
    records, read = await asyncio.to_thread(restore.read_to_end, conf, starts)
    applied: dict[str, int] = {}
    for topic, table in by_topic.items():
        mine = [r for r in records if r.topic == topic]
        if mine:
            applied[table.name] = restore.apply(table, mine)
    fresh = sum(1 for start in starts.values() if start is None)
    log.info(
        "tables caught up with their changelogs in %.1f s: %d partitions (%d from the log"
        " start), %d records read, %s",
        time.monotonic() - began, len(starts), fresh, read,
        ", ".join(f"{n}={k}" for n, k in sorted(applied.items())) or "nothing to apply",
    )


app.on_rebalance_complete.connect(catch_up)  # type: ignore[arg-type]  # mode types it narrowly
