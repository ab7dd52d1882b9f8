"""Per-account audit log store, live arrivals, and Cloudflare's v1 query semantics."""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sim.config import SimConfig
from sim.events import EventGenerator
from sim.timeutil import Precision, parse_time

_TRUE = ("true", "1", "yes")


class QueryError(ValueError):
    """An invalid query parameter; served as 400 with code 6008 and an 11000 chain entry."""


@dataclass
class _Log:
    keys: list[tuple[datetime, int]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One page of query results plus Cloudflare's `result_info`."""

    result: list[dict[str, Any]]
    result_info: dict[str, int]


class EventStore:
    """The event log of every account, ordered by the real instant of `when`.

    Ties keep insertion order (asc); `desc` is the exact reverse of `asc`. Because `when`
    may be truncated to the second, an arriving event can sort up to 1 s *before* events
    that were already visible, as on the real API.
    """

    def __init__(self, config: SimConfig, *, populate: bool = True) -> None:
        self.config = config
        self.events_per_second = config.events_per_second
        self._logs: dict[str, _Log] = {}
        self._gens: dict[str, EventGenerator] = {}
        self._seq = 0
        if populate and config.initial_events > 0:
            self._populate(config.initial_events, config.history_s)

    def _populate(self, n: int, history_s: float) -> None:
        rng = random.Random(f"{self.config.seed}:{self.config.account_id}:history")
        now = self.config.clock()
        offsets = sorted((rng.uniform(0.0, history_s) for _ in range(n)), reverse=True)
        gen = self.generator(self.config.account_id)
        made = 0
        for off in offsets:
            if made >= n:
                break
            size = min(n - made, rng.randint(2, 5) if rng.random() < 0.1 else 1)
            prec: Precision = rng.choices(("s", "us", "ms"), (45, 45, 10))[0]
            created = now - timedelta(seconds=off)
            self.add(gen.batch(created, size, ties=size, precision=prec))
            made += size

    def generator(self, account_id: str) -> EventGenerator:
        """The deterministic generator of one account (created on first use)."""
        if account_id not in self._gens:
            self._gens[account_id] = EventGenerator(self.config.seed, account_id)
        return self._gens[account_id]

    def add(self, records: Iterable[dict[str, Any]], account_id: str | None = None) -> None:
        """Insert records (each must carry a parseable `when`) into an account's log."""
        log = self._logs.setdefault(account_id or self.config.account_id, _Log())
        for rec in records:
            key = (parse_time(str(rec["when"])), self._seq)
            self._seq += 1
            idx = bisect.bisect_right(log.keys, key)
            log.keys.insert(idx, key)
            log.records.insert(idx, rec)

    def generate(
        self,
        n: int,
        ties: int | None = None,
        precision: Precision | None = None,
        account_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Create `n` events at the current clock time and add them; returns them."""
        acct = account_id or self.config.account_id
        records = self.generator(acct).batch(self.config.clock(), n, ties, precision)
        self.add(records, acct)
        return records

    def events(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Ground truth: every event of the account, ascending."""
        log = self._logs.get(account_id or self.config.account_id)
        return list(log.records) if log else []

    def query(self, account_id: str, params: Mapping[str, str]) -> Page:
        """Cloudflare v1 semantics: since inclusive, before exclusive, page pagination."""
        since = _time_param(params, "since")
        before = _time_param(params, "before")
        direction = params.get("direction", "desc")
        if direction not in ("asc", "desc"):
            msg = "direction must be one of asc, desc"
            raise QueryError(msg)
        page = _int_param(params, "page", 1, 1, None)
        per_page = _int_param(params, "per_page", 100, 1, None)
        max_pp = self.config.max_per_page
        if per_page > max_pp:
            if self.config.per_page_over_max == "error":
                msg = f"per_page variable must be a number between 1 and {max_pp}"
                raise QueryError(msg)
            per_page = max_pp
        log = self._logs.get(account_id, _Log())
        lo = 0 if since is None else bisect.bisect_left(log.keys, (since, -1))
        hi = len(log.keys) if before is None else bisect.bisect_left(log.keys, (before, -1))
        matches = [r for r in log.records[lo:hi] if _matches(r, params, account_id)]
        if direction == "desc":
            matches.reverse()
        start = (page - 1) * per_page
        chunk = matches[start:start + per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(chunk),
            "total_count": len(matches),
            "total_pages": math.ceil(len(matches) / per_page),
        }
        return Page(chunk, info)

    async def run_live(self) -> None:
        """Append events at `events_per_second` (read each tick) until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        acc = 0.0
        while True:
            rate = self.events_per_second
            await asyncio.sleep(0.1 if rate <= 0 else min(0.2, max(0.01, 1.0 / rate)))
            now = loop.time()
            if rate > 0:
                acc += rate * (now - last)
            else:
                acc = 0.0
            last = now
            n = int(acc)
            if n > 0:
                acc -= n
                self.generate(n)


def _time_param(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_time(raw)
    except ValueError:
        msg = f"{name} must be an RFC3339 date-time or full-date"
        raise QueryError(msg) from None


def _int_param(
    params: Mapping[str, str], name: str, default: int, lo: int, hi: int | None
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if value < lo or (hi is not None and value > hi):
        msg = f"{name} variable must be a number greater than or equal to {lo}"
        raise QueryError(msg)
    return value


def _matches(rec: Mapping[str, Any], params: Mapping[str, str], account_id: str) -> bool:
    actor = rec.get("actor") or {}
    fields = {
        "id": rec.get("id"),
        "action.type": (rec.get("action") or {}).get("type"),
        "actor.email": actor.get("email"),
        "zone.name": (rec.get("metadata") or {}).get("zone_name"),
    }
    if any(name in params and value != params[name] for name, value in fields.items()):
        return False
    hide_user = params.get("hide_user_logs", "").lower() in _TRUE
    if hide_user and (rec.get("owner") or {}).get("id") != account_id:
        return False
    if "actor.ip" in params:
        try:
            net = ipaddress.ip_network(params["actor.ip"], strict=False)
            return ipaddress.ip_address(actor.get("ip", "")) in net
        except ValueError:
            return False
    return True
