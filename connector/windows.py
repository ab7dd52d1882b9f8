"""Half-open ``[start, end)`` time windows for feeds that are queried by time range (Logpull).

``plan_windows`` is pure: given the committed end, the clock and the policy it returns the
windows to fetch next, and the gap (if any) that fell out of the API's retention horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, order=True)
class Window:
    """``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """Length in seconds."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class WindowPolicy:
    """How windows are cut: at most ``step``; ``end <= now - lag``; ``start >= now - horizon``.

    ``min_step`` avoids a stream of tiny requests when caught up: a window shorter than it is
    not fetched until it has grown (Logpull data for a closed window never changes).
    """

    step: timedelta = timedelta(hours=1)
    lag: timedelta = timedelta(minutes=5)
    horizon: timedelta = timedelta(hours=167, minutes=59)
    min_step: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Plan:
    """What to do next: an optional lost ``gap`` and the ``windows`` to fetch, in order."""

    windows: tuple[Window, ...]
    gap: Window | None = None


def plan_windows(last_end: datetime, now: datetime, policy: WindowPolicy, limit: int = 24) -> Plan:
    """Windows from ``last_end`` up to ``now - lag`` (at most ``limit`` of them).

    If ``last_end`` is older than the retention horizon, the part that can no longer be
    fetched is returned as ``gap`` and planning starts at the horizon.
    """
    newest_end = now - policy.lag
    oldest_start = now - policy.horizon
    gap = None
    start = last_end
    if start < oldest_start:
        gap = Window(start, oldest_start)
        start = oldest_start
    windows: list[Window] = []
    while len(windows) < limit:
        end = min(start + policy.step, newest_end)
        if end - start < policy.min_step:
            break
        windows.append(Window(start, end))
        start = end
    return Plan(tuple(windows), gap)
