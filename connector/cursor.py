"""The high-water mark of a time-ordered feed with an inclusive ``since`` and tied timestamps.

Cloudflare's ``since`` is inclusive and many events share one timestamp, so the position
is the newest timestamp published *plus* the ids already published at exactly that time.
An event is new when it is strictly newer, or at that time and not among those ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def parse_time(text: str) -> datetime:
    """Parse RFC3339 (any fraction length, truncated to microseconds) or a full-date, to UTC."""
    match = _RFC3339.match(text.strip())
    if match is None:
        msg = f"not an RFC3339 timestamp: {text!r}"
        raise ValueError(msg)
    day, clock, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    if zone in (None, "Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    parsed = datetime.fromisoformat(f"{day}T{clock or '00:00:00'}.{micros}{zone}")
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """Format as RFC3339 UTC with microseconds, e.g. ``2026-11-22T20:19:48.480205Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class HighWaterMark:
    """The newest event time published and the ids published at exactly that time."""

    since: datetime
    ids: frozenset[str] = frozenset()

    @classmethod
    def start(cls, now: datetime, lookback_s: float) -> HighWaterMark:
        """The position of a feed that has never run: ``lookback_s`` before ``now``."""
        return cls(since=now - timedelta(seconds=lookback_s))

    def is_new(self, when: datetime, event_id: str) -> bool:
        """True if the event at ``when`` with ``event_id`` has not been published yet."""
        return when > self.since or (when == self.since and event_id not in self.ids)

    def advance(self, events: Iterable[tuple[datetime, str]]) -> HighWaterMark:
        """Return the mark after publishing ``events`` (pairs of time and id)."""
        since, ids = self.since, set(self.ids)
        for when, event_id in events:
            if when > since:
                since, ids = when, {event_id}
            elif when == since:
                ids.add(event_id)
        return HighWaterMark(since, frozenset(ids))

    def to_offset(self) -> dict[str, str]:
        """The checkpoint value: flat primitives (ids comma-joined, sorted)."""
        return {"since": format_time(self.since), "ids": ",".join(sorted(self.ids))}

    @classmethod
    def from_offset(cls, offset: Mapping[str, object]) -> HighWaterMark:
        """Rebuild the mark from ``to_offset``'s value."""
        ids = str(offset.get("ids") or "")
        return cls(parse_time(str(offset["since"])), frozenset(i for i in ids.split(",") if i))
