"""Account members (facts §6): seeded roster, query semantics and admin mutations.

`GET /accounts/{id}/members`: `page` (>= 1), `per_page` (5..50, default 20; over 50 is a
400, or clamped with per_page_over_max="clamp"; under 5 is always a 400), `order`
(user.first_name | user.last_name | user.email | status; default: membership creation
order), `direction` (asc default | desc), `status` (accepted | pending | rejected).
`result_info {page, per_page, count, total_count, total_pages}`.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping
from typing import Any

from sim.config import SimConfig
from sim.params import direction_param, int_param
from sim.people import hex_id, people
from sim.store import Page, QueryError

_AREAS = ("analytics", "billing", "cache_purge", "dns", "dns_records", "lb", "logs",
          "organization", "ssl", "waf", "zone_settings", "zones")
# name -> (description, readable areas ("*" = all), writable areas)
ROLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "Super Administrator - All Privileges": (
        "Can edit any Cloudflare setting, make purchases, update billing, and manage "
        "memberships.", ("*",), ("*",)),
    "Administrator": ("Can access the full account, except for membership management and "
                      "billing.", ("*",), tuple(a for a in _AREAS if a != "billing")),
    "Administrator Read Only": ("Can access the full account in read-only mode.", ("*",), ()),
    "Audit Logs Viewer": ("Can view Audit Logs.", ("logs", "organization"), ()),
    "DNS": ("Can view and edit DNS records.", ("dns", "dns_records", "zones"),
            ("dns", "dns_records")),
    "Billing": ("Can edit the account's billing profile and subscriptions.", ("billing",),
                ("billing",)),
    "Cloudflare Zero Trust": ("Can edit Cloudflare Zero Trust.", ("organization",),
                              ("organization",)),
}
_ROLE_WEIGHTS = (0, 20, 25, 10, 20, 5, 20)
ORDERS = ("user.first_name", "user.last_name", "user.email", "status")
STATUSES = ("accepted", "pending", "rejected")


def role(name: str) -> dict[str, Any]:
    """The role object `{id, name, description, permissions}` of a known role name."""
    if name not in ROLES:
        msg = f"unknown role {name!r}; known: {', '.join(ROLES)}"
        raise ValueError(msg)
    desc, read, write = ROLES[name]
    perms = {a: {"read": "*" in read or a in read, "write": "*" in write or a in write}
             for a in _AREAS}
    return {"id": hex_id(random.Random(f"role:{name}")), "name": name, "description": desc,
            "permissions": perms}


class MemberRoster:
    """Members of every account, in creation order."""

    def __init__(self, config: SimConfig, *, populate: bool = True) -> None:
        self.config = config
        self._members: dict[str, list[dict[str, Any]]] = {}
        if populate:
            self._seed(config.account_id, config.initial_members)

    def _seed(self, account_id: str, n: int) -> None:
        rng = random.Random(f"{self.config.seed}:{account_id}:members")
        out = self._members.setdefault(account_id, [])
        for i, (first, last, email) in enumerate(people(self.config.seed, account_id)[:n]):
            name = "Super Administrator - All Privileges" if i == 0 else rng.choices(
                list(ROLES), _ROLE_WEIGHTS)[0]
            status = "pending" if i and rng.random() < 0.15 else "accepted"
            rec = self._member(account_id, email, [name], status, first, last,
                               rng.random() < 0.6)
            if rng.random() < 0.15:
                rec["policies"] = [_policy(rng, account_id)]
            out.append(rec)

    def _member(self, account_id: str, email: str, roles: list[str], status: str,
                first: str | None, last: str | None, two_fa: bool) -> dict[str, Any]:
        rng = random.Random(f"{self.config.seed}:{account_id}:member:{email.lower()}")
        pending = status != "accepted"
        return {
            "id": hex_id(rng), "email": email, "status": status,
            "roles": [role(r) for r in roles], "policies": [],
            "user": {"id": hex_id(rng), "email": email,
                     "first_name": None if pending else first,
                     "last_name": None if pending else last,
                     "two_factor_authentication_enabled": two_fa and not pending},
        }

    def members(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Ground truth: the account's members in creation order."""
        return list(self._members.get(account_id or self.config.account_id, []))

    def query(self, account_id: str, params: Mapping[str, str]) -> Page:
        """One page per the module docstring; raises QueryError."""
        page = int_param(params, "page", 1, 1)
        clamp = self.config.per_page_over_max == "clamp"
        per_page = int_param(params, "per_page", 20, 5, 50, clamp=clamp)
        direction = direction_param(params, "asc")
        order = params.get("order", "")
        if order and order not in ORDERS:
            msg = f"order must be one of {', '.join(ORDERS)}"
            raise QueryError(msg)
        status = params.get("status", "")
        if status and status not in STATUSES:
            msg = f"status must be one of {', '.join(STATUSES)}"
            raise QueryError(msg)
        rows = [m for m in self.members(account_id) if not status or m["status"] == status]
        if order:
            def key(m: dict[str, Any]) -> tuple[bool, str]:
                value = m["status"] if order == "status" else m["user"][order[5:]]
                return value is None, str(value or "").lower()
            rows.sort(key=key)
        if direction == "desc":
            rows.reverse()
        chunk = rows[(page - 1) * per_page:page * per_page]
        return Page(chunk, {"page": page, "per_page": per_page, "count": len(chunk),
                            "total_count": len(rows),
                            "total_pages": math.ceil(len(rows) / per_page)})

    def mutate(self, account_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply `{add, remove, set_role, set_status}` atomically; ValueError if invalid."""
        rows = copy.deepcopy(self._members.get(account_id, []))
        by_email = {m["email"].lower(): m for m in rows}
        for item in body.get("add") or []:
            spec: dict[str, Any] = {"email": item} if isinstance(item, str) else dict(item)
            email = str(spec.get("email", ""))
            if "@" not in email or email.lower() in by_email:
                msg = f"add: invalid or duplicate email {email!r}"
                raise ValueError(msg)
            roles = spec.get("roles") or [spec.get("role", "Administrator Read Only")]
            status = spec.get("status", "pending")
            if status not in STATUSES:
                msg = f"add: status must be one of {', '.join(STATUSES)}"
                raise ValueError(msg)
            rec = self._member(account_id, email, [str(r) for r in roles], status,
                               spec.get("first_name"), spec.get("last_name"),
                               bool(spec.get("two_factor_authentication_enabled", False)))
            rows.append(rec)
            by_email[email.lower()] = rec
        for email in body.get("remove") or []:
            rows.remove(_find(by_email, email))
            del by_email[str(email).lower()]
        for email, names in (body.get("set_role") or {}).items():
            names = [names] if isinstance(names, str) else list(names)
            _find(by_email, email)["roles"] = [role(str(n)) for n in names]
        for email, status in (body.get("set_status") or {}).items():
            if status not in STATUSES:
                msg = f"set_status: status must be one of {', '.join(STATUSES)}"
                raise ValueError(msg)
            _find(by_email, email)["status"] = status
        self._members[account_id] = rows
        return {"members": len(rows)}


def _find(by_email: Mapping[str, dict[str, Any]], email: Any) -> dict[str, Any]:
    rec = by_email.get(str(email).lower())
    if rec is None:
        msg = f"no member with email {email!r}"
        raise ValueError(msg)
    return rec


def _policy(rng: random.Random, account_id: str) -> dict[str, Any]:
    return {
        "id": hex_id(rng), "access": "allow",
        "permission_groups": [{"id": hex_id(rng), "meta": {}, "name": "Zone Read"}],
        "resource_groups": [{"id": hex_id(rng), "meta": {}, "name": "All zones",
                             "scope": [{"key": f"com.cloudflare.api.account.{account_id}",
                                        "objects": [{"key": "*"}]}]}],
    }
