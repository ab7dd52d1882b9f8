"""Account audit logs v2: ``GET /accounts/{id}/logs/audit`` (cursor pagination)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.cursor import format_time, parse_time
from connector.errors import RecordError
from connector.feeds.base import PullFeed


class AuditLogsV2(PullFeed):
    """Audit logs v2: ``since``/``before`` required, opaque ``cursor``, ``count`` as a string."""

    name = "audit_logs_v2"
    topic = "cloudflare.audit_logs_v2.v1"
    schema = "cloudflare.audit_logs_v2"
    path = "/accounts/{account_id}/logs/audit"
    time_field = "action.time"
    key_field = "id"
    json_fields = frozenset({"resource.request", "resource.response", "resource.scope"})
    permission = "Account Settings Read"

    def first_page(self, since: datetime, before: datetime, per_page: int) -> dict[str, Any]:
        """``[since, before)`` oldest first; ``limit`` instead of ``per_page``."""
        return {
            "since": format_time(since),
            "before": format_time(before),
            "direction": "asc",
            "limit": per_page,
        }

    def next_page(
        self,
        params: Mapping[str, Any],
        body: Mapping[str, Any],
        results: Sequence[Mapping[str, Any]],
        position: datetime,
    ) -> dict[str, Any] | None:
        """Follow ``result_info.cursor`` (or ``cursors.after``) until empty, same query."""
        info = body.get("result_info") or {}
        cursor = info.get("cursor") or (info.get("cursors") or {}).get("after")
        if not results or not cursor:
            return None
        return {**params, "cursor": cursor}

    def time(self, raw: Mapping[str, Any]) -> datetime:
        """``action.time``."""
        action = raw.get("action")
        value = action.get("time") if isinstance(action, Mapping) else None
        try:
            return parse_time(str(value))
        except ValueError as exc:
            msg = f"record has no valid 'action.time': {value!r}"
            raise RecordError(msg) from exc
