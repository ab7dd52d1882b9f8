"""Account members and Zero Trust users -> User Inventory Info (5003), activity Collect.

The event time is the snapshot's (``cf.snapshot_at`` header); an Access user without one
falls back to its ``updated_at``. Roles are ``user.groups`` (type ``Role``); a member's
``user.uid`` is its user id and ``user.uid_alt`` its membership id. Seats, device
counts, membership status and policies have no OCSF 1.3.0 attribute and stay in
``unmapped``; ``last_successful_login``, ``created_at`` and ``updated_at`` are
``user.ldap_person`` times. ``has_mfa`` is OCSF 1.4's attribute; it and
``last_successful_login`` are also kept in ``unmapped`` under their Cloudflare names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .classes import USER_INVENTORY
from .engine import ClassMapping, Dataset, Route, TimeSpec, const, copy, derive
from .errors import Unmappable
from .transforms import boolean, first_text, optional_rfc3339_ms, rfc3339_ms, text


def full_name(first: Any, last: Any) -> str | None:
    """``first last`` (either may be missing)."""
    return " ".join(p for p in (text(first), text(last)) if p) or None


def role_groups(roles: Any) -> list[dict[str, str | None]] | None:
    """Cloudflare roles ``[{id, name, description, permissions}]`` -> OCSF groups."""
    if roles is None:
        return None
    if not isinstance(roles, list) or not all(isinstance(r, Mapping) for r in roles):
        raise Unmappable
    return [{"uid": text(r.get("id")), "name": text(r.get("name")),
             "desc": text(r.get("description")), "type": "Role"} for r in roles]


_COMMON = (
    derive("cloud.account.uid", ("@account",), first_text),
    derive("cloud.account.name", ("@account_name",), first_text),
    const("activity_id", 2),
    const("user.type_id", 1),
    const("user.type", "User"),
)
MEMBER = ClassMapping(USER_INVENTORY, (
    *_COMMON,
    copy("user.uid", "user.id"),
    copy("user.uid_alt", "id"),
    derive("user.email_addr", ("user.email", "email"), first_text),
    derive("user.name", ("user.email", "email"), first_text),
    derive("user.full_name", ("user.first_name", "user.last_name"), full_name),
    derive("user.has_mfa", "user.two_factor_authentication_enabled", boolean),
    derive("user.groups", "roles", role_groups),
), keep=frozenset({"user.two_factor_authentication_enabled"}))
ACCESS_USER = ClassMapping(USER_INVENTORY, (
    *_COMMON,
    copy("user.uid", "id"),
    copy("user.uid_alt", "uid"),
    copy("user.email_addr", "email"),
    copy("user.name", "email"),
    copy("user.full_name", "name"),
    derive("user.ldap_person.created_time", "created_at", optional_rfc3339_ms),
    derive("user.ldap_person.modified_time", "updated_at", optional_rfc3339_ms),
    derive("user.ldap_person.last_login_time", "last_successful_login", optional_rfc3339_ms),
), keep=frozenset({"last_successful_login"}))

MEMBERS = Dataset(
    name="members",
    raw_schema="cloudflare.members",
    json_fields=frozenset({"roles", "policies"}),
    product="Cloudflare Account Members",
    time=TimeSpec(("@snapshot_at",), rfc3339_ms),
    routes=(Route(MEMBER),),
)
ACCESS_USERS = Dataset(
    name="access_users",
    raw_schema="cloudflare.access_users",
    json_fields=frozenset(),
    product="Cloudflare Zero Trust Users",
    time=TimeSpec(("@snapshot_at", "updated_at"), rfc3339_ms),
    routes=(Route(ACCESS_USER),),
)
