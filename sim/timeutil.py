"""Parsing and formatting of Cloudflare timestamps (RFC3339, full-date) as real instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

Precision = Literal["s", "ms", "us"]

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:\d{2})$"
)
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_time(text: str) -> datetime:
    """Parse RFC3339 `date-time` (any fraction, any offset) or `full-date` (UTC midnight).

    Fractions beyond microseconds are truncated. Raises ValueError on anything else.
    """
    m = _RFC3339.match(text)
    if m:
        y, mo, d, h, mi, s, frac, off = m.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
        if off not in ("Z", "z"):
            sign = 1 if off[0] == "+" else -1
            dt -= sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
        return dt
    m = _FULL_DATE.match(text)
    if m:
        return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    msg = f"not an RFC3339 date-time or full-date: {text!r}"
    raise ValueError(msg)


def truncate(dt: datetime, precision: Precision) -> datetime:
    """Truncate an instant to the given precision (never rounds up)."""
    if precision == "s":
        return dt.replace(microsecond=0)
    if precision == "ms":
        return dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    return dt


def format_when(dt: datetime, precision: Precision) -> str:
    """Format like Cloudflare's `when`: `...T20:19:48Z` or `...T10:19:48.87573Z`.

    The fraction drops trailing zeros (as in real samples); the instant is first truncated.
    """
    dt = truncate(dt.astimezone(UTC), precision)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if precision == "s" or dt.microsecond == 0:
        return base + "Z"
    frac = f"{dt.microsecond:06d}"
    if precision == "ms":
        frac = frac[:3]
    return f"{base}.{frac.rstrip('0')}Z"


def format_rfc3339(dt: datetime) -> str:
    """Format an instant with full microsecond precision, `Z` suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
