"""A shared rate-limit governor per credential: token bucket, priorities, 429 blocks.

Cloudflare allows 1200 requests per 5 minutes per user/token across every client, and
blocks *all* calls for a while once exceeded. Every request of one credential goes through
one ``Governor``: audit and Access requests (priority 0) are served before bulk Logpull
(priority 1), and a 429 holds everybody until its ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

HIGH, LOW = 0, 1


class Governor:
    """Token bucket of ``rate_per_s`` with ``burst`` capacity, served by priority."""

    def __init__(
        self,
        rate_per_s: float = 1200 / 300,
        burst: float = 20,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Start with a full bucket."""
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()
        self._blocked_until = 0.0
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
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.acquired += 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)
        finally:
            self._waiting[priority] -= 1

    def block_for(self, seconds: float) -> None:
        """Cloudflare said 429: nobody sends for ``seconds`` (and the bucket is emptied)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        self._tokens = 0.0
