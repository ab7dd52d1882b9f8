"""Audit Logs v2 (facts §2): records, store and cursor pagination.

`GET /accounts/{id}/logs/audit`:
- `since` and `before` are required (full-date or RFC3339); `since` inclusive, `before`
  exclusive (real instants), `since` after `before` is a 400.
- `direction` asc|desc, default desc; `limit` default 100, 1..max_per_page (1000), over it
  400 (or clamp with per_page_over_max="clamp").
- `cursor`: opaque (base64url JSON of the last returned position and the direction); the
  next page starts strictly after that position, so records arriving later at earlier
  instants are never returned by an old cursor. A cursor of the other direction is a 400.
- `result_info {count: "<n>" (a string), cursor: "<next>" | ""}`; with cursor style
  "after": `result_info {count, cursors: {after: "<next>"}}` and no `after` on the last page.
- Filters: `<name>=v` (repeatable: any of) and `<name>.not=v` (repeatable: none of) for the
  names in FILTERS; others (e.g. `product_category`) are ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Mapping
from typing import Any, Literal

from sim.config import SimConfig
from sim.feedlog import BurstGenerator, FeedStore, Key
from sim.params import direction_param, int_param, time_param
from sim.people import hex_id, ip_address, people, uuid4
from sim.store import QueryError
from sim.timeutil import Precision, format_rfc3339, parse_time

CursorStyle = Literal["cursor", "after"]
DEFAULT_LIMIT = 100
ACTION_TYPES = ("create", "delete", "update", "view")
FILTERS: dict[str, tuple[str, ...]] = {
    "id": ("id",), "account_name": ("account", "name"), "action_result": ("action", "result"),
    "action_type": ("action", "type"), "actor_context": ("actor", "context"),
    "actor_email": ("actor", "email"), "actor_id": ("actor", "id"),
    "actor_ip_address": ("actor", "ip_address"), "actor_token_id": ("actor", "token_id"),
    "actor_token_name": ("actor", "token_name"), "actor_type": ("actor", "type"),
    "raw_cf_ray_id": ("raw", "cf_ray_id"), "raw_method": ("raw", "method"),
    "raw_status_code": ("raw", "status_code"), "raw_uri": ("raw", "uri"),
    "resource_id": ("resource", "id"), "resource_product": ("resource", "product"),
    "resource_scope": ("resource", "scope", "type"), "resource_type": ("resource", "type"),
    "zone_id": ("zone", "id"), "zone_name": ("zone", "name"),
}
# (product, resource type, action type, description, method, uri suffix, zone scoped, weight)
_TEMPLATES = (
    ("dns_records", "dns_records", "create", "Create DNS Record", "POST", "dns_records", 1, 14),
    ("dns_records", "dns_records", "update", "Update DNS Record", "PATCH", "dns_records/", 1, 12),
    ("dns_records", "dns_records", "delete", "Delete DNS Record", "DELETE", "dns_records/", 1, 6),
    ("members", "members", "create", "Add Member", "POST", "members", 0, 3),
    ("members", "members", "delete", "Remove Member", "DELETE", "members/", 0, 2),
    ("api_tokens", "tokens", "create", "Create API Token", "POST", "tokens", 0, 4),
    ("zone_settings", "settings", "update", "Update Zone Setting", "PATCH", "settings/", 1, 8),
    ("access", "apps", "update", "Update Access Application", "PUT", "access/apps/", 0, 5),
    ("rulesets", "rulesets", "update", "Update Ruleset", "PUT", "rulesets/", 1, 6),
    ("workers", "scripts", "update", "Upload Worker Script", "PUT", "workers/scripts/", 0, 5),
    ("audit_logs", "audit_logs", "view", "List Audit Logs", "GET", "logs/audit", 0, 2),
)
_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
       "curl/8.7.1", "terraform-provider-cloudflare/5.3.0", "cloudflare-python/v4.3.1")


class AuditV2Generator(BurstGenerator):
    """Audit v2 records of one account."""

    precisions: tuple[tuple[Precision, ...], tuple[int, ...]] = (("s", "ms", "us"), (40, 20, 40))

    def __init__(self, seed: int, account_id: str) -> None:
        super().__init__(seed, account_id, "audit_logs_v2")
        base = random.Random(f"{seed}:{account_id}:audit_logs_v2:population")
        self._users = [(hex_id(base), email) for _, _, email in people(seed, account_id)[:8]]
        self._tokens = [(hex_id(base), name) for name in ("siem-reader", "ci-deploy", "tf")]
        self._zones = [(hex_id(base), z) for z in ("example.com", "example.net", "shop.example")]
        self._ips = [ip_address(base) for _ in range(10)]

    def record(self, when: str) -> dict[str, Any]:
        """The next record at `when`."""
        rng = self.rng()
        product, rtype, atype, desc, method, suffix, zoned, _ = rng.choices(
            _TEMPLATES, [t[-1] for t in _TEMPLATES])[0]
        acct = self.account_id
        rid = hex_id(rng)
        zone_id, zone_name = rng.choice(self._zones) if zoned else ("", "")
        base = f"/client/v4/zones/{zone_id}" if zoned else f"/client/v4/accounts/{acct}"
        uri = base + "/" + suffix + (rid if suffix.endswith("/") else "")
        ok = rng.random() > 0.07
        actor = self._actor(rng)
        return {
            "id": uuid4(rng),
            "account": {"id": acct, "name": "Example Corp"},
            "action": {"description": desc, "result": "success" if ok else "failure",
                       "time": when, "type": atype},
            "actor": actor,
            "raw": {"cf_ray_id": hex_id(rng, 16), "method": method,
                    "status_code": (201 if method == "POST" else 200) if ok
                    else rng.choice((400, 403, 409)),
                    "uri": uri, "user_agent": rng.choice(_UA) if actor["type"] != "system"
                    else "cloudflare-internal"},
            "resource": {"id": rid, "product": product,
                         "request": {} if method in ("GET", "DELETE")
                         else {"name": f"r{rng.randint(1, 999)}", "proxied": rng.random() < .5},
                         "response": {"id": rid} if ok else {"error": "conflict"},
                         "scope": {"id": zone_id, "type": "zones"} if zoned
                         else {"id": acct, "type": "accounts"},
                         "type": rtype},
            "zone": {"id": zone_id, "name": zone_name},
        }

    def _actor(self, rng: random.Random) -> dict[str, Any]:
        kind = rng.choices(("user", "account", "system", "cloudflare_admin"), (80, 10, 6, 4))[0]
        actor = {"id": "", "context": "dash", "email": "", "ip_address": "", "token_id": "",
                 "token_name": "", "type": kind}
        if kind == "system":
            return actor
        if kind == "cloudflare_admin":
            actor.update(id=hex_id(rng), email="support-agent@cloudflare.com",
                         ip_address=rng.choice(self._ips))
            return actor
        uid, email = rng.choice(self._users)
        context = "api_token" if kind == "account" else rng.choices(
            ("dash", "api_token", "api_key", "oauth", "origin_ca_key"), (45, 35, 10, 7, 3))[0]
        actor.update(id=uid if kind == "user" else self.account_id, context=context,
                     email=email if kind == "user" else "", ip_address=rng.choice(self._ips))
        if context == "api_token":
            actor["token_id"], actor["token_name"] = rng.choice(self._tokens)
        return actor


class AuditV2Store(FeedStore):
    """Audit v2 records of every account, ordered by `action.time`."""

    feed = "audit_logs_v2"

    def __init__(self, config: SimConfig, *, populate: bool = True) -> None:
        initial = config.audit_v2_initial_events
        super().__init__(config, config.initial_events if initial is None else initial,
                         populate=populate)

    def new_generator(self, account_id: str) -> BurstGenerator:
        """A generator for one account."""
        return AuditV2Generator(self.config.seed, account_id)

    def time_of(self, record: Mapping[str, Any]) -> str:
        """`action.time`."""
        return str(record["action"]["time"])

    def query(self, account_id: str, params: Mapping[str, str],
              style: CursorStyle = "cursor") -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(result, result_info) per the module docstring; raises QueryError."""
        since = time_param(params, "since", required=True)
        before = time_param(params, "before", required=True)
        if since is not None and before is not None and since > before:
            msg = "since must not be after before"
            raise QueryError(msg)
        direction = direction_param(params)
        clamp = self.config.per_page_over_max == "clamp"
        limit = int_param(params, "limit", DEFAULT_LIMIT, 1, self.config.max_per_page,
                          clamp=clamp)
        after: Key | None = None
        if params.get("cursor"):
            after = decode_cursor(params["cursor"], direction)
        items = self.window(account_id, since, before)
        if direction == "desc":
            items.reverse()
        if after is not None:
            items = [it for it in items if (it[0] > after if direction == "asc"
                                            else it[0] < after)]
        filters = _filters(params)
        items = [it for it in items if _keep(it[1], filters)]
        chunk = items[:limit]
        nxt = encode_cursor(chunk[-1][0], direction) if len(items) > limit else ""
        info: dict[str, Any] = {"count": str(len(chunk))}
        if style == "after":
            info["cursors"] = {"after": nxt} if nxt else {}
        else:
            info["cursor"] = nxt
        return [rec for _, rec in chunk], info


def encode_cursor(key: Key, direction: str) -> str:
    """Opaque cursor for the position `key`."""
    raw = json.dumps({"t": format_rfc3339(key[0]), "s": key[1], "d": direction},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, direction: str) -> Key:
    """The position of a cursor; QueryError if malformed or of the other direction."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key: Key = (parse_time(data["t"]), int(data["s"]))
        cdir = data["d"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        msg = "cursor is invalid"
        raise QueryError(msg) from None
    if cdir != direction:
        msg = "cursor was issued for the other direction"
        raise QueryError(msg)
    return key


def _values(params: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(params, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(name, [])]
    return [params[name]] if name in params else []


def _get(rec: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = rec
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


_Filter = tuple[tuple[str, ...], set[str], set[str]]


def _filters(params: Mapping[str, str]) -> list[_Filter]:
    out = []
    for name, path in FILTERS.items():
        wanted, unwanted = set(_values(params, name)), set(_values(params, f"{name}.not"))
        if wanted or unwanted:
            out.append((path, wanted, unwanted))
    return out


def _keep(rec: Mapping[str, Any], filters: list[_Filter]) -> bool:
    for path, wanted, unwanted in filters:
        value = _get(rec, path)
        if (wanted and value not in wanted) or value in unwanted:
            return False
    return True
