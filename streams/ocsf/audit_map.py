"""Account audit logs v1 and v2 -> API Activity (6003), logins -> Authentication (3002).

``api.operation`` is Cloudflare's action type verbatim (``token_create``, ``rec_del``,
``API_key_view``, ``rotate_API_key``; v2: ``create``/``update``/``delete``/``view``), the
activity comes from the verbs in it, and ``resources[0]`` is Cloudflare's resource with its
type verbatim (``DNS_record``, ``api_key``, ``account``; v2 ``dns_records``, ``tokens``,
``members``). Tokens, members and zones named in the record follow as further resources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .classes import API_ACTIVITY, AUTHENTICATION, USER_TYPE
from .engine import ClassMapping, Dataset, Route, Rule, TimeSpec, copy, derive
from .transforms import (
    first_text,
    integer,
    path_of,
    query_of,
    rfc3339_ms,
    severity_id,
    status_id,
    text,
)

#: OCSF API Activity ids by the words of an action type; the first table that matches wins
API_VERBS: tuple[tuple[int, frozenset[str]], ...] = (
    (1, frozenset({"create", "add", "insert", "new", "register", "invite", "enable", "post"})),
    (4, frozenset({"delete", "del", "remove", "rem", "revoke", "disable", "purge", "destroy"})),
    (3, frozenset({"update", "set", "change", "edit", "modify", "rotate", "roll", "deploy",
                   "deployed", "patch", "put", "move", "reset", "replace"})),
    (2, frozenset({"read", "get", "view", "list", "download", "export", "show"})),
)
#: Authentication activities (1 Logon, 2 Logoff) by a word of the action type
AUTH_WORDS: Mapping[str, int] = MappingProxyType({
    "login": 1, "logon": 1, "signin": 1, "logout": 2, "logoff": 2, "signout": 2,
})
#: v2 action descriptions that mean a login or logout (lower case, single spaces)
AUTH_DESCRIPTIONS: Mapping[str, int] = MappingProxyType({
    "login": 1, "log in": 1, "user login": 1, "logged in": 1, "sign in": 1,
    "logout": 2, "log out": 2, "user logout": 2, "logged out": 2, "sign out": 2,
})
#: Cloudflare actor types -> OCSF user type_id (others: 99 Other, with Cloudflare's label)
USER_TYPES: Mapping[str, int] = MappingProxyType({
    "user": 1, "admin": 2, "cloudflare_admin": 2, "system": 3,
})


_NON_LETTERS = re.compile(r"[^a-z]+")


def _words(value: Any) -> list[str]:
    return [w for w in _NON_LETTERS.split(value.lower()) if w] if isinstance(value, str) else []


def api_activity_id(action_type: Any) -> int:
    """Create 1 / Read 2 / Update 3 / Delete 4 from the verbs of the action type, else 99."""
    words = set(_words(action_type))
    if not words:
        return 0
    return next((aid for aid, verbs in API_VERBS if words & verbs), 99)


def auth_activity_id(action_type: Any, description: Any = None) -> int | None:
    """1 Logon / 2 Logoff when the action type (or a v2 description) is a login or logout."""
    for word in _words(action_type):
        if word in AUTH_WORDS:
            return AUTH_WORDS[word]
    if isinstance(description, str):
        return AUTH_DESCRIPTIONS.get(" ".join(_words(description)))
    return None


def is_auth(action_type: Any, description: Any = None) -> bool:
    """Whether the audit record is a login or logout (routes it to Authentication)."""
    return auth_activity_id(action_type, description) is not None


def user_type_id(actor_type: Any) -> int | None:
    """OCSF user ``type_id`` of a Cloudflare actor type."""
    found = text(actor_type)
    return None if found is None else USER_TYPES.get(found.lower(), 99)


def user_type(actor_type: Any) -> str | None:
    """OCSF user ``type``: the caption, or Cloudflare's label for 99 Other."""
    type_id = user_type_id(actor_type)
    if type_id is None:
        return None
    return text(actor_type) if type_id == 99 else USER_TYPE[type_id]


def _resources(
    primary: dict[str, str | None], named: tuple[tuple[str, Any, Any], ...]
) -> list[dict[str, str | None]] | None:
    out = [primary] if any(primary.values()) else []
    kind = (primary.get("type") or "").lower()
    for other, uid, name in named:
        uid, name = text(uid), text(name)
        if uid is None and name is None:
            continue
        if other == kind:  # the resource itself: fill what Cloudflare left out
            primary["uid"] = primary["uid"] or uid
            primary["name"] = primary["name"] or name
        else:
            out.append({"type": other, "uid": uid, "name": name})
    return out or None


def audit_v1_resources(
    rtype: Any, rid: Any, new_name: Any, old_name: Any, token_tag: Any, token_name: Any,
    member_email: Any, zone_name: Any, new_zone_id: Any, old_zone_id: Any,
) -> list[dict[str, str | None]] | None:
    """``resource`` {type verbatim, id, name from new/oldValueJson}, then token, member and
    zone named in ``metadata``."""
    primary = {"type": text(rtype), "uid": text(rid), "name": first_text(new_name, old_name)}
    return _resources(primary, (
        ("api_token", token_tag, token_name),
        ("member", None, member_email),
        ("zone", new_zone_id if new_zone_id is not None else old_zone_id, zone_name),
    ))


def audit_v2_resources(
    rtype: Any, rid: Any, response_name: Any, request_name: Any, zone_id: Any, zone_name: Any,
) -> list[dict[str, str | None]] | None:
    """``resource`` {type verbatim, id, name from response/request}, then the zone."""
    primary = {"type": text(rtype), "uid": text(rid),
               "name": first_text(response_name, request_name)}
    return _resources(primary, (("zone", zone_id, zone_name),))


def _actor(prefix: str, uid: str, email: str, kind: str) -> tuple[Rule, ...]:
    return (
        copy(f"{prefix}.uid", uid),
        copy(f"{prefix}.email_addr", email),
        copy(f"{prefix}.name", email),
        derive(f"{prefix}.type_id", kind, user_type_id),
        derive(f"{prefix}.type", kind, user_type),
    )


_ACCOUNT = (
    derive("metadata.uid", ("@key", "id"), first_text),
    derive("cloud.account.uid", ("account.id", "@account"), first_text),
    derive("cloud.account.name", ("account.name", "@account_name"), first_text),
)
_V1_COMMON = (
    *_ACCOUNT,
    *_actor("actor.user", "actor.id", "actor.email", "actor.type"),
    copy("src_endpoint.ip", "actor.ip"),
    derive("status_id", "action.result", status_id),
    derive("severity_id", "action.result", severity_id),
    copy("message", "action.description"),
)
V1_API = ClassMapping(API_ACTIVITY, (
    *_V1_COMMON,
    derive("activity_id", "action.type", api_activity_id),
    copy("api.operation", "action.type"),
    derive("resources", ("resource.type", "resource.id", "newValueJson.name",
                         "oldValueJson.name", "metadata.token_tag", "metadata.token_name",
                         "metadata.member_email", "metadata.zone_name",
                         "newValueJson.zone_id", "oldValueJson.zone_id"), audit_v1_resources),
))
V1_AUTH = ClassMapping(AUTHENTICATION, (
    *_V1_COMMON,
    derive("activity_id", "action.type", auth_activity_id),
    *_actor("user", "actor.id", "actor.email", "actor.type"),
))

_V2_COMMON = (
    *_ACCOUNT,
    *_actor("actor.user", "actor.id", "actor.email", "actor.type"),
    copy("actor.user.credential_uid", "actor.token_id"),
    copy("src_endpoint.ip", "actor.ip_address"),
    derive("status_id", "action.result", status_id),
    derive("severity_id", "action.result", severity_id),
    copy("message", "action.description"),
    copy("http_request.uid", "raw.cf_ray_id"),
    copy("http_request.http_method", "raw.method"),
    derive("http_request.url.path", "raw.uri", path_of),
    derive("http_request.url.query_string", "raw.uri", query_of),
    copy("http_request.user_agent", "raw.user_agent"),
)
V2_API = ClassMapping(API_ACTIVITY, (
    *_V2_COMMON,
    derive("activity_id", "action.type", api_activity_id),
    copy("api.operation", "action.type"),
    copy("api.service.name", "resource.product"),
    copy("api.request.uid", "raw.cf_ray_id"),
    derive("api.response.code", "raw.status_code", integer),
    derive("resources", ("resource.type", "resource.id", "resource.response.name",
                         "resource.request.name", "zone.id", "zone.name"), audit_v2_resources),
))
V2_AUTH = ClassMapping(AUTHENTICATION, (
    *_V2_COMMON,
    derive("activity_id", ("action.type", "action.description"), auth_activity_id),
    *_actor("user", "actor.id", "actor.email", "actor.type"),
    copy("user.credential_uid", "actor.token_id"),
))

AUDIT_LOGS = Dataset(
    name="audit_logs",
    raw_schema="cloudflare.audit_logs",
    json_fields=frozenset({"newValueJson", "oldValueJson"}),
    product="Cloudflare Audit Logs",
    time=TimeSpec(("when",), rfc3339_ms),
    routes=(Route(V1_AUTH, ("action.type",), is_auth), Route(V1_API)),
)
AUDIT_LOGS_V2 = Dataset(
    name="audit_logs_v2",
    raw_schema="cloudflare.audit_logs_v2",
    json_fields=frozenset({"resource.request", "resource.response", "resource.scope"}),
    product="Cloudflare Audit Logs",
    time=TimeSpec(("action.time",), rfc3339_ms),
    routes=(Route(V2_AUTH, ("action.type", "action.description"), is_auth), Route(V2_API)),
)
