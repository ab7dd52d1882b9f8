"""The simulator's virtual clock: wall time plus a settable offset, moved by tests.

Moving the clock forward stands for time that passed while a client was away (a connector
outage of hours in a test that lasts seconds). Logpull and GraphQL data are functions of
time, so they exist for the skipped span at once; the time-ordered REST feeds (audit logs
v1 and v2, Access requests) have nothing there unless it is backfilled, which
`POST /__sim/clock` does at a given rate (default: each feed's live rate).

GET  /__sim/clock   {now, offset_s}
POST /__sim/clock   {advance_s?, offset_s?, events_per_hour?, account_id?}
     `advance_s` (>= 0) moves the clock forward and backfills the skipped span;
     `offset_s` sets the offset outright (no backfill; may move backwards);
     `events_per_hour`: a number for every feed or {feed: number}; a feed left out
     is backfilled at its live `events_per_second`. Answers {now, offset_s, backfilled:
     {feed: n}}. Backfilled records have times in [old now - 1 s, new now] (second-precision
     times are truncated) and include bursts that share a timestamp, like the history.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from sim.admin import _bad, _body, _state
from sim.config import SimConfig, utc_now
from sim.state import FEEDS
from sim.timeutil import Precision, format_rfc3339

routes = web.RouteTableDef()
#: the most records one backfill may create per feed (keeps a typo from eating memory)
MAX_BACKFILL = 1_000_000


class VirtualClock:
    """``base() + offset``: the wall clock (or any base clock) shifted by a settable offset."""

    def __init__(self, offset_s: float = 0.0,
                 base: Callable[[], datetime] = utc_now) -> None:
        self.base = base
        self.offset = timedelta(seconds=offset_s)

    def __call__(self) -> datetime:
        return self.base() + self.offset

    @property
    def offset_s(self) -> float:
        """The offset in seconds."""
        return self.offset.total_seconds()

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.offset += timedelta(seconds=seconds)


def virtual_clock(config: SimConfig) -> VirtualClock:
    """The config's clock as a VirtualClock (a plain clock is wrapped, offset 0)."""
    clock = config.clock
    if not isinstance(clock, VirtualClock):
        clock = VirtualClock(base=clock)
        config.clock = clock
    return clock


class _Batcher(Protocol):
    def batch(self, now: datetime, n: int, ties: int | None = None,
              precision: Precision | None = None) -> list[dict[str, Any]]: ...


class Backfillable(Protocol):
    """What a time-ordered store offers (EventStore, FeedStore)."""

    def generator(self, account_id: str) -> _Batcher: ...

    def add(self, records: Iterable[dict[str, Any]], account_id: str | None = None) -> None: ...


def backfill(store: Backfillable, account_id: str, start: datetime, end: datetime, n: int,
             salt: str) -> list[dict[str, Any]]:
    """Add ``n`` records at seeded instants spread over ``[start, end]``; return them.

    About one instant in ten is a burst of 2-4 records sharing a timestamp.
    """
    if n <= 0:
        return []
    rng = random.Random(salt)
    span = max(0.0, (end - start).total_seconds())
    instants = sorted(rng.uniform(0.0, span) for _ in range(n))
    gen = store.generator(account_id)
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < n:
        size = min(n - len(out), rng.randint(2, 4) if rng.random() < 0.1 else 1)
        records = gen.batch(start + timedelta(seconds=instants[i]), size, ties=size)
        store.add(records, account_id)
        out.extend(records)
        i += size
    return out


def _rates(raw: Any, live: Mapping[str, float]) -> dict[str, float]:
    """Per-feed records per hour from ``events_per_hour`` (number, mapping or absent)."""
    rates = {feed: eps * 3600.0 for feed, eps in live.items()}
    if isinstance(raw, Mapping):
        unknown = set(raw) - set(FEEDS)
        if unknown:
            msg = f"events_per_hour: unknown feeds {sorted(unknown)}; known: {', '.join(FEEDS)}"
            raise ValueError(msg)
        rates.update({str(k): float(v) for k, v in raw.items()})
    elif raw is not None:
        rates = dict.fromkeys(FEEDS, float(raw))
    if any(r < 0 for r in rates.values()):
        msg = "events_per_hour must be >= 0"
        raise ValueError(msg)
    return rates


def _view(clock: VirtualClock) -> dict[str, Any]:
    return {"now": format_rfc3339(clock()), "offset_s": clock.offset_s}


@routes.get("/__sim/clock")
async def get_clock(request: web.Request) -> web.Response:
    """The simulator's current time and offset from its base clock."""
    return web.json_response(_view(virtual_clock(_state(request).config)))


@routes.post("/__sim/clock")
async def set_clock(request: web.Request) -> web.Response:
    """Move the clock (see the module docstring)."""
    st = _state(request)
    clock = virtual_clock(st.config)
    try:
        data = await _body(request)
        advance = float(data.get("advance_s", 0.0))
        offset = None if data.get("offset_s") is None else float(data["offset_s"])
        live = {feed: st.feed(feed).events_per_second for feed in FEEDS}
        rates = _rates(data.get("events_per_hour"), live)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    if advance < 0:
        return _bad("advance_s must be >= 0 (use offset_s to move back)")
    counts = {feed: round(rate * advance / 3600.0) for feed, rate in rates.items()}
    if any(n > MAX_BACKFILL for n in counts.values()):
        return _bad(f"a backfill of more than {MAX_BACKFILL} records per feed")
    if offset is not None:
        clock.offset = timedelta(seconds=offset)
    account = str(data.get("account_id") or st.config.account_id)
    start = clock()
    clock.advance(advance)
    end = clock()
    done: dict[str, int] = {}
    for feed in FEEDS:
        salt = f"{st.config.seed}:{account}:{feed}:backfill:{format_rfc3339(start)}"
        done[feed] = len(backfill(st.feed(feed), account, start, end, counts[feed], salt))
    return web.json_response({**_view(clock), "backfilled": done})
