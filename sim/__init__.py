"""Cloudflare API simulator: a real aiohttp server that behaves like api.cloudflare.com."""

from __future__ import annotations

from sim.config import SimConfig
from sim.harness import SimThread, sim_thread
from sim.server import SimHandle, create_app, run_sim
from sim.store import EventStore, QueryError

__all__ = [
    "EventStore",
    "QueryError",
    "SimConfig",
    "SimHandle",
    "SimThread",
    "create_app",
    "run_sim",
    "sim_thread",
]
