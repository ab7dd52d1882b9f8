"""Shared per-app state of the simulator (store, limiter, faults, request statistics)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sim.access_requests import AccessRequestStore
from sim.access_users import AccessUserRoster
from sim.audit_v2 import AuditV2Store
from sim.config import SimConfig
from sim.faults import FaultInjector
from sim.http_records import LogpullStore
from sim.members import MemberRoster
from sim.ratelimit import RateLimiter
from sim.store import EventStore
from sim.timeutil import format_rfc3339


class Stats:
    """Counts of API requests by status and by path, plus the most recent requests."""

    def __init__(self, keep: int = 2000) -> None:
        self.by_status: Counter[str] = Counter()
        self.by_path: dict[str, Counter[str]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)

    def record(self, request: web.Request, status: str, config: SimConfig) -> None:
        """Account one API request; `status` is the HTTP status or "reset"."""
        self.by_status[status] += 1
        self.by_path.setdefault(request.path, Counter())[status] += 1
        self.recent.append({
            "time": format_rfc3339(config.clock()),
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "status": status,
        })

    def snapshot(self) -> dict[str, Any]:
        """JSON view: total, by_status, by_path."""
        return {
            "total": sum(self.by_status.values()),
            "by_status": dict(self.by_status),
            "by_path": {p: dict(c) for p, c in self.by_path.items()},
        }

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.by_status.clear()
        self.by_path.clear()
        self.recent.clear()


@dataclass
class SimState:
    """Everything the request handlers share."""

    config: SimConfig
    store: EventStore
    limiter: RateLimiter
    faults: FaultInjector = field(default_factory=FaultInjector)
    stats: Stats = field(default_factory=Stats)
    access_requests: AccessRequestStore = field(init=False)
    audit_v2: AuditV2Store = field(init=False)
    members: MemberRoster = field(init=False)
    access_users: AccessUserRoster = field(init=False)
    logpull: LogpullStore = field(init=False)

    def __post_init__(self) -> None:
        self.logpull = LogpullStore(self.config.seed, self.config.zone_ids,
                                    self.config.zone_name, self.config.logpull_rps)
        self.access_requests = AccessRequestStore(self.config)
        self.audit_v2 = AuditV2Store(self.config)
        self.members = MemberRoster(self.config)
        self.access_users = AccessUserRoster(self.config)

    def feed(self, name: str) -> EventStore | AccessRequestStore | AuditV2Store:
        """The store of a time-ordered feed by name (see FEEDS); KeyError if unknown."""
        feeds: dict[str, EventStore | AccessRequestStore | AuditV2Store] = {
            "audit_logs": self.store, "access_requests": self.access_requests,
            "audit_logs_v2": self.audit_v2,
        }
        return feeds[name]


FEEDS = ("audit_logs", "access_requests", "audit_logs_v2")
STATE = web.AppKey("sim_state", SimState)
