"""Account audit logs (v1): ``GET /accounts/{account_id}/audit_logs``."""

from __future__ import annotations

from connector.feeds.base import PullFeed


class AuditLogs(PullFeed):
    """Who changed what in the account: DNS, WAF, tokens, members, logins."""

    name = "audit_logs"
    topic = "cloudflare.audit_logs.v1"
    schema = "cloudflare.audit_logs"
    path = "/accounts/{account_id}/audit_logs"
    time_field = "when"
    key_field = "id"
    json_fields = frozenset({"newValueJson", "oldValueJson"})
    permission = "Account Settings Read"
