"""Zero Trust Access authentication logs: ``GET /accounts/{id}/access/logs/access_requests``."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from connector.errors import RecordError
from connector.feeds.base import PullFeed

KEY_FIELDS = ("ray_id", "created_at", "action", "user_email")


class AccessRequests(PullFeed):
    """Who logged in to which Access application, allowed or denied.

    Records have no id: the key is derived from ``ray_id``, ``created_at``, ``action`` and
    ``user_email`` (login and logout of one request are separate records).
    """

    name = "access_requests"
    topic = "cloudflare.access_requests.v1"
    schema = "cloudflare.access_requests"
    path = "/accounts/{account_id}/access/logs/access_requests"
    time_field = "created_at"
    key_field = "ray_id"
    before_param = "until"
    permission = "Access: Audit Logs Read"

    def key(self, raw: Mapping[str, Any]) -> str:
        """``sha256`` of the four identifying fields (stable, fixed length)."""
        parts = [raw.get(f) for f in KEY_FIELDS]
        if not raw.get("ray_id") or not raw.get("created_at"):
            msg = "record has no 'ray_id' or 'created_at' (the dedup key)"
            raise RecordError(msg)
        text = "\x1f".join("" if p is None else str(p) for p in parts)
        return hashlib.sha256(text.encode()).hexdigest()[:32]
