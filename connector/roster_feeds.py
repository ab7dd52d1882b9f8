"""Roster feeds (account members, Zero Trust users): declarations, keys and fingerprints.

A roster feed is a paged listing of users, declared by class attributes like the pull feeds.
Its records are published to a compacted topic keyed by user (``TOPIC_CONFIG``); a user's
fingerprint (dotted field path -> short digest of its value) tells the snapshot runner
whether the user changed since the last snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import schemas
from connector import convert
from connector.errors import RecordError

Fingerprint = dict[str, str]  # dotted field path -> short digest of its value

#: config of the compacted roster topics (``cleanup.policy=compact``): tombstones stay
#: readable for 7 days, and no change record is compacted away within a day of being written
TOPIC_CONFIG: Mapping[str, str] = {
    "cleanup.policy": "compact",
    "delete.retention.ms": str(7 * 86400 * 1000),
    "min.compaction.lag.ms": str(86400 * 1000),
}


class SnapshotFeed:
    """A roster endpoint paged with ``page``/``per_page``, declared by class attributes."""

    name: ClassVar[str]
    topic: ClassVar[str]
    schema: ClassVar[str]
    path: ClassVar[str]  # with {account_id}
    permission: ClassVar[str]
    per_page: ClassVar[int]  # default page size (the endpoint's maximum)
    min_per_page: ClassVar[int] = 1
    max_per_page: ClassVar[int | None] = None  # None: not documented (a clamp is followed)
    json_fields: ClassVar[frozenset[str]] = frozenset()
    #: dotted paths left out of the fingerprint (a change there alone publishes nothing)
    ignored_fields: ClassVar[frozenset[str]] = frozenset()
    scope: ClassVar[str] = "account"

    def partition(self, scope_id: str) -> dict[str, str]:
        """The checkpoint's source partition."""
        return {"feed": self.name, self.scope: scope_id}

    def url(self, scope_id: str) -> str:
        """The request path for ``scope_id``."""
        return self.path.format(account_id=scope_id)

    def params(self, page: int, per_page: int) -> dict[str, Any]:
        """Query parameters of page ``page`` (also the permission probe: page 1, min size)."""
        return {"page": page, "per_page": per_page}

    def user_key(self, raw: Mapping[str, Any]) -> str:
        """The stable per-user id; raise ``RecordError`` if the record has none."""
        value = raw.get("id")
        if not isinstance(value, str) or not value:
            msg = "record has no 'id'"
            raise RecordError(msg)
        return value

    def fingerprint(self, raw: Mapping[str, Any]) -> Fingerprint:
        """Short digests of every leaf field (nested objects flattened, null = absent)."""
        out: Fingerprint = {}
        _flatten(raw, "", out)
        return {k: v for k, v in out.items() if k not in self.ignored_fields}

    def to_value(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The Avro value (unknown fields kept in ``extra``)."""
        return convert.to_record(schemas.raw(self.schema), raw, self.json_fields)


class Members(SnapshotFeed):
    """Account members and their roles: ``GET /accounts/{id}/members``."""

    name = "members"
    topic = "cloudflare.members.v1"
    schema = "cloudflare.members"
    path = "/accounts/{account_id}/members"
    permission = "Account Settings Read"
    per_page = 50
    min_per_page = 5
    max_per_page = 50
    json_fields = frozenset({"roles", "policies"})

    def user_key(self, raw: Mapping[str, Any]) -> str:
        """``user.id`` (stable across re-invitations), else the membership ``id``."""
        user = raw.get("user")
        user_id = user.get("id") if isinstance(user, Mapping) else None
        return user_id if isinstance(user_id, str) and user_id else super().user_key(raw)


class AccessUsers(SnapshotFeed):
    """Zero Trust users, seats and last login: ``GET /accounts/{id}/access/users``."""

    name = "access_users"
    topic = "cloudflare.access_users.v1"
    schema = "cloudflare.access_users"
    path = "/accounts/{account_id}/access/users"
    permission = "Access: Organizations, Identity Providers, and Groups Read"
    per_page = 50  # the real maximum is undocumented; a clamped page size is followed


SNAPSHOT_FEEDS: dict[str, type[SnapshotFeed]] = {f.name: f for f in (Members, AccessUsers)}


def _flatten(value: Mapping[str, Any], prefix: str, out: Fingerprint) -> None:
    for name, item in value.items():
        if isinstance(item, Mapping):
            _flatten(item, f"{prefix}{name}.", out)
        elif item is not None:
            text = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            out[prefix + name] = hashlib.sha256(text.encode()).hexdigest()[:16]
