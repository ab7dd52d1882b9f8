"""Shared helpers for the simulator tests: a settable clock and a config factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sim.config import SimConfig

T0 = datetime(2026, 11, 22, 20, 19, 48, 250000, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_config(clock):
    """SimConfig factory: fixed clock, no live arrivals, small history unless overridden."""

    def make(**kw) -> SimConfig:
        kw.setdefault("clock", clock)
        kw.setdefault("events_per_second", 0.0)
        kw.setdefault("initial_events", 50)
        return SimConfig(**kw)

    return make
