"""Scenario tests: the feed runner against the real simulator (in-process, loopback HTTP),
with an in-memory publisher and checkpoint store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

import schemas
from connector.checkpoints import MemoryCheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.errors import PublishError
from connector.feeds import AuditLogs
from connector.records import DLQ_TOPIC
from connector.runner import FeedPolicy, FeedRunner
from connector.settings import Credentials, Secret
from schemas.registry import Encoder
from sim.config import SimConfig
from sim.server import run_sim


class FakePublisher:
    """Commits into a MemoryCheckpointStore; can be told to fail the next N transactions."""

    def __init__(self, store: MemoryCheckpointStore) -> None:
        self.store = store
        self.records = []
        self.fail_next = 0
        self.starts = 0

    def start(self) -> None:
        self.starts += 1

    def publish(self, records) -> None:
        self.begin()
        for record in records:
            self.send(record)
        self.commit()

    def begin(self) -> None:
        self.pending = []

    def send(self, record) -> None:
        self.pending.append(record)

    def commit(self) -> None:
        pending, self.pending = self.pending, []
        if self.fail_next:
            self.fail_next -= 1
            raise PublishError("broker unavailable")
        for record in pending:
            if record.topic == self.store.topic:
                self.store.apply(record)
            else:
                self.records.append(record)

    def abort(self) -> None:
        self.pending = []

    def close(self) -> None:
        pass


def _runner(sim, store, publisher, stop, **policy):
    client = CloudflareClient(sim.base_url, Credentials(token=Secret(sim.config.api_token)),
                              backoff=Backoff(base_s=0.01, cap_s=0.05))
    runner = FeedRunner(
        AuditLogs(), sim.config.account_id, client=client, publisher=publisher, store=store,
        encoder=Encoder(1, schemas.load("cloudflare.audit_logs")),
        policy=FeedPolicy(**{"poll_interval_s": 0.05, "settle_lag_s": 0.0,
                             "start_lookback_s": 86400, "per_page": 7, **policy}),
        clock=lambda: datetime.now(UTC) + timedelta(seconds=2), stop=stop,
        backoff=Backoff(base_s=0.01, cap_s=0.05),
    )
    return runner, client


def _keys(publisher):
    return [r.key.decode() for r in publisher.records if r.topic == "cloudflare.audit_logs.v1"]


def test_pages_through_ties_and_boundaries_exactly_once():
    async def go():
        config = SimConfig(initial_events=120, events_per_second=0, seed=3)
        async with run_sim(config) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            stop = asyncio.Event()
            runner, client = _runner(sim, store, publisher, stop)
            await runner.start()
            await runner.poll_once()
            await runner.poll_once()  # nothing new: the inclusive since re-returns the boundary
            truth = [e["id"] for e in sim.store.events(config.account_id)]
            await client.aclose()
            return truth, _keys(publisher), store

    truth, keys, store = asyncio.run(go())
    assert len(keys) == len(set(keys)), "no duplicates"
    assert set(keys) == set(truth), "nothing skipped"
    offset = next(iter(store.offsets.values()))
    assert offset["ids"], "the checkpoint keeps the ids at the high-water time"


def test_restart_from_checkpoint_publishes_only_new_events():
    async def go():
        config = SimConfig(initial_events=50, events_per_second=0, seed=5)
        async with run_sim(config) as sim:
            store = MemoryCheckpointStore()
            first = FakePublisher(store)
            runner, client = _runner(sim, store, first, asyncio.Event())
            await runner.start()
            await runner.poll_once()
            added = sim.store.generate(15, ties=4)
            second = FakePublisher(store)
            runner2, client2 = _runner(sim, store, second, asyncio.Event())
            await runner2.start()
            await runner2.poll_once()
            truth = [e["id"] for e in sim.store.events(config.account_id)]
            await client.aclose()
            await client2.aclose()
            return truth, _keys(first), _keys(second), added

    truth, first, second, added = asyncio.run(go())
    assert not set(first) & set(second), "a restart re-publishes nothing"
    assert set(second) == {e["id"] for e in added}
    assert set(first) | set(second) == set(truth)


def test_failed_transaction_never_moves_the_checkpoint():
    async def go():
        config = SimConfig(initial_events=30, events_per_second=0, seed=9)
        async with run_sim(config) as sim:
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            publisher.fail_next = 3
            stop = asyncio.Event()
            runner, client = _runner(sim, store, publisher, stop, per_page=100)
            await runner.start()
            with pytest.raises(PublishError):
                await runner.poll_once()
            assert store.offsets == {}, "no checkpoint after a failed transaction"
            task = asyncio.create_task(runner.run())
            for _ in range(200):
                await asyncio.sleep(0.02)
                if len(_keys(publisher)) >= 30:
                    break
            stop.set()
            await task
            await client.aclose()
            truth = [e["id"] for e in sim.store.events(config.account_id)]
            return truth, _keys(publisher), publisher.starts

    truth, keys, starts = asyncio.run(go())
    assert sorted(keys) == sorted(truth)
    assert starts >= 3, "the publisher is restarted (fencing) after each failure"


def test_unencodable_record_goes_to_dlq_and_the_run_continues():
    async def go():
        config = SimConfig(initial_events=10, events_per_second=0, seed=1)
        async with run_sim(config) as sim:
            when = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            sim.store.add([{"id": 12345, "when": when, "action": {"type": "login"}}],
                          config.account_id)
            store = MemoryCheckpointStore()
            publisher = FakePublisher(store)
            runner, client = _runner(sim, store, publisher, asyncio.Event())
            await runner.start()
            await runner.poll_once()
            await runner.poll_once()
            await client.aclose()
            return publisher

    publisher = asyncio.run(go())
    dlq = [r for r in publisher.records if r.topic == DLQ_TOPIC]
    assert len(dlq) == 1, "the bad record is dead-lettered once, not on every poll"
    headers = dict(dlq[0].headers)
    assert b"'id'" in headers["dlq.reason"]
    assert headers["dlq.stage"] == b"encode"
    assert b'"id":12345' in dlq[0].value
    assert len(_keys(publisher)) == 10
