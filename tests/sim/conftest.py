"""Shared helpers for the simulator tests: a settable clock and a config factory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sim.config import SimConfig
from sim.server import run_sim

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


@pytest.fixture
def serve(make_config):
    """`serve(scenario, **config)`: run `await scenario(sim, client)` against a live simulator.

    The client's base URL is the API base and it sends the default user token.
    """

    def run(scenario, **kw) -> SimConfig:
        cfg = make_config(**kw)

        async def body():
            async with run_sim(cfg) as sim, httpx.AsyncClient(base_url=sim.base_url) as c:
                c.headers["Authorization"] = f"Bearer {cfg.api_token}"
                await scenario(sim, c)

        asyncio.run(body())
        return cfg

    return run
