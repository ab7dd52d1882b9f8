"""Shared machinery of the time-ordered feeds (Access requests, audit v2).

`FeedStore` keeps, per account, records ordered by the real instant of their time field
(ties keep insertion order), fills a seeded history on creation, and appends live arrivals
at `events_per_second` while the app runs. `BurstGenerator` groups records into bursts that
share one timestamp, so ties are common.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sim.config import SimConfig
from sim.timeutil import Precision, format_when, parse_time

Key = tuple[datetime, int]


class BurstGenerator(ABC):
    """Deterministic records of one account: record k depends only on (seed, account, k)."""

    #: precisions of the time field and their weights
    precisions: tuple[tuple[Precision, ...], tuple[int, ...]] = (("us", "ms"), (80, 20))

    def __init__(self, seed: int, account_id: str, feed: str) -> None:
        self.seed = seed
        self.account_id = account_id
        self.feed = feed
        self.count = 0
        self._sched = random.Random(f"{seed}:{account_id}:{feed}:schedule")

    def rng(self) -> random.Random:
        """The random stream of the next record (advances the record index)."""
        k = self.count
        self.count += 1
        return random.Random(f"{self.seed}:{self.account_id}:{self.feed}:{k}")

    @abstractmethod
    def record(self, when: str) -> dict[str, Any]:
        """The next record with time field `when`."""

    def batch(self, now: datetime, n: int, ties: int | None = None,
              precision: Precision | None = None) -> list[dict[str, Any]]:
        """`n` records at clock time `now` in bursts sharing one timestamp (<= now).

        `ties=k` forces bursts of exactly k; otherwise about one burst in six has 2-4 records.
        """
        sizes: list[int] = []
        left = n
        while left > 0:
            if ties is not None:
                size = max(1, ties)
            else:
                size = self._sched.randint(2, 4) if self._sched.random() < 1 / 6 else 1
            sizes.append(min(size, left))
            left -= sizes[-1]
        out: list[dict[str, Any]] = []
        for i, size in enumerate(sizes):
            prec = precision or self._sched.choices(*self.precisions)[0]
            offset = timedelta(microseconds=0 if prec == "s" else min(len(sizes) - 1 - i, 500_000))
            when = format_when(now - offset, prec)
            out.extend(self.record(when) for _ in range(size))
        return out


@dataclass
class _Log:
    keys: list[Key] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


class FeedStore(ABC):
    """Records of one feed for every account, ascending by (instant, insertion order)."""

    feed: str = "feed"

    def __init__(self, config: SimConfig, initial: int, *, populate: bool = True) -> None:
        self.config = config
        self.events_per_second = config.events_per_second
        self._logs: dict[str, _Log] = {}
        self._gens: dict[str, BurstGenerator] = {}
        self._seq = itertools.count()  # insertion order, the tie-breaker of equal instants
        if populate and initial > 0:
            self._populate(initial)

    @abstractmethod
    def new_generator(self, account_id: str) -> BurstGenerator:
        """A generator for one account."""

    @abstractmethod
    def time_of(self, record: Mapping[str, Any]) -> str:
        """The record's time field (RFC3339)."""

    def generator(self, account_id: str) -> BurstGenerator:
        """The account's generator (created on first use)."""
        if account_id not in self._gens:
            self._gens[account_id] = self.new_generator(account_id)
        return self._gens[account_id]

    def _populate(self, n: int) -> None:
        rng = random.Random(f"{self.config.seed}:{self.config.account_id}:{self.feed}:history")
        now = self.config.clock()
        gen = self.generator(self.config.account_id)
        made = 0
        offsets = sorted((rng.uniform(0.0, self.config.history_s) for _ in range(n)),
                         reverse=True)
        for off in offsets:
            if made >= n:
                break
            size = min(n - made, rng.randint(2, 4) if rng.random() < 0.1 else 1)
            self.add(gen.batch(now - timedelta(seconds=off), size, ties=size))
            made += size

    def add(self, records: Iterable[dict[str, Any]], account_id: str | None = None) -> None:
        """Insert records (each with a parseable time field) into an account's log."""
        log = self._logs.setdefault(account_id or self.config.account_id, _Log())
        for rec in records:
            key = (parse_time(self.time_of(rec)), next(self._seq))
            idx = bisect.bisect_right(log.keys, key)
            log.keys.insert(idx, key)
            log.records.insert(idx, rec)

    def generate(self, n: int, ties: int | None = None, precision: Precision | None = None,
                 account_id: str | None = None) -> list[dict[str, Any]]:
        """Create `n` records at the current clock time and add them; returns them."""
        acct = account_id or self.config.account_id
        records = self.generator(acct).batch(self.config.clock(), n, ties, precision)
        self.add(records, acct)
        return records

    def events(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Ground truth: every record of the account, ascending."""
        log = self._logs.get(account_id or self.config.account_id)
        return list(log.records) if log else []

    def window(self, account_id: str, since: datetime | None,
               until: datetime | None) -> list[tuple[Key, dict[str, Any]]]:
        """(key, record) pairs with since <= instant < until, ascending."""
        log = self._logs.get(account_id, _Log())
        lo = 0 if since is None else bisect.bisect_left(log.keys, (since, -1))
        hi = len(log.keys) if until is None else bisect.bisect_left(log.keys, (until, -1))
        return list(zip(log.keys[lo:hi], log.records[lo:hi], strict=True))

    async def run_live(self) -> None:
        """Append records at `events_per_second` (read each tick) until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        acc = 0.0
        while True:
            rate = self.events_per_second
            await asyncio.sleep(0.1 if rate <= 0 else min(0.2, max(0.01, 1.0 / rate)))
            now = loop.time()
            acc = acc + rate * (now - last) if rate > 0 else 0.0
            last = now
            if int(acc) > 0:
                n = int(acc)
                acc -= n
                self.generate(n)
