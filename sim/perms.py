"""API token permissions (facts §0 table): which permission group each endpoint needs.

A token listed in `SimConfig.limited_tokens` holds only the permissions listed there; every
other credential (api_token, account_token, the global key) holds all of them. Permissions
are compared by slug (`slug("Account Settings Read") == "account_settings_read"`), so names
and slugs can be mixed. A "... Read" requirement is also met by the matching "... Write".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ACCOUNT_SETTINGS_READ = "Account Settings Read"
ACCOUNT_SETTINGS_WRITE = "Account Settings Write"
SCIM_PROVISIONING = "SCIM Provisioning"
ACCESS_AUDIT_LOGS_READ = "Access: Audit Logs Read"
ACCESS_ORGS_READ = "Access: Organizations, Identity Providers, and Groups Read"
ACCESS_ORGS_WRITE = "Access: Organizations, Identity Providers, and Groups Write"
LOGS_READ = "Logs Read"
LOGS_WRITE = "Logs Write"
ACCOUNT_ANALYTICS_READ = "Account Analytics Read"

#: every permission the simulator knows, by name
ALL: tuple[str, ...] = (
    ACCOUNT_SETTINGS_READ, ACCOUNT_SETTINGS_WRITE, SCIM_PROVISIONING, ACCESS_AUDIT_LOGS_READ,
    ACCESS_ORGS_READ, ACCESS_ORGS_WRITE, LOGS_READ, LOGS_WRITE, ACCOUNT_ANALYTICS_READ,
)

#: what each endpoint family accepts (any one of them is enough)
AUDIT_LOGS: tuple[str, ...] = (ACCOUNT_SETTINGS_READ, ACCOUNT_SETTINGS_WRITE)
MEMBERS: tuple[str, ...] = (ACCOUNT_SETTINGS_READ, ACCOUNT_SETTINGS_WRITE, SCIM_PROVISIONING)
ACCESS_REQUESTS: tuple[str, ...] = (ACCESS_AUDIT_LOGS_READ,)
ACCESS_USERS: tuple[str, ...] = (ACCESS_ORGS_READ, ACCESS_ORGS_WRITE)
LOGPULL: tuple[str, ...] = (LOGS_READ, LOGS_WRITE)
GRAPHQL: tuple[str, ...] = (ACCOUNT_ANALYTICS_READ,)


def slug(name: str) -> str:
    """`"Access: Audit Logs Read"` -> `"access_audit_logs_read"` (idempotent)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def normalize(names: Iterable[str]) -> frozenset[str]:
    """The slugs of the given names (empty names dropped)."""
    return frozenset(s for s in (slug(n) for n in names) if s)


def allows(held: frozenset[str] | None, needed: Iterable[str]) -> bool:
    """Whether `held` (slugs; None = everything) satisfies any of `needed`."""
    if held is None:
        return True
    return any(slug(n) in held for n in needed)


def parse_limited_token(spec: str) -> tuple[str, frozenset[str]]:
    """CLI `TOKEN=perm1,perm2` (or `;`-separated, needed for names containing commas)."""
    token, sep, perms = spec.partition("=")
    if not sep or not token.strip():
        msg = f"expected TOKEN=perm1,perm2, got {spec!r}"
        raise ValueError(msg)
    parts = perms.split(";") if ";" in perms else perms.split(",")
    return token.strip(), frozenset(p.strip() for p in parts if p.strip())
