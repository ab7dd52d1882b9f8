"""The Logpull window runner with a scripted transport: atomic windows, broken streams
retried, gaps recorded, memory-free streaming."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import schemas
from connector.checkpoints import MemoryCheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.errors import RetriableSourceError
from connector.feeds.http_requests import GAPS_TOPIC, HttpRequests, logpull_source
from connector.governor import Governor
from connector.lines import LineCodec
from connector.records import DLQ_TOPIC
from connector.settings import Credentials, Secret
from connector.window_runner import WindowRunner
from schemas.registry import Encoder

ZONE = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


class FakePublisher:
    def __init__(self, store):
        self.store, self.records, self.pending, self.aborts = store, [], [], 0

    def start(self):
        pass

    def begin(self):
        self.pending = []

    def send(self, record):
        self.pending.append(record)

    def commit(self):
        for record in self.pending:
            if record.topic == self.store.topic:
                self.store.apply(record)
            else:
                self.records.append(record)
        self.pending = []

    def abort(self):
        self.pending = []
        self.aborts += 1

    def publish(self, records):
        self.begin()
        for r in records:
            self.send(r)
        self.commit()

    def close(self):
        pass


def _lines(start, n):
    return [json.dumps({"RayID": f"{start:08x}{i:08x}", "ClientIP": "192.0.2.1",
                        "EdgeStartTimestamp": 1_795_000_000_000_000_000 + i,
                        "EdgeResponseStatus": 200}).encode() for i in range(n)]


def _runner(handler, store, publisher, lookback_s=3 * 3600):
    client = CloudflareClient("https://cf.test/client/v4", Credentials(token=Secret("t" * 40)),
                              transport=httpx.MockTransport(handler))
    feed = HttpRequests()
    encoder = Encoder(1, schemas.load(feed.schema))
    fields = ["RayID", "ClientIP", "EdgeStartTimestamp", "EdgeResponseStatus"]
    runner = WindowRunner(
        feed, ZONE, publisher=publisher, store=store,
        source=logpull_source(client, feed, ZONE, fields, zone_governor=Governor(1000, 1000)),
        encode=LineCodec(encoder, feed.schema, feed.key_field, feed.json_fields),
        encode_gap=Encoder(2, schemas.load("cloudflare.gaps")).encode, policy=feed.policy,
        clock=lambda: NOW, stop=asyncio.Event(), start_lookback_s=lookback_s,
        backoff=Backoff(base_s=0.001, cap_s=0.01),
    )
    return runner, client


def _keys(publisher, topic="cloudflare.http_requests.v1"):
    return [r.key for r in publisher.records if r.topic == topic]


def test_windows_are_atomic_and_a_broken_stream_is_fetched_again():
    calls = []

    def handler(request):
        calls.append(dict(request.url.params))
        window = len({c["start"] for c in calls})
        lines = _lines(window, 50)
        if len(calls) == 2:  # the 2nd window fails mid-stream once, with Cloudflare's trailer
            body = b"\n".join(lines[:20]) + b"\nError streaming data\n"
        else:
            body = b"\n".join(lines) + b"\n"
        return httpx.Response(200, content=gzip.compress(body),
                              headers={"Content-Encoding": "gzip"})

    async def go():
        store = MemoryCheckpointStore()
        publisher = FakePublisher(store)
        runner, client = _runner(handler, store, publisher)
        await runner.start()
        errors = []
        while True:
            try:
                n = await runner.catch_up()
            except RetriableSourceError as exc:  # the run loop retries; here by hand
                errors.append(str(exc))
                continue
            if n == 0:
                break
        assert len(errors) == 1
        assert "Error streaming data" in errors[0]
        await client.aclose()
        return store, publisher, calls

    store, publisher, calls = asyncio.run(go())
    keys = _keys(publisher)
    assert len(keys) == len(set(keys)), "the failed window's partial records never committed"
    assert len(keys) == 3 * 50, "3 one-hour windows of 50 records"
    assert publisher.aborts == 1
    assert calls[1]["start"] == calls[2]["start"], "the broken window was fetched again"
    assert all(c["timestamps"] == "unixnano" for c in calls)
    first = datetime.fromisoformat(calls[0]["start"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(calls[-1]["end"].replace("Z", "+00:00"))
    assert first == NOW - timedelta(minutes=5) - timedelta(hours=3)
    assert last == NOW - timedelta(minutes=5)
    offset = next(iter(store.offsets.values()))
    assert offset == {"window_end": "2026-11-22T11:55:00.000000Z"}


def test_outage_past_the_horizon_publishes_a_gap_then_continues():
    def handler(request):
        return httpx.Response(200, content=b"\n".join(_lines(1, 2)) + b"\n")

    async def go():
        store = MemoryCheckpointStore()
        old = (NOW - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        store.offsets[b'{"feed":"http_requests","zone":"' + ZONE.encode() + b'"}'] = {
            "window_end": old}
        publisher = FakePublisher(store)
        runner, client = _runner(handler, store, publisher)
        await runner.start()
        await runner.catch_up()
        await client.aclose()
        return publisher, runner

    publisher, runner = asyncio.run(go())
    gaps = [r for r in publisher.records if r.topic == GAPS_TOPIC]
    assert len(gaps) == 1, "one gap record, in the first window's transaction"
    assert runner.windows == 24, "then a bounded batch of one-hour windows from the horizon"


def test_bad_line_goes_to_dlq_and_the_window_commits():
    def handler(request):
        body = b"\n".join([*_lines(1, 3), b'{"ClientIP": "192.0.2.9"}', b"not json"]) + b"\n"
        return httpx.Response(200, content=body)

    async def go():
        store = MemoryCheckpointStore()
        publisher = FakePublisher(store)
        runner, client = _runner(handler, store, publisher, lookback_s=0)
        runner._lookback_s = 0
        await runner.start()
        runner.window_end = NOW - timedelta(minutes=15)
        await runner.catch_up()
        await client.aclose()
        return publisher

    publisher = asyncio.run(go())
    assert len(_keys(publisher)) == 3
    dead = [r for r in publisher.records if r.topic == DLQ_TOPIC]
    assert len(dead) == 2
    assert all(dict(d.headers)["dlq.stage"] == b"encode" for d in dead)


def test_compiled_codec_writes_the_same_bytes_as_the_schema_driven_codec():
    import random

    from connector.lines import CompiledLineCodec
    from sim.http_records import variant

    feed = HttpRequests()
    encoder = Encoder(7, schemas.load(feed.schema))
    slow = LineCodec(encoder, feed.schema, feed.key_field, feed.json_fields)
    fast = CompiledLineCodec(encoder, feed.schema, feed.key_field, feed.json_fields)
    rng = random.Random(3)
    for i in range(300):
        record = variant(rng, "example.com")
        record["RayID"] = f"{i:016x}"
        record["EdgeStartTimestamp"] = 1_795_000_000_000_000_000 + i
        if i % 7 == 0:
            record["NewFieldFromCloudflare"] = {"x": i}
        line = json.dumps(record).encode()
        assert fast(line) == slow(line)


# ------------------------------------------------------------------ batched (Logpull) path


class TxnPublisher(FakePublisher):
    """Records every committed transaction in order; ``send_many`` as the real one (one
    shared header list), or failing after ``fail_after`` records."""

    def __init__(self, store, fail_after=None):
        super().__init__(store)
        self.transactions, self.many_calls, self.fail_after = [], 0, fail_after

    def send_many(self, topic, keys, values, headers):
        from connector.errors import PublishError
        from connector.records import OutRecord

        assert len(keys) == len(values) and keys
        self.many_calls += 1
        for key, value in zip(keys, values, strict=True):
            if self.fail_after is not None and len(self.pending) >= self.fail_after:
                raise PublishError("Kafka rejected a record")
            self.pending.append(OutRecord(topic, key, value, headers))

    def commit(self):
        self.transactions.append(list(self.pending))
        super().commit()


def _gzip_pieces(body, cuts):
    """Raw gzip chunks, each inflating to body[cuts[i]:cuts[i+1]] (sync flushes)."""
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    bounds = [0, *cuts, len(body)]
    raw = [comp.compress(body[a:b]) + comp.flush(zlib.Z_SYNC_FLUSH)
           for a, b in zip(bounds, bounds[1:], strict=False)]
    raw[-1] += comp.flush()
    return raw


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk


def _batched_runner(handler, store, publisher, *, batched=True, lookback_s=0, native=None):
    from connector.lines import CompiledLineCodec

    client = CloudflareClient("https://cf.test/client/v4", Credentials(token=Secret("t" * 40)),
                              transport=httpx.MockTransport(handler))
    feed = HttpRequests()
    encoder = Encoder(1, schemas.load(feed.schema))
    fields = ["RayID", "ClientIP", "EdgeStartTimestamp", "EdgeResponseStatus"]
    codec = CompiledLineCodec(encoder, feed.schema, feed.key_field, feed.json_fields,
                              expected=fields, native=native)
    runner = WindowRunner(
        feed, ZONE, publisher=publisher, store=store,
        source=logpull_source(client, feed, ZONE, fields, zone_governor=Governor(1000, 1000),
                              chunks=batched),
        encode=codec, chunks=codec if batched else None,
        encode_gap=Encoder(2, schemas.load("cloudflare.gaps")).encode, policy=feed.policy,
        clock=lambda: NOW, stop=asyncio.Event(), start_lookback_s=lookback_s,
        backoff=Backoff(base_s=0.001, cap_s=0.01),
    )
    return runner, client, codec


MIXED = [
    *_lines(1, 40)[:20],
    b'{"RayID":"00000001ffffffff","ClientIP":"192.0.2.7","NewField":{"x":1}}',  # extra
    b'{"ClientIP": "192.0.2.9"}',  # no RayID: dead letter
    *_lines(1, 40)[20:30],
    b"not json",  # dead letter
    b"   ",  # blank but not empty: dead letter (as stream_lines yields it)
    b"",
    *_lines(1, 40)[30:],
]


def _fetch_one(handler, *, batched, publisher_cls=TxnPublisher, gap=False, native=None, **kw):
    from connector.windows import Window

    async def go():
        store = MemoryCheckpointStore()
        publisher = publisher_cls(store, **kw)
        runner, client, codec = _batched_runner(handler, store, publisher, batched=batched,
                                                native=native)
        await runner.start()
        window = Window(NOW - timedelta(minutes=20), NOW - timedelta(minutes=10))
        gap_window = Window(NOW - timedelta(days=9), NOW - timedelta(days=7)) if gap else None
        try:
            await runner.fetch(window, gap_window)
        finally:
            await client.aclose()
        return publisher, store, codec

    return asyncio.run(go())


def _mixed_handler(body, cuts):
    def handler(request):
        return httpx.Response(200, headers={"Content-Encoding": "gzip"},
                              stream=_Stream(_gzip_pieces(body, cuts)))
    return handler


@pytest.mark.parametrize("native", [None, False], ids=["native", "python"])
@pytest.mark.parametrize("last_newline", [True, False])
def test_batched_fetch_writes_the_same_transaction_as_the_line_path(last_newline, native):
    body = b"\n".join(MIXED) + (b"\n" if last_newline else b"")
    cuts = list(range(7, len(body), 333))  # lines span pieces everywhere
    handler = _mixed_handler(body, cuts)
    lined, _, _ = _fetch_one(handler, batched=False, gap=True)
    batched, store, codec = _fetch_one(handler, batched=True, gap=True, native=native)
    assert batched.many_calls > 0, "records went through send_many"
    assert codec.fallbacks >= 4 or codec.native is None
    [txn] = batched.transactions
    assert [(r.topic, r.key, r.value, r.headers) for r in txn] == [
        (r.topic, r.key, r.value, r.headers) for r in lined.transactions[0]]
    topics = [r.topic for r in txn]
    assert topics[0] == GAPS_TOPIC, "gap record first"
    assert topics[-2:] == [store.topic, "cloudflare-connector.commits"], "checkpoint, commit"
    feed_topic = "cloudflare.http_requests.v1"
    keys = [r.key for r in txn if r.topic == feed_topic]
    assert len(keys) == 41 and keys[20] == b"00000001ffffffff"
    assert [r.key for r in txn if r.topic == DLQ_TOPIC] == [None, None, None]
    dlq_at = [i for i, r in enumerate(txn) if r.topic == DLQ_TOPIC]
    assert dlq_at == [22, 33, 34], "dead letters in stream order, between the records"
    assert json.loads(txn[-1].value)["records"] == 41
    assert json.loads(txn[-1].value)["dead_letters"] == 3
    assert next(iter(store.offsets.values())) == {"window_end": "2026-11-22T11:50:00.000000Z"}


@pytest.mark.parametrize("trailer_at", ["end", "middle"])
def test_batched_error_trailer_aborts_then_the_retry_commits(trailer_at):
    calls = []

    def handler(request):
        calls.append(1)
        lines = _lines(2, 30)
        if len(calls) == 1:
            bad = [b"Error streaming data"]
            lines = lines[:10] + bad if trailer_at == "end" else lines[:10] + bad + lines[10:]
        body = b"\n".join(lines) + b"\n"
        return httpx.Response(200, headers={"Content-Encoding": "gzip"},
                              stream=_Stream(_gzip_pieces(body, [len(body) - 7])))

    async def go():
        store = MemoryCheckpointStore()
        publisher = TxnPublisher(store)
        runner, client, _ = _batched_runner(handler, store, publisher)
        await runner.start()
        runner.window_end = NOW - timedelta(minutes=15)
        with pytest.raises(RetriableSourceError, match="Error streaming data"):
            await runner.catch_up()
        assert publisher.aborts == 1 and publisher.transactions == []
        assert runner.window_end == NOW - timedelta(minutes=15), "not advanced"
        await runner.catch_up()
        await client.aclose()
        return publisher

    publisher = asyncio.run(go())
    assert len(publisher.transactions) == 1
    assert len(_keys(publisher)) == 30
    assert not [r for r in publisher.records if r.topic == DLQ_TOPIC], "no DLQ for the trailer"


def test_batched_truncated_gzip_and_cut_connection_abort():
    body = b"\n".join(_lines(3, 50)) + b"\n"
    whole = _gzip_pieces(body, [1000, 2000])

    class Broken(_Stream):
        async def __aiter__(self):
            yield whole[0]
            raise httpx.ReadError("connection reset")

    for stream in (_Stream([b"".join(whole)[:-6]]), Broken([])):
        def handler(request, stream=stream):
            return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=stream)

        with pytest.raises(RetriableSourceError):
            publisher, _, _ = _fetch_one(handler, batched=True)


def test_batched_publish_error_aborts():
    from connector.errors import PublishError

    body = b"\n".join(_lines(4, 50)) + b"\n"
    aborted = []

    class Failing(TxnPublisher):
        def abort(self):
            aborted.append(len(self.pending))
            super().abort()

    with pytest.raises(PublishError):
        _fetch_one(_mixed_handler(body, [500, 1500]), batched=True, publisher_cls=Failing,
                   fail_after=10)
    assert aborted == [10]


def test_zone_job_uses_the_batched_path_unless_disabled():
    from connector.jobs import _zone_job
    from connector.settings import Settings

    env = {"CF_API_TOKEN": "t" * 40, "CF_ACCOUNT_ID": "a" * 32, "CF_ZONE_IDS": ZONE,
           "CF_FEEDS": "http_requests", "KAFKA_BOOTSTRAP_SERVERS": "k:9092",
           "SCHEMA_REGISTRY_URL": "http://r:8081"}
    feed = HttpRequests()
    for value, on in ((None, True), ("0", False), ("1", True)):
        extra = {} if value is None else {"CFKAFKA_LOGPULL_BATCHED": value}
        settings = Settings.from_env({**env, **extra})
        job = _zone_job(feed, settings.accounts[0], ZONE, settings)
        job.state["fields"] = ["RayID", "ClientIP"]
        store = MemoryCheckpointStore()
        client = CloudflareClient("https://cf.test/client/v4",
                                  Credentials(token=Secret("t" * 40)))
        runner = job.make_runner(client=client, publisher=TxnPublisher(store), store=store,
                                 schema_ids={feed.topic: 1, GAPS_TOPIC: 2},
                                 stop=asyncio.Event())
        assert (runner._chunks is not None) is on
        assert (runner._chunks is runner._encode) is on
        asyncio.run(client.aclose())
