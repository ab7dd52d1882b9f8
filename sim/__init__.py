"""Cloudflare API simulator: a real aiohttp server that behaves like api.cloudflare.com."""

from __future__ import annotations

from sim.access_requests import AccessRequestStore
from sim.access_users import AccessUserRoster
from sim.audit_v2 import AuditV2Store
from sim.config import SimConfig
from sim.harness import SimThread, sim_thread
from sim.members import MemberRoster
from sim.server import SimHandle, create_app, run_sim
from sim.store import EventStore, QueryError

__all__ = [
    "AccessRequestStore",
    "AccessUserRoster",
    "AuditV2Store",
    "EventStore",
    "MemberRoster",
    "QueryError",
    "SimConfig",
    "SimHandle",
    "SimThread",
    "create_app",
    "run_sim",
    "sim_thread",
]
