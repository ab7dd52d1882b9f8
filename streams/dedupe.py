"""Dedup rules, one table per raw topic (``streams.state``), and the expiry of event keys.

Each table is co-partitioned with its raw topic (same key, same partition count, murmur2),
so no repartition is needed.

- Event datasets (``<dataset>-seen``, e.g. ``audit_logs-seen``): Kafka key (the dataset's
  dedup key) -> first-seen epoch seconds. The worker's sweep deletes keys older than
  ``STREAMS_DEDUP_HORIZON_S`` and writes tombstones in a transaction, which keeps the
  changelog bounded.
- Roster datasets (``members-state``, ``access_users-state``): compacted current state, one
  key per user whose later changes reuse the key, so the key alone cannot deduplicate.
  The table holds a digest of the user's last published state; a record is dropped only
  when it repeats that state (two connectors publishing the same snapshot), a removal
  (tombstone) deletes the entry. A user going A -> B -> A yields three events, which a
  key + digest "seen" set would not. No expiry: the table is as large as the roster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def sweep_interval_s(horizon_s: int) -> float:
    """How often the expiry sweep runs: a tenth of the horizon, between 1 s and 10 min."""
    return float(min(max(horizon_s // 10, 1), 600))


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
