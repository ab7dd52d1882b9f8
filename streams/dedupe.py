"""The ``audit_logs-seen`` table (event id -> first-seen epoch seconds) and its expiry timer.

The table is co-partitioned with ``cloudflare.audit_logs.v1`` (same key, same partition
count, murmur2), so no repartition is needed. Expiry is a plain timer that deletes keys
older than the horizon and writes tombstones, which keeps the changelog bounded (windowed
tables neither tombstone nor expire keys restored from the changelog).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping

from .app import app, settings
from .topics import SEEN_TABLE

log = logging.getLogger(__name__)

seen = app.Table(
    SEEN_TABLE,
    key_type=bytes,
    value_type=int,
    partitions=settings.topic_partitions,
    help="Audit log event id -> first-seen epoch seconds (dedup; expired by a timer).",
)

#: How often the expiry timer runs: a tenth of the horizon, between 1 s and 10 min.
SWEEP_INTERVAL_S = float(min(max(settings.dedup_horizon_s // 10, 1), 600))


def first_sighting(table: Mapping[bytes, int | None], key: bytes) -> bool:
    """True when ``key`` has not been seen within the horizon (it is not in ``table``)."""
    return table.get(key) is None


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


async def _tombstone(key: bytes) -> object:
    # Not through the Table API: a timer has no current event (so no source partition),
    # and under exactly_once a changelog write outside an event would sit in a transaction
    # that only commits with that partition's next event, and time out on idle partitions.
    # A plain (idempotent, non-transactional) write is safe: the key's last set is days old
    # and long committed. The default partitioner (murmur2) puts it in the key's partition.
    return await app.producer.send(
        seen.changelog_topic.get_topic_name(), key, None, None, None, None
    )


@app.timer(interval=SWEEP_INTERVAL_S)  # type: ignore[untyped-decorator]
async def expire_seen() -> None:
    """Drop event ids older than ``STREAMS_DEDUP_HORIZON_S`` from the dedup table."""
    n = await expire(seen.data, _tombstone, int(time.time()), settings.dedup_horizon_s)
    if n:
        log.info("dedup table: expired %d event ids older than %ds", n, settings.dedup_horizon_s)
