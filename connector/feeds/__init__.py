"""The feeds the connector can pull, by Logpush dataset name."""

from __future__ import annotations

from connector.feeds.audit_logs import AuditLogs
from connector.feeds.base import PullFeed

FEEDS: dict[str, type[PullFeed]] = {AuditLogs.name: AuditLogs}

__all__ = ["FEEDS", "AuditLogs", "PullFeed"]
