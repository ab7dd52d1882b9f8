"""The Logpull window runner with a scripted transport: atomic windows, broken streams
retried, gaps recorded, memory-free streaming."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta

import httpx

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
