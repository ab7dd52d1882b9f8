"""Run a feed for one scope: fetch pages, encode, publish with the checkpoint, repeat."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector import metrics
from connector.checkpoints import CheckpointStore, commit_record
from connector.client import Backoff, CloudflareClient
from connector.cursor import HighWaterMark, format_time
from connector.errors import CheckpointError, PublishError, RecordError
from connector.feeds.base import PullFeed
from connector.publisher import Publisher
from connector.records import OutRecord, dead_letter
from connector.supervise import supervise
from connector.waits import wait_or_stop
from schemas.registry import Encoder

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class FeedPolicy:
    """How often and how far a feed polls."""

    poll_interval_s: float = 60.0
    settle_lag_s: float = 60.0
    start_lookback_s: float = 7 * 86400.0
    per_page: int = 1000


class FeedRunner:
    """Runs one feed for one scope until ``stop`` is set; exactly once into Kafka.

    Each page is one Kafka transaction holding its new records, its dead letters and the
    checkpoint that covers them. The in-memory position moves only after the commit; on any
    publish failure the publisher is restarted and the position reloaded from Kafka.
    """

    def __init__(
        self,
        feed: PullFeed,
        scope_id: str,
        *,
        client: CloudflareClient,
        publisher: Publisher,
        store: CheckpointStore,
        encoder: Encoder,
        policy: FeedPolicy,
        clock: Clock,
        stop: asyncio.Event,
        backoff: Backoff | None = None,
    ) -> None:
        """Wire the seams; nothing runs until ``run``."""
        self.feed = feed
        self.scope_id = scope_id
        self.partition = feed.partition(scope_id)
        self._client = client
        self._publisher = publisher
        self._store = store
        self._encoder = encoder
        self._policy = policy
        self._clock = clock
        self._stop = stop
        self._backoff = backoff or Backoff()
        self.mark: HighWaterMark | None = None
        self.published = 0
        self.dead_letters = 0

    @property
    def _scope(self) -> str:
        return f"{self.feed.scope}:{self.scope_id}"

    async def run(self) -> None:
        """Poll forever (until ``stop``); Kafka failures are retried, never skipped."""
        await supervise(self._step, stop=self._stop, backoff=self._backoff,
                        retry_on=(PublishError, CheckpointError), on_failure=self._failed,
                        name=f"{self.feed.name} {self._scope}", log=log)

    async def _step(self) -> bool:
        if self.mark is None:
            await self.start()
        await self.poll_once()
        await self._wait(self._policy.poll_interval_s)
        return True

    def _failed(self, exc: Exception) -> None:
        """A transaction failed: restart the publisher and reload the position."""
        self.mark = None
        metrics.TRANSACTION_FAILURES.labels(self.feed.name).inc()

    async def start(self) -> None:
        """(Re)start the publisher, fencing older instances, then load the committed mark."""
        await asyncio.to_thread(self._publisher.start)
        offset = await asyncio.to_thread(self._store.load, self.partition)
        if offset is None:
            self.mark = HighWaterMark.start(self._clock(), self._policy.start_lookback_s)
            log.info("%s %s: no checkpoint, starting at %s", self.feed.name, self._scope,
                     format_time(self.mark.since))
        else:
            self.mark = HighWaterMark.from_offset(offset)
            log.info("%s %s: resuming after %s (%d ids at that time)", self.feed.name,
                     self._scope, format_time(self.mark.since), len(self.mark.ids))

    async def poll_once(self) -> int:
        """Fetch everything up to now minus the settle lag; return the events published."""
        mark = self.mark
        assert mark is not None  # noqa: S101 - run() starts first
        before = self._clock() - timedelta(seconds=self._policy.settle_lag_s)
        if before <= mark.since:
            return 0
        total = 0
        params: dict[str, Any] | None = self.feed.first_page(mark.since, before,
                                                             self._policy.per_page)
        while params is not None and not self._stop.is_set():
            body = await self._client.get(self.feed.url(self.scope_id), params)
            results: list[Mapping[str, Any]] = [r for r in body.get("result") or [] if r]
            new_mark, records = self._page_records(mark, results)
            if records:
                fresh = len(records) - self._last_dlq
                records.append(self._store.record(self.partition, new_mark.to_offset()))
                records.append(commit_record(self.partition, {
                    "from": format_time(mark.since), "to": format_time(new_mark.since),
                    "records": fresh, "dead_letters": self._last_dlq,
                    "committed_at": format_time(self._clock()),
                }))
                await asyncio.to_thread(self._publisher.publish, records)
                total += fresh
                self._committed(fresh, new_mark, sum(len(r.value or b"") for r in records
                                                     if r.topic == self.feed.topic))
            params = self.feed.next_page(params, body, results, new_mark.since)
            self.mark = mark = new_mark
        metrics.CURSOR_LAG.labels(self.feed.name, self.scope_id).set(
            (self._clock() - mark.since).total_seconds()
        )
        return total

    def _page_records(
        self, mark: HighWaterMark, results: Sequence[Mapping[str, Any]]
    ) -> tuple[HighWaterMark, list[OutRecord]]:
        """Encode the page's new events (dead letters for bad ones); return the next mark."""
        records: list[OutRecord] = []
        seen: list[tuple[datetime, str]] = []
        self._last_dlq = 0
        for raw in results:
            try:
                when = self.feed.time(raw)
            except RecordError as exc:
                records.append(self._dead_letter(raw, exc))
                continue
            position_id = _position_id(self.feed, raw)
            if not mark.is_new(when, position_id):
                continue
            seen.append((when, position_id))
            try:
                key = self.feed.key(raw)
                value = self._encoder.encode(self.feed.to_value(raw))
            except (RecordError, ValueError, TypeError) as exc:
                records.append(self._dead_letter(raw, exc))
                continue
            records.append(OutRecord(self.feed.topic, key.encode(), value, self._headers))
        return mark.advance(seen), records

    def _dead_letter(self, raw: Mapping[str, Any], exc: Exception) -> OutRecord:
        self._last_dlq += 1
        key = raw.get(self.feed.key_field)
        return dead_letter(
            key=key.encode() if isinstance(key, str) else None,
            value=json.dumps(raw, separators=(",", ":")).encode(),
            reason=f"{type(exc).__name__}: {exc}",
            stage="encode",
            source=f"connector/{self.feed.name}/{self._scope}",
            now=self._clock(),
        )

    @property
    def _headers(self) -> list[tuple[str, bytes]]:
        return [("cf.feed", self.feed.name.encode()), ("cf.scope", self._scope.encode())]

    def _committed(self, fresh: int, mark: HighWaterMark, value_bytes: int) -> None:
        self.published += fresh
        self.dead_letters += self._last_dlq
        metrics.committed(self.feed.name, self.scope_id, events=fresh,
                          dead_letters=self._last_dlq, value_bytes=value_bytes)
        log.info("%s %s: committed %d events%s, position %s", self.feed.name, self._scope,
                 fresh, f" and {self._last_dlq} dead letters" if self._last_dlq else "",
                 format_time(mark.since))

    async def _wait(self, seconds: float) -> None:
        await wait_or_stop(self._stop, seconds)

    _last_dlq = 0


def _position_id(feed: PullFeed, raw: Mapping[str, Any]) -> str:
    """The id used in the high-water mark: the dedup key, or a hash if the record has none."""
    try:
        return feed.key(raw)
    except RecordError:
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(canonical).hexdigest()

