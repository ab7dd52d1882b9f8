"""Per-credential request budget: `rate_limit` per `rate_window_s`, then a 429 block (§8)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sim.config import SimConfig
from sim.envelope import ApiError

THROTTLED = (971, "Please wait and consider throttling your request speed")


@dataclass
class _Bucket:
    window_start: datetime
    count: int = 0
    blocked_until: datetime | None = None


def throttled(retry_after: int, limit: int, reset: datetime, window_s: float = 300.0) -> ApiError:
    """The 429 answer: code 971, `Retry-After`, `Ratelimit*` and `x-ratelimit-*` headers."""
    headers = {
        "Retry-After": str(retry_after),
        **quota_headers(limit, 0, retry_after, window_s),
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": http_date(reset),
    }
    return ApiError(429, *THROTTLED, headers=headers)


def quota_headers(limit: int, remaining: int, reset_s: int, window_s: float) -> dict[str, str]:
    """Cloudflare's IETF-draft headers (changelog 2025-09-03), sent on every REST answer."""
    return {
        "Ratelimit": f'"default";r={max(remaining, 0)};t={max(reset_s, 0)}',
        "Ratelimit-Policy": f'"default";q={limit};w={int(window_s)}',
    }


class RateLimiter:
    """Fixed window per credential key; exceeding it blocks every call for `block_s`.

    Reads limits from the config on every call, so admin changes apply at once.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._buckets: dict[str, _Bucket] = {}

    def reset(self) -> None:
        """Forget every window and block."""
        self._buckets.clear()

    def check(self, key: str) -> dict[str, str]:
        """Count one request; return the x-ratelimit headers, or raise the 429 ApiError."""
        cfg = self.config
        now = cfg.clock()
        window = timedelta(seconds=cfg.rate_window_s)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(now)
        if b.blocked_until is not None:
            if now < b.blocked_until:
                raise throttled(_ceil_s(b.blocked_until - now), cfg.rate_limit, b.blocked_until,
                                cfg.rate_window_s)
            b.window_start, b.count, b.blocked_until = now, 0, None
        if now - b.window_start >= window or now < b.window_start:
            b.window_start, b.count = now, 0
        b.count += 1
        if b.count > cfg.rate_limit:
            b.blocked_until = now + timedelta(seconds=cfg.block_s)
            raise throttled(_ceil_s(b.blocked_until - now), cfg.rate_limit, b.blocked_until,
                            cfg.rate_window_s)
        return {
            **quota_headers(cfg.rate_limit, cfg.rate_limit - b.count,
                            _ceil_s(b.window_start + window - now), cfg.rate_window_s),
            "x-ratelimit-limit": str(cfg.rate_limit),
            "x-ratelimit-remaining": str(cfg.rate_limit - b.count),
            "x-ratelimit-reset": http_date(b.window_start + window),
        }


def http_date(dt: datetime) -> str:
    """RFC1123 date, as in `x-ratelimit-reset` (facts §8)."""
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def _ceil_s(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))
