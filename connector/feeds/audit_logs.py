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


class UserAuditLogs(AuditLogs):
    """The same audit events through ``GET /user/audit_logs``, for user-scoped credentials.

    Same dataset, schema and topic as ``audit_logs`` (the dedup key is the event id, so an
    event seen through both endpoints is one key). The checkpoint is kept per configured
    account entry, whose credential is the user's.
    """

    name = "user_audit_logs"
    scope = "user"
    path = "/user/audit_logs"

    def partition(self, scope_id: str) -> dict[str, str]:
        """Per feed and configured account (a user id is not needed to resume)."""
        return {"feed": self.name, "account": scope_id}
