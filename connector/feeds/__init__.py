"""The feeds the connector can pull, by Logpush dataset name."""

from __future__ import annotations

from connector.feeds.access_requests import AccessRequests
from connector.feeds.audit_logs import AuditLogs, UserAuditLogs
from connector.feeds.audit_logs_v2 import AuditLogsV2
from connector.feeds.base import PullFeed

FEEDS: dict[str, type[PullFeed]] = {
    feed.name: feed for feed in (AuditLogs, AuditLogsV2, AccessRequests, UserAuditLogs)
}

__all__ = ["FEEDS", "AccessRequests", "AuditLogs", "AuditLogsV2", "PullFeed", "UserAuditLogs"]
