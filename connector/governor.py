"""A shared rate-limit governor per credential: token bucket, priorities, server quotas.

Cloudflare allows 1200 requests per 5 minutes per user/token across every client, and
blocks *all* calls for a while once exceeded. Every request of one credential goes through
one ``Governor``: audit and Access requests (priority 0) are served before bulk Logpull
(priority 1), and a 429 holds everybody until its ``Retry-After``.

The bucket only knows our own requests; the dashboard and other tools spend the same
budget. So every response's rate-limit headers (``parse_rate_limit``) are fed back through
``Governor.observe``: when the server says the budget is nearly spent, requests are spread
over the rest of its window, and when it is spent everybody holds until the reset instead of
running into a 429.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)

HIGH, LOW = 0, 1

#: a reset further away than this is not believed (Cloudflare's window is 5 minutes)
MAX_RESET_S = 600.0
#: an HTTP-date reset has a resolution of one second: wait that much longer, never less
DATE_SLACK_S = 1.0
#: a reset number above this is a Unix time, below it a number of seconds
_EPOCH_FROM = 1e9
_ITEMS = re.compile(r'(?:[^,"]|"[^"]*")+')
_PARAMS = re.compile(r'(?:[^;"]|"[^"]*")+')


@dataclass(frozen=True)
class Quota:
    """What a response says is left of the server's current rate-limit window."""

    remaining: int
    reset_s: float  # seconds from the response until the window resets


def parse_rate_limit(headers: Mapping[str, str], now_s: float) -> Quota | None:
    """The tightest quota a response's rate-limit headers state, or None if they state none.

    Header names are case-insensitive; these forms are understood:

    - ``Ratelimit: "default";r=50;t=30`` (Cloudflare, IETF draft; several items allowed),
      with ``Ratelimit-Policy: "default";q=1200;w=300`` giving the window when ``t`` is
      missing;
    - ``RateLimit: limit=100, remaining=50, reset=30`` and ``RateLimit-Remaining`` /
      ``RateLimit-Reset`` (earlier drafts; reset in seconds);
    - ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``: the reset as an HTTP date
      (Cloudflare's documented form, taken relative to the response's ``Date`` and rounded
      up by ``DATE_SLACK_S``), a number of seconds, or a Unix time.

    ``now_s`` is the local Unix time, for Unix-time resets and dates without a ``Date``
    header. Absent, partial, negative or unparsable values are ignored, and so is a reset in
    the past (the window is over) or beyond ``MAX_RESET_S`` (another kind of quota, or a
    clock that is off).
    """
    h = {name.lower(): value for name, value in headers.items()}
    found: list[Quota | None] = []
    policies = {name: params for name, params in _items(h.get("ratelimit-policy", ""))}
    members: dict[str, str] = {}
    for name, params in _items(h.get("ratelimit", "")):
        if name is None:  # an earlier draft's dictionary: limit=.., remaining=.., reset=..
            members.update(params)
            continue
        window = policies.get(name, {}).get("w")
        found.append(_quota(params.get("r"), _number(params.get("t") or window)))
    found.append(_quota(members.get("remaining"), _number(members.get("reset"))))
    found.append(_quota(h.get("ratelimit-remaining"), _number(h.get("ratelimit-reset"))))
    found.append(_quota(h.get("x-ratelimit-remaining"),
                        _reset(h.get("x-ratelimit-reset"), h.get("date"), now_s)))
    quotas = [q for q in found if q is not None]
    if not quotas:
        return None
    return min(quotas, key=lambda q: (q.remaining, -q.reset_s))


def _items(value: str) -> list[tuple[str | None, dict[str, str]]]:
    """A structured-field list: items split on ``,`` and parameters on ``;`` (quotes kept).

    Each item is (name, parameters); an item that starts with ``key=value`` has no name and
    that pair among its parameters.
    """
    out: list[tuple[str | None, dict[str, str]]] = []
    for item in _ITEMS.findall(value):
        parts = [p.strip() for p in _PARAMS.findall(item)]
        if not parts or not parts[0]:
            continue
        params: dict[str, str] = {}
        for part in parts:
            key, eq, val = part.partition("=")
            if eq:
                params[key.strip().lower()] = val.strip().strip('"')
        name = None if "=" in parts[0] else parts[0].strip('"')
        out.append((name, params))
    return out


def _number(text: str | None) -> float | None:
    """A finite, non-negative number, else None."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _reset(text: str | None, date: str | None, now_s: float) -> float | None:
    """Seconds until an ``x-ratelimit-reset`` (seconds, Unix time or HTTP date)."""
    value = _number(text)
    if value is not None:
        return value - now_s if value > _EPOCH_FROM else value
    when = _http_date(text)
    if when is None:
        return None
    base = _http_date(date)
    return when - (base if base is not None else now_s) + DATE_SLACK_S


def _http_date(text: str | None) -> float | None:
    """An HTTP date as Unix time, else None."""
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _quota(remaining: str | None, reset_s: float | None) -> Quota | None:
    count = _number(remaining)
    if count is None or reset_s is None or not 0 < reset_s <= MAX_RESET_S:
        return None
    return Quota(int(count), reset_s)


class Governor:
    """Token bucket of ``rate_per_s`` with ``burst`` capacity, served by priority.

    On top of the bucket, the server's own quota (``observe``): none left holds everybody
    until its reset; fewer than ``pace_below`` left spreads them over the rest of the window.
    """

    def __init__(
        self,
        rate_per_s: float = 1200 / 300,
        burst: float = 20,
        *,
        pace_below: int = 20,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Start with a full bucket and no server quota known."""
        self.rate = rate_per_s
        self.burst = burst
        self.pace_below = pace_below
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()
        self._blocked_until = 0.0
        self._quota_left = 0.0
        self._quota_until = 0.0  # clock time of the server's reset; 0: no quota known
        self._last_grant = -math.inf
        self._waiting = {HIGH: 0, LOW: 0}
        self.acquired = 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, priority: int = HIGH) -> None:
        """Wait for a token; low priority also waits while high-priority callers wait."""
        self._waiting[priority] += 1
        try:
            while True:
                self._refill()
                now = self._clock()
                if now < self._blocked_until:
                    await self._sleep(self._blocked_until - now)
                    continue
                if priority == LOW and self._waiting[HIGH]:
                    await self._sleep(max(1.0 / self.rate, 0.01))
                    continue
                hold = self._quota_wait(now)
                if hold > 0:
                    await self._sleep(hold)
                    continue
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.acquired += 1
                    self._last_grant = now
                    if now < self._quota_until:
                        self._quota_left -= 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)
        finally:
            self._waiting[priority] -= 1

    def _quota_wait(self, now: float) -> float:
        """Seconds the server's quota makes the next request wait (0: it may go now)."""
        if now >= self._quota_until:
            return 0.0
        window_left = self._quota_until - now
        if self._quota_left <= 0:
            return window_left
        if self._quota_left >= self.pace_below:
            return 0.0
        return max(0.0, self._last_grant + window_left / self._quota_left - now)

    def observe(self, remaining: int, reset_s: float, *, issued: int | None = None) -> None:
        """The server says ``remaining`` requests are left for the next ``reset_s`` seconds.

        ``issued`` is ``acquired`` just after the observed request took its token: tokens
        handed out since then may not be counted by the server yet, so they are subtracted.
        The latest observation replaces earlier ones; invalid values are ignored.
        """
        if not (math.isfinite(reset_s) and reset_s > 0) or remaining < 0:
            return
        now = self._clock()
        left = remaining - max(0, self.acquired - issued) if issued is not None else remaining
        if left <= 0 and not (now < self._quota_until and self._quota_left <= 0):
            log.info("Cloudflare's request budget is spent; holding requests for %.1fs",
                     reset_s)
        self._quota_left = float(left)
        self._quota_until = now + reset_s

    def block_for(self, seconds: float) -> None:
        """Cloudflare said 429: nobody sends for ``seconds`` (and the bucket is emptied)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        self._tokens = 0.0
