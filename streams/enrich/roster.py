"""User context from the latest rosters (account members and Access users), joined by email.

The roster topics (``cloudflare.members.v1``, ``cloudflare.access_users.v1``) are compacted
and keyed ``<account>/<user id>``; a tombstone (value None) removes a user. :class:`Roster`
folds those RAW Cloudflare records into two plain mutable mappings, so a Faust table (a
GlobalTable: lookups come from every partition) can back them later:

- ``profiles``: lower-cased email -> ``{"email", "members": {account: {...}},
  "access": {account: {...}}}`` (JSON-serialisable; always replaced, never mutated in
  place, so a table's changelog sees every change);
- ``index``: ``members:<key>`` / ``access_users:<key>`` -> email, which is what lets a
  tombstone (key only) find the profile it removes.

On an event it looks up ``user`` and ``actor.user`` by email and adds what OCSF has
attributes for (``has_mfa``, ``groups`` = roles, ``full_name``) plus one ``user_roster``
enrichment with roles, 2FA, membership status and Access/Gateway seats.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from .record import RawView, Record, dumps, get_str, upsert_enrichment

PROVIDER = "cloudflare_roster"
ROSTER_ENRICHMENT = "user_roster"
MEMBERS = "members"
ACCESS_USERS = "access_users"
ROLE_GROUP_TYPE = "Cloudflare role"

Profile = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UserContext:
    """What the rosters say about one user (in one account when the event names one)."""

    email: str
    roles: tuple[str, ...] = ()
    two_factor: bool | None = None
    member_status: str | None = None
    full_name: str | None = None
    access_seat: bool | None = None
    gateway_seat: bool | None = None
    last_successful_login: str | None = None

    def as_data(self) -> dict[str, Any]:
        """The ``enrichments[].data`` object (only known fields)."""
        data: dict[str, Any] = {
            "roles": list(self.roles),
            "two_factor_authentication_enabled": self.two_factor,
            "member_status": self.member_status,
            "access_seat": self.access_seat,
            "gateway_seat": self.gateway_seat,
            "last_successful_login": self.last_successful_login,
        }
        return {key: value for key, value in data.items() if value is not None}


class Roster:
    """Members and Access users by lower-cased email, fed with raw roster records."""

    def __init__(
        self,
        profiles: MutableMapping[str, Profile] | None = None,
        index: MutableMapping[str, str] | None = None,
    ) -> None:
        """Keep state in ``profiles`` and ``index`` (dicts by default; Faust tables later)."""
        self.profiles: MutableMapping[str, Profile] = {} if profiles is None else profiles
        self.index: MutableMapping[str, str] = {} if index is None else index

    # -- feeding ---------------------------------------------------------------------------

    def apply(self, dataset: str, key: str, record: Mapping[str, Any] | None) -> None:
        """Fold one roster message (``dataset`` = ``members`` or ``access_users``; None = removal).

        Other datasets are ignored, so an agent can pass every roster message through.
        """
        if dataset not in (MEMBERS, ACCESS_USERS):
            return
        if record is None:
            self.remove(dataset, key)
            return
        email = record.get("email")
        if not isinstance(email, str) or not email.strip():
            user = record.get("user")
            email = user.get("email") if isinstance(user, Mapping) else None
        if not isinstance(email, str) or not email.strip():
            self.remove(dataset, key)  # no email: nothing to join on
            return
        entry = _member_entry(record) if dataset == MEMBERS else _access_entry(record)
        self._put(dataset, key, email.strip().lower(), entry)

    def apply_member(self, key: str, record: Mapping[str, Any] | None) -> None:
        """Fold one ``members`` message (None = tombstone)."""
        self.apply(MEMBERS, key, record)

    def apply_access_user(self, key: str, record: Mapping[str, Any] | None) -> None:
        """Fold one ``access_users`` message (None = tombstone)."""
        self.apply(ACCESS_USERS, key, record)

    def remove(self, dataset: str, key: str) -> None:
        """Forget the user that ``key`` named in ``dataset`` (a tombstone)."""
        email = self.index.pop(f"{dataset}:{key}", None)
        if email is None:
            return
        profile = self.profiles.get(email)
        if profile is None:
            return
        part = dict(profile.get(dataset) or {})
        account = _account_of(key)
        if part.get(account, {}).get("key") not in (None, key):
            return  # another key of this email in the same account is the current one
        part.pop(account, None)
        updated = {**profile, dataset: part}
        if updated.get(MEMBERS) or updated.get(ACCESS_USERS):
            self.profiles[email] = updated
        else:
            del self.profiles[email]

    def _put(self, dataset: str, key: str, email: str, entry: dict[str, Any]) -> None:
        index_key = f"{dataset}:{key}"
        previous = self.index.get(index_key)
        if previous is not None and previous != email:
            self.remove(dataset, key)  # the user's email changed: leave the old profile
        entry = {**entry, "key": key}
        profile = self.profiles.get(email) or {"email": email, MEMBERS: {}, ACCESS_USERS: {}}
        part = dict(profile.get(dataset) or {})
        part[_account_of(key)] = entry
        self.profiles[email] = {**profile, dataset: part}
        self.index[index_key] = email

    # -- lookup ----------------------------------------------------------------------------

    def lookup(self, email: str, account_id: str | None = None) -> UserContext | None:
        """The user's context, in ``account_id`` when given (else across all accounts)."""
        profile = self.profiles.get(email.strip().lower())
        if profile is None:
            return None
        members = _pick(profile.get(MEMBERS), account_id)
        access = _pick(profile.get(ACCESS_USERS), account_id)
        if not members and not access:
            return None
        roles: list[str] = []
        two_factor: bool | None = None
        statuses: list[str] = []
        full_name: str | None = None
        for member in members:
            roles.extend(r for r in member.get("roles", ()) if r not in roles)
            if isinstance(member.get("two_factor"), bool):
                two_factor = bool(two_factor) or member["two_factor"]
            if member.get("status"):
                statuses.append(member["status"])
            full_name = full_name or member.get("name")
        access_seat = _any_flag(access, "access_seat")
        gateway_seat = _any_flag(access, "gateway_seat")
        logins = sorted(
            str(a["last_successful_login"]) for a in access if a.get("last_successful_login")
        )
        for entry in access:
            full_name = full_name or entry.get("name")
        return UserContext(
            email=str(profile.get("email", email)),
            roles=tuple(roles),
            two_factor=two_factor,
            member_status=statuses[0]
            if len(set(statuses)) == 1
            else ("mixed" if statuses else None),
            full_name=full_name,
            access_seat=access_seat,
            gateway_seat=gateway_seat,
            last_successful_login=logins[-1] if logins else None,
        )

    # -- enrichment ------------------------------------------------------------------------

    def __call__(self, record: Record, raw: RawView) -> None:
        """Add roster context to ``user`` and ``actor.user`` of ``record``."""
        user = record.get("user")
        actor = record.get("actor")
        actor_user = actor.get("user") if isinstance(actor, dict) else None
        if not isinstance(user, dict) and not isinstance(actor_user, dict):
            return  # the common case on the hot path: HTTP events have no user
        account_id = get_str(record, "cloud", "account", "uid")
        if isinstance(user, dict):
            self._enrich_user(record, user, "user", account_id)
        if isinstance(actor_user, dict):
            self._enrich_user(record, actor_user, "actor.user", account_id)

    def _enrich_user(
        self, record: Record, user: dict[str, Any], path: str, account_id: str | None
    ) -> None:
        email = user.get("email_addr")
        if not isinstance(email, str) or not email:
            return
        context = self.lookup(email, account_id)
        if context is None:
            return
        if context.two_factor is not None and user.get("has_mfa") is None:
            user["has_mfa"] = context.two_factor
        if context.full_name and not user.get("full_name"):
            user["full_name"] = context.full_name
        if context.roles:
            groups = user.get("groups")
            groups = list(groups) if isinstance(groups, list) else []
            known = {g.get("name") for g in groups if isinstance(g, Mapping)}
            groups.extend(
                {"name": role, "type": ROLE_GROUP_TYPE}
                for role in context.roles
                if role not in known
            )
            user["groups"] = groups
        upsert_enrichment(
            record,
            name=f"{path}.email_addr",
            value=email,
            type_=ROSTER_ENRICHMENT,
            provider=PROVIDER,
            data=dumps(context.as_data()),
        )


def _account_of(key: str) -> str:
    """``<account>/<user id>`` -> ``<account>`` (``""`` when the key has no account part)."""
    account, sep, _ = key.partition("/")
    return account if sep else ""


def _pick(part: Any, account_id: str | None) -> list[dict[str, Any]]:
    if not isinstance(part, Mapping) or not part:
        return []
    if account_id is not None:
        entry = part.get(account_id)
        if entry is None:
            entry = part.get("")  # a key without an account applies everywhere
        return [entry] if isinstance(entry, dict) else []
    return [entry for _, entry in sorted(part.items()) if isinstance(entry, dict)]


def _any_flag(entries: list[dict[str, Any]], name: str) -> bool | None:
    flags = [entry[name] for entry in entries if isinstance(entry.get(name), bool)]
    return any(flags) if flags else None


def _member_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a raw ``members`` record the enrichment uses (JSON-serialisable)."""
    roles: list[str] = []
    raw_roles = record.get("roles")
    if isinstance(raw_roles, list):
        for role in raw_roles:
            name = role.get("name") if isinstance(role, Mapping) else role
            if isinstance(name, str) and name and name not in roles:
                roles.append(name)
    user = record.get("user")
    user = user if isinstance(user, Mapping) else {}
    two_factor = user.get("two_factor_authentication_enabled")
    names = [user.get("first_name"), user.get("last_name")]
    full_name = " ".join(n for n in names if isinstance(n, str) and n) or None
    status = record.get("status")
    return {
        "id": record.get("id") if isinstance(record.get("id"), str) else None,
        "user_id": user.get("id") if isinstance(user.get("id"), str) else None,
        "status": status if isinstance(status, str) else None,
        "roles": roles,
        "two_factor": two_factor if isinstance(two_factor, bool) else None,
        "name": full_name,
    }


def _access_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a raw ``access_users`` record the enrichment uses."""
    entry: dict[str, Any] = {}
    for flag in ("access_seat", "gateway_seat"):
        value = record.get(flag)
        entry[flag] = value if isinstance(value, bool) else None
    login = record.get("last_successful_login")
    entry["last_successful_login"] = login if isinstance(login, str) and login else None
    name = record.get("name")
    entry["name"] = name if isinstance(name, str) and name else None
    entry["id"] = record.get("id") if isinstance(record.get("id"), str) else None
    return entry
