"""Zero Trust users (facts §6): seeded roster, query semantics and admin mutations.

`GET /accounts/{id}/access/users`: `page` (>= 1), `per_page` (1..max_per_page, default
25), `email` and `name` (exact, case-insensitive), `search` (substring of email or name).
Creation order. `result_info {page, per_page, count, total_count, total_pages}`.
`uid` equals `id`; `last_successful_login` may be null (never logged in).
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sim.config import SimConfig
from sim.params import int_param
from sim.people import hex_id, people, uuid4
from sim.store import Page
from sim.timeutil import format_rfc3339

DEFAULT_PER_PAGE = 25


class AccessUserRoster:
    """Zero Trust users of every account, in creation order."""

    def __init__(self, config: SimConfig, *, populate: bool = True) -> None:
        self.config = config
        self._users: dict[str, list[dict[str, Any]]] = {}
        if populate:
            rng = random.Random(f"{config.seed}:{config.account_id}:access_users")
            now = config.clock()
            out = self._users.setdefault(config.account_id, [])
            chosen = people(config.seed, config.account_id)[:config.initial_access_users]
            ages = sorted((rng.uniform(1, 400) for _ in chosen), reverse=True)
            for (first, last, email), age in zip(chosen, ages, strict=True):
                created = now - timedelta(days=age)
                login = None if rng.random() < 0.1 else created + (now - created) * rng.random()
                out.append(self._user(config.account_id, email, f"{first} {last}",
                                      rng.random() < 0.8, rng.random() < 0.5, created,
                                      created + (now - created) * rng.random(), login,
                                      rng.randint(0, 3)))

    def _user(self, account_id: str, email: str, name: str, access: bool, gateway: bool,
              created: datetime, updated: datetime, login: datetime | None,
              devices: int) -> dict[str, Any]:
        rng = random.Random(f"{self.config.seed}:{account_id}:access_user:{email.lower()}")
        uid = uuid4(rng)
        return {
            "id": uid, "uid": uid, "email": email, "name": name,
            "access_seat": access, "gateway_seat": gateway, "seat_uid": hex_id(rng),
            "active_device_count": devices,
            "last_successful_login": None if login is None else format_rfc3339(login),
            "created_at": format_rfc3339(created), "updated_at": format_rfc3339(updated),
        }

    def users(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """Ground truth: the account's Zero Trust users in creation order."""
        return list(self._users.get(account_id or self.config.account_id, []))

    def query(self, account_id: str, params: Mapping[str, str]) -> Page:
        """One page per the module docstring; raises QueryError."""
        page = int_param(params, "page", 1, 1)
        clamp = self.config.per_page_over_max == "clamp"
        per_page = int_param(params, "per_page", DEFAULT_PER_PAGE, 1, self.config.max_per_page,
                             clamp=clamp)
        email = params.get("email", "").lower()
        name = params.get("name", "").lower()
        search = params.get("search", "").lower()
        rows = [u for u in self.users(account_id)
                if (not email or u["email"].lower() == email)
                and (not name or u["name"].lower() == name)
                and (not search or search in u["email"].lower() or search in u["name"].lower())]
        chunk = rows[(page - 1) * per_page:page * per_page]
        return Page(chunk, {"page": page, "per_page": per_page, "count": len(chunk),
                            "total_count": len(rows),
                            "total_pages": math.ceil(len(rows) / per_page)})

    def mutate(self, account_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Apply `{add, remove, set_seat}` atomically; ValueError if invalid."""
        now = self.config.clock()
        rows = copy.deepcopy(self._users.get(account_id, []))
        by_email = {u["email"].lower(): u for u in rows}
        for item in body.get("add") or []:
            spec: dict[str, Any] = {"email": item} if isinstance(item, str) else dict(item)
            email = str(spec.get("email", ""))
            if "@" not in email or email.lower() in by_email:
                msg = f"add: invalid or duplicate email {email!r}"
                raise ValueError(msg)
            rec = self._user(account_id, email, str(spec.get("name", email.split("@")[0])),
                             bool(spec.get("access_seat", True)),
                             bool(spec.get("gateway_seat", False)), now, now, None,
                             int(spec.get("active_device_count", 0)))
            rows.append(rec)
            by_email[email.lower()] = rec
        for email in body.get("remove") or []:
            rows.remove(_find(by_email, email))
            del by_email[str(email).lower()]
        for email, seats in (body.get("set_seat") or {}).items():
            rec = _find(by_email, email)
            for seat in ("access_seat", "gateway_seat"):
                if seat in seats:
                    rec[seat] = bool(seats[seat])
            rec["updated_at"] = format_rfc3339(now)
        self._users[account_id] = rows
        return {"users": len(rows)}


def _find(by_email: Mapping[str, dict[str, Any]], email: Any) -> dict[str, Any]:
    rec = by_email.get(str(email).lower())
    if rec is None:
        msg = f"no Zero Trust user with email {email!r}"
        raise ValueError(msg)
    return rec
