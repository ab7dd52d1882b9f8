"""Run a windowed feed (Logpull) for one zone: plan windows, stream each, one transaction each."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from connector import metrics
from connector.checkpoints import CheckpointStore, commit_record
from connector.client import STREAM_ERROR, Backoff
from connector.cursor import format_time, parse_time
from connector.errors import (
    CheckpointError,
    PublishError,
    RecordError,
    RetriableSourceError,
)
from connector.feeds.http_requests import GAPS_TOPIC
from connector.publisher import Publisher
from connector.records import OutRecord, dead_letter
from connector.supervise import supervise
from connector.waits import wait_or_stop
from connector.windows import Window, WindowPolicy, plan_windows

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


#: Turns one item (NDJSON line or record) into (key, Confluent-framed Avro value); raises
#: ``RecordError`` (or ``ValueError``/``TypeError``) for a bad item.
LineEncoder = Callable[[Any], tuple[bytes, bytes]]


class WindowedFeed(Protocol):
    """What the runner needs to know of a windowed feed."""

    @property
    def name(self) -> str:
        """Dataset name."""

    @property
    def topic(self) -> str:
        """Raw topic."""

    @property
    def key_field(self) -> str:
        """The field that identifies a record (for dead letters)."""

    def partition(self, zone_id: str) -> dict[str, str]:
        """The checkpoint's source partition."""


Source = Callable[[Window], AsyncIterator[Any]]


class ChunkCodec(Protocol):
    """Encodes decompressed pieces of an NDJSON stream (``lines.CompiledLineCodec``)."""

    def encode_chunk(
        self, data: bytes, last: bool = False
    ) -> tuple[list[bytes], list[bytes | None], int]:
        """(keys, values, consumed): a None value leaves the raw line in ``keys[i]`` for
        ``python``; ``data[consumed:]`` is the unfinished tail (none with ``last``)."""

    def python(self, line: bytes) -> tuple[bytes, bytes]:
        """(key, value) of one line, or ``RecordError``/``ValueError``/``TypeError``."""


class WindowRunner:
    """Fetches ``[start, end)`` windows in order; each window commits atomically with its end.

    Records are produced while the gzip NDJSON stream is read (memory stays flat); a broken
    stream or an ``Error streaming data`` trailer aborts the transaction and the window is
    fetched again. A checkpoint older than the retention horizon is moved to the horizon and
    the lost range is published to ``cloudflare.gaps.v1`` in the same transaction.

    With ``chunks`` (Logpull), ``source`` yields decompressed pieces of the NDJSON body
    (``CloudflareClient.stream_chunks``), each is split and encoded at once by
    ``chunks.encode_chunk`` and produced with ``Publisher.send_many``; the lines it declines
    take the per-line path (``chunks.python``: a record, or a dead letter). Without it,
    ``source`` yields one item per record, each encoded by ``encode`` (GraphQL feeds). Both
    write the same transaction: gap record (if any), records and dead letters in stream
    order, checkpoint, commit record.
    """

    def __init__(
        self,
        feed: WindowedFeed,
        zone_id: str,
        *,
        source: Source,
        publisher: Publisher,
        store: CheckpointStore,
        encode: LineEncoder,
        encode_gap: Callable[[Mapping[str, Any]], bytes],
        policy: WindowPolicy,
        clock: Clock,
        stop: asyncio.Event,
        start_lookback_s: float = 3600.0,
        poll_interval_s: float = 60.0,
        backoff: Backoff | None = None,
        chunks: ChunkCodec | None = None,
    ) -> None:
        """Wire the seams; nothing runs until ``run``.

        ``source(window)`` yields the window's items (NDJSON lines for Logpull, records for
        GraphQL); ``encode(item)`` turns one into (key, value). With ``chunks`` the source
        yields decompressed pieces of NDJSON instead, encoded by ``chunks``.
        """
        self.feed = feed
        self.zone_id = zone_id
        self.partition = feed.partition(zone_id)
        self._source = source
        self._publisher = publisher
        self._store = store
        self._encode = encode
        self._encode_gap = encode_gap
        self._policy = policy
        self._clock = clock
        self._stop = stop
        self._lookback_s = start_lookback_s
        self._poll_interval_s = poll_interval_s
        self._backoff = backoff or Backoff()
        self._chunks = chunks
        self.window_end: datetime | None = None
        self.published = 0
        self.windows = 0

    @property
    def _scope(self) -> str:
        return f"zone:{self.zone_id}"

    def _now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    async def run(self) -> None:
        """Fetch windows until ``stop``; failures are retried, never skipped."""
        await supervise(self._step, stop=self._stop, backoff=self._backoff,
                        retry_on=(PublishError, CheckpointError, RetriableSourceError),
                        on_failure=self._failed, name=f"{self.feed.name} {self._scope}",
                        log=log)

    async def _step(self) -> bool:
        if self.window_end is None:
            await self.start()
        fetched = await self.catch_up()
        if not fetched:
            await self._wait(self._poll_interval_s)
        return True

    def _failed(self, exc: Exception) -> None:
        """A Kafka failure restarts the producer and reloads the position; an API one not."""
        if not isinstance(exc, RetriableSourceError):
            self.window_end = None

    async def start(self) -> None:
        """(Re)start the publisher (fencing) and load the committed window end."""
        await asyncio.to_thread(self._publisher.start)
        offset = await asyncio.to_thread(self._store.load, self.partition)
        if offset is None:
            now = self._now()
            self.window_end = now - self._policy.lag - timedelta(seconds=self._lookback_s)
            log.info("%s %s: no checkpoint, starting at %s", self.feed.name, self._scope,
                     format_time(self.window_end))
        else:
            self.window_end = parse_time(str(offset["window_end"]))
            log.info("%s %s: resuming at %s", self.feed.name, self._scope,
                     format_time(self.window_end))

    async def catch_up(self) -> int:
        """Fetch every window that is ready now; return how many were committed."""
        assert self.window_end is not None  # noqa: S101 - run() starts first
        plan = plan_windows(self.window_end, self._now(), self._policy)
        if plan.gap is not None and not plan.windows:
            await self._commit_gap_only(plan.gap)
        done = 0
        for index, window in enumerate(plan.windows):
            if self._stop.is_set():
                break
            await self.fetch(window, plan.gap if index == 0 else None)
            done += 1
        if self.window_end is not None:
            metrics.CURSOR_LAG.labels(self.feed.name, self.zone_id).set(
                (self._clock() - self.window_end).total_seconds()
            )
        return done

    async def fetch(self, window: Window, gap: Window | None = None) -> int:
        """Stream ``window`` into one transaction with its checkpoint (and a gap record)."""
        await asyncio.to_thread(self._publisher.begin)
        try:
            if gap is not None:
                self._publisher.send(self._gap_record(gap))
            stream = self._source(window)
            try:
                if self._chunks is None:
                    count, dead, size = await self._send_items(stream)
                else:
                    count, dead, size = await self._send_pieces(stream, self._chunks)
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:  # an async generator: close its HTTP response now
                    await close()
            self._publisher.send(
                self._store.record(self.partition, {"window_end": format_time(window.end)})
            )
            self._publisher.send(commit_record(self.partition, {
                "from": format_time(window.start), "to": format_time(window.end),
                "records": count, "dead_letters": dead, "committed_at": format_time(self._clock()),
            }))
        except BaseException:
            await asyncio.to_thread(self._publisher.abort)
            raise
        await asyncio.to_thread(self._publisher.commit)
        self.window_end = window.end
        self.published += count
        self.windows += 1
        metrics.committed(self.feed.name, self.zone_id, events=count, dead_letters=dead,
                          value_bytes=size)
        log.info("%s %s: committed window %s .. %s: %d events%s", self.feed.name, self._scope,
                 format_time(window.start), format_time(window.end), count,
                 f", {dead} dead letters" if dead else "")
        return count

    async def _send_items(self, items: AsyncIterator[Any]) -> tuple[int, int, int]:
        """One record (or dead letter) per item: (records, dead letters, value bytes)."""
        count = dead = size = 0
        async for item in items:
            try:
                key, value = self._encode(item)
            except (RecordError, ValueError, TypeError) as exc:
                self._publisher.send(self._dead_letter(item, exc))
                dead += 1
                continue
            self._publisher.send(OutRecord(self.feed.topic, key, value, self._headers))
            count += 1
            size += len(value)
        return count, dead, size

    async def _send_pieces(
        self, pieces: AsyncIterator[bytes], codec: ChunkCodec
    ) -> tuple[int, int, int]:
        """Encode and produce piece by piece: (records, dead letters, value bytes)."""
        count = dead = size = 0
        headers = self._headers  # one list for the window, shared by its records
        send_many, topic = self._publisher.send_many, self.feed.topic
        pending = b""
        async for piece in pieces:
            data = pending + piece if pending else piece
            keys, values, used = codec.encode_chunk(data)
            pending = data[used:]
            if None in values:
                n, d, b = self._send_mixed(codec, keys, values, headers)
                count, dead, size = count + n, dead + d, size + b
            elif keys:
                send_many(topic, keys, values, headers)  # type: ignore[arg-type]
                count += len(keys)
                size += sum(map(len, values))  # type: ignore[arg-type]
        keys, values, _ = codec.encode_chunk(pending, True)  # the last line, if unterminated
        n, d, b = self._send_mixed(codec, keys, values, headers)
        return count + n, dead + d, size + b

    def _send_mixed(self, codec: ChunkCodec, keys: list[bytes], values: list[bytes | None],
                    headers: list[tuple[str, bytes]]) -> tuple[int, int, int]:
        """A piece with lines the native encoder declined: those take the Python path (a
        record or a dead letter), in stream order. An ``Error streaming data`` line aborts."""
        out_keys: list[bytes] = []
        out_values: list[bytes] = []
        dead = size = 0
        for key, value in zip(keys, values, strict=True):
            if value is None:
                line = key
                if line.startswith(STREAM_ERROR):
                    msg = (f"Cloudflare reported 'Error streaming data' mid-stream "
                           f"({self.feed.name} {self._scope})")
                    raise RetriableSourceError(msg, status=200)
                try:
                    key, value = codec.python(line)
                except (RecordError, ValueError, TypeError) as exc:
                    if out_keys:  # keep the stream order around the dead letter
                        self._publisher.send_many(self.feed.topic, out_keys, out_values, headers)
                        out_keys, out_values = [], []
                    self._publisher.send(self._dead_letter(line, exc))
                    dead += 1
                    continue
            out_keys.append(key)
            out_values.append(value)
            size += len(value)
        if out_keys:
            self._publisher.send_many(self.feed.topic, out_keys, out_values, headers)
        return len(keys) - dead, dead, size

    async def _commit_gap_only(self, gap: Window) -> None:
        await asyncio.to_thread(
            self._publisher.publish,
            [self._gap_record(gap),
             self._store.record(self.partition, {"window_end": format_time(gap.end)})],
        )
        self.window_end = gap.end

    def _gap_record(self, gap: Window) -> OutRecord:
        log.warning("%s %s: %s .. %s is past Cloudflare's retention and is lost; see %s",
                    self.feed.name, self._scope, format_time(gap.start), format_time(gap.end),
                    GAPS_TOPIC)
        value = self._encode_gap({
            "feed": self.feed.name, "scope": self._scope, "start": format_time(gap.start),
            "end": format_time(gap.end), "reason": "older than the Logpull retention horizon",
            "detected_at": format_time(self._clock()),
        })
        return OutRecord(GAPS_TOPIC, f"{self.feed.name}/{self._scope}".encode(), value)

    def _dead_letter(self, item: Any, exc: Exception) -> OutRecord:
        if not isinstance(item, bytes):
            item = json.dumps(item, separators=(",", ":"), default=str).encode()
        try:
            key = json.loads(item).get(self.feed.key_field)
        except (ValueError, AttributeError):
            key = None
        return dead_letter(
            key=key.encode() if isinstance(key, str) else None, value=item,
            reason=f"{type(exc).__name__}: {exc}", stage="encode",
            source=f"connector/{self.feed.name}/{self._scope}", now=self._clock(),
        )

    @property
    def _headers(self) -> list[tuple[str, bytes]]:
        return [("cf.feed", self.feed.name.encode()), ("cf.scope", self._scope.encode())]

    async def _wait(self, seconds: float) -> None:
        await wait_or_stop(self._stop, seconds)

