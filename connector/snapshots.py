"""Roster snapshots (members, Zero Trust users) into compacted, keyed-by-user topics.

Every ``interval_s`` the runner lists the whole roster, compares it with the roster the
topic already holds and publishes only the differences, in ONE Kafka transaction together
with the checkpoint, so a crash never leaves a half-applied snapshot:

- value = the user's current state exactly as Cloudflare sends it (Avro, unknown fields in
  ``extra``); a removed user is a tombstone (null value), so after compaction the topic is
  the current roster and a consumer's table of it is too;
- key = ``<account id>/<user key>``: per user, and scoped by account so that one account's
  tombstone can never delete another account's row of the same user;
- headers ``cf.change`` = ``added`` | ``changed`` | ``removed``, ``cf.changed_fields``
  (comma list of dotted field paths, on ``changed``), ``cf.fingerprint`` (JSON map of
  field path -> short sha256 of its value), ``cf.snapshot_at``, ``cf.feed``, ``cf.scope``.

Every field counts in the fingerprint (``SnapshotFeed.ignored_fields`` is empty), so the
compacted value stays current, ``last_successful_login`` included: a login shows up as one
``changed`` record with ``cf.changed_fields=last_successful_login`` at the next snapshot.

The previous state is the topic itself: at start the runner reads the compacted topic with
``read_committed`` to its high watermark and rebuilds ``key -> fingerprint`` from the
headers (no registry or Avro decoding needed); tombstones drop keys. The checkpoint in the
offsets topic stays small and flat (``snapshot_at``, ``users``, ``digest`` of the roster) and
serves for scheduling after a restart, liveness (it is committed even when nothing changed)
and a consistency check of the rebuilt state.

Removals are only ever derived from a complete, consistent listing: any API error aborts the
snapshot, and a listing whose ``total_count`` moved between pages or that holds a key twice
(pages shifted under a concurrent change) is retried, then abandoned until the next try.

This module is the runner; the feeds are declared in ``connector.roster_feeds`` and the
published roster is rebuilt by ``connector.roster``. Their names are re-exported here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector import metrics
from connector.checkpoints import CheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.cursor import format_time, parse_time
from connector.errors import CheckpointError, PublishError, RecordError, RetriableSourceError
from connector.publisher import Publisher
from connector.records import Headers, OutRecord, dead_letter
from connector.roster import (
    KafkaRosterReader,
    Roster,
    RosterReader,
    apply_record,
    load_roster,
    replay,
    roster_digest,
)
from connector.roster_feeds import (
    SNAPSHOT_FEEDS,
    TOPIC_CONFIG,
    AccessUsers,
    Fingerprint,
    Members,
    SnapshotFeed,
)
from connector.supervise import supervise
from connector.waits import wait_or_stop
from schemas.registry import Encoder

__all__ = [
    "ADDED",
    "CHANGED",
    "REMOVED",
    "SNAPSHOT_FEEDS",
    "TOPIC_CONFIG",
    "AccessUsers",
    "Fingerprint",
    "InconsistentListingError",
    "KafkaRosterReader",
    "Members",
    "Roster",
    "RosterReader",
    "SnapshotFeed",
    "SnapshotPolicy",
    "SnapshotResult",
    "SnapshotRunner",
    "apply_record",
    "load_roster",
    "replay",
    "roster_digest",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ADDED, CHANGED, REMOVED = "added", "changed", "removed"


class InconsistentListingError(RetriableSourceError):
    """The roster changed while it was paged through; the snapshot is retried later."""


@dataclass(frozen=True)
class SnapshotPolicy:
    """How often and how the roster is listed."""

    interval_s: float = 3600.0
    per_page: int | None = None  # None: the feed's default
    list_attempts: int = 3  # listings tried before an inconsistent snapshot is given up


@dataclass
class SnapshotResult:
    """What one committed snapshot published (Kafka keys)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)  # content hashes

    @property
    def dead_letters(self) -> int:
        """How many records went to the DLQ."""
        return len(self.dead_lettered)


class SnapshotRunner:
    """Snapshots one roster feed for one account until ``stop`` is set; exactly once."""

    def __init__(
        self, feed: SnapshotFeed, scope_id: str, *, client: CloudflareClient,
        publisher: Publisher, store: CheckpointStore, reader: RosterReader, encoder: Encoder,
        policy: SnapshotPolicy, clock: Clock, stop: asyncio.Event,
        backoff: Backoff | None = None,
    ) -> None:
        """Wire the seams; nothing runs until ``run``."""
        self.feed, self.scope_id = feed, scope_id
        self.partition = feed.partition(scope_id)
        self.key_prefix = f"{scope_id}/"
        self._client, self._publisher, self._store = client, publisher, store
        self._reader, self._encoder, self._policy = reader, encoder, policy
        self._clock, self._stop = clock, stop
        self._backoff = backoff or Backoff()
        wanted = min(policy.per_page or feed.per_page, feed.max_per_page or 1 << 31)
        self._per_page = max(feed.min_per_page, wanted)
        self._dead_lettered: set[str] = set()
        self.roster: Roster | None = None  # None until started (and after a Kafka failure)
        self.last_snapshot: datetime | None = None
        self.published = 0

    @property
    def _scope(self) -> str:
        return f"{self.feed.scope}:{self.scope_id}"

    async def run(self) -> None:
        """Snapshot every ``interval_s``; Kafka and transient API failures are retried."""
        await supervise(self._step, stop=self._stop, backoff=self._backoff,
                        retry_on=(PublishError, CheckpointError, RetriableSourceError),
                        on_failure=self._failed, name=f"{self.feed.name} {self._scope}",
                        log=log)

    async def _step(self) -> bool:
        if self.roster is None:
            await self.start()
        due = self.due_in()
        if due > 0:
            await self._wait(due)
            return False
        await self.snapshot_once()
        return True

    def _failed(self, exc: Exception) -> None:
        """A Kafka failure restarts the publisher and reloads the roster; an API one not."""
        if not isinstance(exc, RetriableSourceError):
            self.roster = None
            metrics.TRANSACTION_FAILURES.labels(self.feed.name).inc()

    async def start(self) -> None:
        """(Re)start the publisher (fencing), then rebuild the roster the topic holds."""
        await asyncio.to_thread(self._publisher.start)
        offset = await asyncio.to_thread(self._store.load, self.partition)
        roster = await asyncio.to_thread(self._reader.load, self.feed.topic, self.key_prefix)
        self.last_snapshot = None
        if offset is not None and isinstance(offset.get("snapshot_at"), str):
            self.last_snapshot = parse_time(offset["snapshot_at"])
            if offset.get("digest") != roster_digest(roster):
                log.warning("%s %s: %s does not hold the roster of the last checkpoint (%s "
                            "users, %d read); the next snapshot republishes the difference",
                            self.feed.name, self._scope, self.feed.topic, offset.get("users"),
                            len(roster))
        self.roster = roster
        log.info("%s %s: %d users in %s, last snapshot %s", self.feed.name, self._scope,
                 len(roster), self.feed.topic,
                 format_time(self.last_snapshot) if self.last_snapshot else "never")

    def due_in(self) -> float:
        """Seconds until the next snapshot is due (0: now)."""
        if self.last_snapshot is None:
            return 0.0
        elapsed = (self._clock() - self.last_snapshot).total_seconds()
        return max(0.0, self._policy.interval_s - elapsed)

    async def snapshot_once(self) -> SnapshotResult | None:
        """List the roster and commit its differences with the checkpoint (None if stopped)."""
        roster = self.roster
        assert roster is not None  # noqa: S101 - start() runs first
        listing = await self._list()
        if listing is None:
            return None
        now = self._clock()
        result, records, new_roster = self._diff(roster, listing, now)
        offset = {"snapshot_at": format_time(now), "users": len(new_roster),
                  "digest": roster_digest(new_roster)}
        records.append(self._store.record(self.partition, offset))
        await asyncio.to_thread(self._publisher.publish, records)
        self.roster, self.last_snapshot = new_roster, now
        self._dead_lettered.update(result.dead_lettered)
        fresh = len(result.added) + len(result.changed) + len(result.removed)
        self.published += fresh
        metrics.committed(self.feed.name, self.scope_id, events=fresh,
                          dead_letters=result.dead_letters,
                          value_bytes=sum(len(r.value or b"") for r in records
                                            if r.topic == self.feed.topic))
        log.info("%s %s: snapshot of %d users: %d added, %d changed, %d removed%s",
                 self.feed.name, self._scope, len(new_roster), len(result.added),
                 len(result.changed), len(result.removed),
                 f", {result.dead_letters} dead letters" if result.dead_letters else "")
        return result

    async def _list(self) -> list[Mapping[str, Any]] | None:
        """The whole roster from one consistent listing; raise on API errors."""
        for attempt in range(1, self._policy.list_attempts + 1):
            rows: list[Mapping[str, Any]] = []
            totals: set[int] = set()
            page = 1
            while True:
                if self._stop.is_set():
                    return None
                body = await self._client.get(self.feed.url(self.scope_id),
                                              self.feed.params(page, self._per_page))
                results = [r for r in body.get("result") or [] if isinstance(r, Mapping)]
                rows.extend(results)
                info = body.get("result_info")
                info = info if isinstance(info, Mapping) else {}
                total, pages, size = (info.get(k) for k in ("total_count", "total_pages",
                                                               "per_page"))
                if isinstance(total, int):
                    totals.add(total)
                    if len(rows) > total:
                        break  # more rows than the roster holds: reported as inconsistent
                size = size if isinstance(size, int) and size > 0 else self._per_page
                if len(results) < size or (isinstance(pages, int) and page >= pages):
                    break
                page += 1
            ids = [self._ident(r) for r in rows]
            if len(totals) <= 1 and len(set(ids)) == len(ids) and totals <= {len(rows)}:
                return rows
            log.warning("%s %s: the roster changed during listing %d (total_count %s, %d "
                        "rows); listing again", self.feed.name, self._scope, attempt,
                        sorted(totals), len(rows))
        msg = f"{self.feed.name} roster kept changing while it was listed; snapshot skipped"
        raise InconsistentListingError(msg, url=f"GET {self.feed.url(self.scope_id)}")

    def _ident(self, raw: Mapping[str, Any]) -> str:
        try:
            return self.feed.user_key(raw)
        except RecordError:
            return _canonical(raw)

    def _diff(
        self, old: Roster, listing: list[Mapping[str, Any]], now: datetime
    ) -> tuple[SnapshotResult, list[OutRecord], Roster]:
        """The records that turn ``old`` into ``listing``, and the resulting roster."""
        result, records, new, unkeyed = SnapshotResult(), list[OutRecord](), Roster(), 0
        base = [("cf.feed", self.feed.name.encode()), ("cf.scope", self._scope.encode()),
                ("cf.snapshot_at", format_time(now).encode())]
        for raw in listing:
            try:
                key = self.key_prefix + self.feed.user_key(raw)
            except RecordError as exc:
                unkeyed += 1
                self._maybe_dead_letter(raw, None, exc, records, result)
                continue
            fingerprint = self.feed.fingerprint(raw)
            before = old.get(key)
            if before == fingerprint:
                new[key] = fingerprint
                continue
            try:
                value = self._encoder.encode(self.feed.to_value(raw))
            except (RecordError, ValueError, TypeError) as exc:
                if before is not None:
                    new[key] = before  # still there: keep the last good state, no tombstone
                self._maybe_dead_letter(raw, key, exc, records, result)
                continue
            headers: Headers = [*base, ("cf.change", (ADDED if before is None else CHANGED)
                                        .encode())]
            if before is None:
                result.added.append(key)
            else:
                changed = sorted(f for f in before.keys() | fingerprint.keys()
                                 if before.get(f) != fingerprint.get(f))
                headers.append(("cf.changed_fields", ",".join(changed).encode()))
                result.changed.append(key)
            headers.append(("cf.fingerprint", json.dumps(fingerprint, sort_keys=True,
                                                         separators=(",", ":")).encode()))
            records.append(OutRecord(self.feed.topic, key.encode(), value, headers))
            new[key] = fingerprint
        missing = sorted(old.keys() - new.keys())
        if unkeyed and missing:
            # an unkeyed record may be one of them: a removal must rest on a full listing
            log.warning("%s %s: %d records without a key; %d removals postponed",
                        self.feed.name, self._scope, unkeyed, len(missing))
            new.update((key, old[key]) for key in missing)
            missing = []
        for key in missing:
            records.append(OutRecord(self.feed.topic, key.encode(), None,
                                     [*base, ("cf.change", REMOVED.encode())]))
            result.removed.append(key)
        return result, records, new

    def _maybe_dead_letter(
        self, raw: Mapping[str, Any], key: str | None, exc: Exception, records: list[OutRecord],
        result: SnapshotResult,
    ) -> None:
        """Dead-letter a bad record once per content (not on every snapshot)."""
        content = _canonical(raw)
        if content in self._dead_lettered:
            return
        records.append(dead_letter(
            key=key.encode() if key else None,
            value=json.dumps(raw, separators=(",", ":")).encode(),
            reason=f"{type(exc).__name__}: {exc}", stage="encode",
            source=f"connector/{self.feed.name}/{self._scope}", now=self._clock()))
        result.dead_lettered.append(content)  # remembered once the transaction commits

    async def _wait(self, seconds: float) -> None:
        await wait_or_stop(self._stop, seconds)


def _canonical(raw: Mapping[str, Any]) -> str:
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
