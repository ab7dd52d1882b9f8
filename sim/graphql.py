"""GraphQL Analytics (facts §5): `POST /graphql`, just enough for firewallEventsAdaptive.

No GraphQL engine: the handler recognises two query shapes (whitespace, commas, comments,
argument and field order are free; the operation header is ignored, values come from the
JSON `variables` or inline literals):

1. settings: `viewer { zones(filter: {zoneTag: $z}) { settings { firewallEventsAdaptive {
   enabled maxDuration maxNumberOfFields maxPageSize notOlderThan availableFields } } } }`
2. events: `viewer { zones(filter: {zoneTag: $z}) { [alias:] firewallEventsAdaptive(
   filter: $f, limit: N, orderBy: [datetime_ASC]) { <fields> } } }`; `$f` holds
   `datetime_geq/leq/gt/lt` (RFC3339) and optionally `AND: [{...}, ...]` of the same.
   `orderBy` accepts datetime_ASC (default) and datetime_DESC.

Success: HTTP 200 `{"data": {...}, "errors": null}`. Query problems (unknown field or
shape, limit above maxPageSize, window above maxDuration, start older than notOlderThan,
more fields than maxNumberOfFields, missing datetime bounds) are HTTP 200 with
`data: null` and `errors: [{message, path, extensions: {timestamp}}]`. A body that is not
JSON is HTTP 400 with the same shape. Without "Account Analytics Read" HTTP 403 with errors;
above `graphql_rate_limit` queries per `graphql_rate_window_s` (sliding window, per
credential, after the REST budget) HTTP 429 "rate limiter budget depleted, try again after 5
minutes" with `Retry-After`. The `graphql_error` fault answers HTTP 200 with an errors array.

Data: events exist per zone for every whole second before now; second `s` holds
floor(eps) events plus one more with probability frac(eps), a pure function of (seed, zone,
s). Generation stops at `limit`; a sparse 3-day window costs well under a second.
Events come in requests of 1-3 matches sharing a rayName (matchIndex 0 = last match).
Order: datetime, then generation index (stable tie order).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sim import perms
from sim.api import check, state
from sim.config import SimConfig
from sim.http_records import NS, mix64
from sim.logpull import parse_instant
from sim.perms import allows

SETTINGS_FIELDS = ("enabled", "maxDuration", "maxNumberOfFields", "maxPageSize",
                   "notOlderThan", "availableFields")
FIELDS: tuple[str, ...] = (
    "action", "clientASNDescription", "clientAsn", "clientCountryName", "clientIP",
    "clientIPClass", "clientRefererHost", "clientRefererPath", "clientRefererQuery",
    "clientRefererScheme", "clientRequestHTTPHost", "clientRequestHTTPMethodName",
    "clientRequestHTTPProtocol", "clientRequestPath", "clientRequestQuery",
    "clientRequestScheme", "datetime", "description", "edgeColoName", "edgeResponseStatus",
    "kind", "matchIndex", "originResponseStatus", "originatorRayName", "rayName", "ref",
    "ruleId", "rulesetId", "sampleInterval", "source", "userAgent", "botScore", "ja3Hash",
    "ja4", "wafAttackScore",
)
KEY_FIELDS = ("rayName", "matchIndex", "ruleId", "source", "datetime")
RATE_MESSAGE = "rate limiter budget depleted, try again after 5 minutes"
DEFAULT_LIMIT = 100
MAX_GROUND_TRUTH = 1_000_000
routes = web.RouteTableDef()

_SOURCES = (("firewallManaged", "managed", "block"), ("firewallCustom", "firewall", "block"),
            ("firewallCustom", "firewall", "managed_challenge"),
            ("rateLimit", "firewall", "block"), ("securityLevel", "firewall", "challenge"),
            ("botFight", "firewall", "managed_challenge"), ("waf", "firewall", "log"),
            ("l7ddos", "firewall", "block"), ("firewallManaged", "managed", "log"))
_COUNTRIES = (("US", 15169, "GOOGLE"), ("DE", 3320, "DTAG"), ("CN", 4134, "CHINANET"),
              ("RU", 12389, "ROSTELECOM"), ("BR", 28573, "CLARO"), ("NL", 14061, "DIGITALOCEAN"),
              ("FR", 16276, "OVH"), ("IN", 9829, "BSNL"))
_COLOS = ("AMS", "FRA", "IAD", "SJC", "LHR", "SIN", "GRU", "NRT")
_PATHS = ("/", "/wp-login.php", "/api/v1/login", "/admin", "/.env", "/search", "/xmlrpc.php",
          "/cart/checkout")
_QUERIES = ("", "", "?q=%27%20OR%201%3D1", "?id=1", "?page=2")
_UAS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
        "curl/8.5.0", "python-requests/2.31.0", "Go-http-client/1.1",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
_IP_CLASSES = ("clean", "clean", "badHost", "searchEngine", "tor", "scan", "noRecord")
_METHODS = ("GET", "GET", "POST", "HEAD", "PUT")


class GraphQLError(ValueError):
    """One error of the `errors` array (HTTP 200 unless `status` says otherwise)."""

    def __init__(self, message: str, path: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.path = path


# ---------------------------------------------------------------------------------------
# data


def _rfc3339(sec: int) -> str:
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def events_in_second(seed: int, zone_id: str, zone_name: str, eps: float,
                     sec: int) -> list[dict[str, Any]]:
    """Every event of unix second `sec` in tie order (a pure function of the arguments)."""
    whole = math.floor(eps)
    salt = int.from_bytes(hashlib.blake2b(f"fw:{seed}:{zone_id}".encode(),
                                          digest_size=8).digest(), "big")
    n = whole + (1 if mix64(salt ^ sec) / 2.0**64 < eps - whole else 0)
    if n == 0:
        return []
    rng = random.Random(f"fw:{seed}:{zone_id}:{sec}")
    out: list[dict[str, Any]] = []
    stamp = _rfc3339(sec)
    while len(out) < n:
        k = min(n - len(out), rng.choices((1, 2, 3), (70, 20, 10))[0])
        ray = f"{rng.getrandbits(64):016x}"
        country, asn, asn_desc = rng.choice(_COUNTRIES)
        ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}." \
             f"{rng.randint(1, 254)}"
        method = rng.choice(_METHODS)
        path, query = rng.choice(_PATHS), rng.choice(_QUERIES)
        ua = rng.choice(_UAS)
        colo = rng.choice(_COLOS)
        sample = rng.choices((1, 10, 100), (90, 8, 2))[0]
        referer = rng.random() < 0.3
        ja3 = f"{rng.getrandbits(128):032x}"
        ja4 = f"t13d{rng.randint(10, 99)}{rng.randint(10, 99)}h2_{rng.getrandbits(48):012x}_" \
              f"{rng.getrandbits(48):012x}"
        bot = rng.randint(1, 99)
        waf = rng.randint(1, 99)
        blocked = False
        for m in range(k):
            source, kind, action = rng.choice(_SOURCES)
            blocked = blocked or action in ("block", "managed_challenge", "challenge")
            rule = f"{rng.getrandbits(128):032x}"
            out.append({
                "action": action, "clientASNDescription": asn_desc, "clientAsn": str(asn),
                "clientCountryName": country, "clientIP": ip,
                "clientIPClass": rng.choice(_IP_CLASSES),
                "clientRefererHost": zone_name if referer else "",
                "clientRefererPath": "/" if referer else "",
                "clientRefererQuery": "", "clientRefererScheme": "https" if referer else "",
                "clientRequestHTTPHost": zone_name, "clientRequestHTTPMethodName": method,
                "clientRequestHTTPProtocol": "HTTP/2", "clientRequestPath": path,
                "clientRequestQuery": query, "clientRequestScheme": "https",
                "datetime": stamp, "description": f"{source} rule {rule[:8]}",
                "edgeColoName": colo, "edgeResponseStatus": 403 if blocked else 200,
                "kind": kind, "matchIndex": k - 1 - m,
                "originResponseStatus": 0 if blocked else 200, "originatorRayName": "00",
                "rayName": ray, "ref": rule[:8], "ruleId": rule,
                "rulesetId": f"{rng.getrandbits(128):032x}" if kind == "managed" else "",
                "sampleInterval": sample, "source": source, "userAgent": ua,
                "botScore": bot, "ja3Hash": ja3, "ja4": ja4, "wafAttackScore": waf,
            })
    return out


def iter_events(cfg: SimConfig, zone_id: str, lo: int, hi: int, *,
                desc: bool = False) -> Iterator[dict[str, Any]]:
    """Events of seconds lo..hi (inclusive) that are in the past, in datetime order."""
    hi = min(hi, math.floor(cfg.clock().timestamp()) - 1)
    name = cfg.zone_name(zone_id)
    secs = range(hi, lo - 1, -1) if desc else range(lo, hi + 1)
    for sec in secs:
        evs = events_in_second(cfg.seed, zone_id, name, cfg.graphql_eps, sec)
        yield from (reversed(evs) if desc else evs)


# ---------------------------------------------------------------------------------------
# tiny GraphQL value parser (arguments only)

_TOKEN = re.compile(r'\s+|,|#[^\n]*|(\$?[A-Za-z_]\w*)|("(?:[^"\\]|\\.)*")|'
                    r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([{}\[\]:()])")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            msg = f"syntax error: unexpected character {text[pos]!r}"
            raise GraphQLError(msg)
        pos = m.end()
        tok = m.group(1) or m.group(2) or m.group(3) or m.group(4)
        if tok:
            out.append(tok)
    return out


class _Parser:
    def __init__(self, text: str, variables: dict[str, Any]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.variables = variables

    def _next(self) -> str:
        if self.i >= len(self.toks):
            msg = "syntax error: unexpected end of arguments"
            raise GraphQLError(msg)
        self.i += 1
        return self.toks[self.i - 1]

    def _expect(self, tok: str) -> None:
        got = self._next()
        if got != tok:
            msg = f"syntax error: expected {tok!r}, got {got!r}"
            raise GraphQLError(msg)

    def arguments(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.i < len(self.toks):
            name = self._next()
            self._expect(":")
            out[name] = self.value()
        return out

    def value(self) -> Any:
        tok = self._next()
        if tok.startswith("$"):
            if tok[1:] not in self.variables:
                msg = f'variable "{tok}" is not defined'
                raise GraphQLError(msg)
            return self.variables[tok[1:]]
        if tok.startswith('"'):
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if tok[0].isdigit() or tok[0] == "-":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if tok == "[":
            items: list[Any] = []
            while self.toks[self.i:self.i + 1] != ["]"]:
                items.append(self.value())
            self._expect("]")
            return items
        if tok == "{":
            obj: dict[str, Any] = {}
            while self.toks[self.i:self.i + 1] != ["}"]:
                key = self._next()
                self._expect(":")
                obj[key] = self.value()
            self._expect("}")
            return obj
        return {"true": True, "false": False, "null": None}.get(tok, tok)


# ---------------------------------------------------------------------------------------
# query shapes

_ZONES = re.compile(r"\bviewer\s*\{\s*zones\s*\(\s*filter\s*:\s*"
                    r"(\{[^{}()]*\}|\$\w+)\s*\)\s*\{", re.S)
_SETTINGS = re.compile(r"\bsettings\s*\{\s*firewallEventsAdaptive\s*\{([^{}()]*)\}\s*\}", re.S)
_DATASET = re.compile(r"(?:(\w+)\s*:\s*)?\bfirewallEventsAdaptive\s*"
                      r"(?:\(((?:[^()]|\([^()]*\))*)\))?\s*\{([^{}()]*)\}", re.S)
_FIELD_LIST = re.compile(r"^[\s,\w]*$")
_COMMENT = re.compile(r"#[^\n]*")


def _field_names(raw: str, allowed: tuple[str, ...], type_name: str,
                 path: list[str | int]) -> list[str]:
    if not _FIELD_LIST.match(raw):
        msg = f"unsupported selection on type {type_name!r} (aliases and arguments " \
              "are not supported by the simulator)"
        raise GraphQLError(msg, path)
    names = list(dict.fromkeys(re.findall(r"\w+", raw)))
    if not names:
        msg = f"empty selection on type {type_name!r}"
        raise GraphQLError(msg, path)
    for name in names:
        if name not in allowed:
            msg = f'Cannot query field "{name}" on type "{type_name}".'
            raise GraphQLError(msg, path)
    return names


def _zone_tag(cfg: SimConfig, raw: str, variables: dict[str, Any]) -> str:
    value = _Parser(raw, variables).value()
    tag = value.get("zoneTag") if isinstance(value, dict) else None
    if not isinstance(tag, str):
        msg = "zones filter must be {zoneTag: <zone id>} (the simulator supports one zone)"
        raise GraphQLError(msg, ["viewer", "zones"])
    if tag not in cfg.zone_ids:
        msg = "zone does not exist or you are not authorized to access it"
        raise GraphQLError(msg, ["viewer", "zones"])
    return tag


def settings_view(cfg: SimConfig) -> dict[str, Any]:
    """The settings node of firewallEventsAdaptive."""
    return {"enabled": cfg.graphql_enabled, "maxDuration": cfg.graphql_max_duration_s,
            "maxNumberOfFields": cfg.graphql_max_fields,
            "maxPageSize": cfg.graphql_max_page_size,
            "notOlderThan": cfg.graphql_not_older_than_s, "availableFields": list(FIELDS)}


def _time(value: Any, name: str, path: list[str | int]) -> int:
    try:
        if not isinstance(value, str):
            raise ValueError(name)
        return parse_instant(value)
    except ValueError:
        msg = f"cannot parse {name}: {value!r} is not an RFC3339 time"
        raise GraphQLError(msg, path) from None


def _bounds(flt: Any, path: list[str | int]) -> tuple[int | None, int | None]:
    """(start_ns, end_ns) of the filter and its lowest/highest whole second."""
    lo: int | None = None
    hi: int | None = None
    stack = [flt]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            msg = "filter must be an object"
            raise GraphQLError(msg, path)
        for key, value in node.items():
            if key == "AND":
                if not isinstance(value, list):
                    msg = "AND must be a list of filters"
                    raise GraphQLError(msg, path)
                stack.extend(value)
                continue
            if key not in ("datetime_geq", "datetime_gt", "datetime_leq", "datetime_lt"):
                msg = f'unknown or unsupported filter field "{key}"'
                raise GraphQLError(msg, path)
            ns = _time(value, key, path)
            if key == "datetime_geq":
                sec = -(-ns // NS)
            elif key == "datetime_gt":
                sec = ns // NS + 1
            elif key == "datetime_leq":
                sec = ns // NS
            else:
                sec = -(-ns // NS) - 1
            if key in ("datetime_geq", "datetime_gt"):
                lo = sec if lo is None else max(lo, sec)
            else:
                hi = sec if hi is None else min(hi, sec)
    return lo, hi


def _events_node(cfg: SimConfig, zone_id: str, args: dict[str, Any], fields: list[str],
                 path: list[str | int]) -> list[dict[str, Any]]:
    now_s = cfg.clock().timestamp()
    limit = args.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not \
            0 < limit <= cfg.graphql_max_page_size:
        msg = f"limit must be positive number and not greater than {cfg.graphql_max_page_size}"
        raise GraphQLError(msg, path)
    if len(fields) > cfg.graphql_max_fields:
        msg = f"number of fields can't be more than {cfg.graphql_max_fields}"
        raise GraphQLError(msg, path)
    order = args.get("orderBy", ["datetime_ASC"])
    order = order if isinstance(order, list) else [order]
    if order not in (["datetime_ASC"], ["datetime_DESC"]):
        msg = "orderBy supports only [datetime_ASC] or [datetime_DESC] in the simulator"
        raise GraphQLError(msg, path)
    unknown = set(args) - {"filter", "limit", "orderBy"}
    if unknown:
        msg = f'unknown argument "{sorted(unknown)[0]}" on field "firewallEventsAdaptive"'
        raise GraphQLError(msg, path)
    lo, hi = _bounds(args.get("filter", {}), path)
    if lo is None or hi is None:
        msg = "a datetime range (datetime_geq/gt and datetime_leq/lt) is required"
        raise GraphQLError(msg, path)
    if lo < now_s - cfg.graphql_not_older_than_s:
        msg = f"cannot request data older than {cfg.graphql_not_older_than_s}s"
        raise GraphQLError(msg, path)
    if hi - lo > cfg.graphql_max_duration_s:
        msg = "query time range is too large"
        raise GraphQLError(msg, path)
    rows: list[dict[str, Any]] = []
    for ev in iter_events(cfg, zone_id, lo, hi, desc=order == ["datetime_DESC"]):
        rows.append({f: ev[f] for f in fields})
        if len(rows) >= limit:
            break
    return rows


def execute(cfg: SimConfig, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The `data` object of a recognised query; GraphQLError otherwise."""
    query = _COMMENT.sub("", query)
    zm = _ZONES.search(query)
    if zm is None:
        msg = ("unsupported query: the simulator serves viewer { zones(filter: {zoneTag: ...}) "
               "{ firewallEventsAdaptive(...) {...} | settings { firewallEventsAdaptive "
               "{...} } } }")
        raise GraphQLError(msg)
    zone_id = _zone_tag(cfg, zm.group(1), variables)
    body = query[zm.end():]
    zone: dict[str, Any] = {}
    sm = _SETTINGS.search(body)
    if sm is not None:
        path: list[str | int] = ["viewer", "zones", 0, "settings", "firewallEventsAdaptive"]
        names = _field_names(sm.group(1), SETTINGS_FIELDS, "settings", path)
        view = settings_view(cfg)
        zone["settings"] = {"firewallEventsAdaptive": {n: view[n] for n in names}}
        body = body[:sm.start()] + body[sm.end():]
    for dm in _DATASET.finditer(body):
        alias = dm.group(1) or "firewallEventsAdaptive"
        path = ["viewer", "zones", 0, alias]
        args = _Parser(dm.group(2) or "", variables).arguments()
        fields = _field_names(dm.group(3), FIELDS, "ZoneFirewallEventsAdaptive", path)
        zone[alias] = _events_node(cfg, zone_id, args, fields, path)
    if not zone:
        msg = "unsupported query: no firewallEventsAdaptive or settings node under zones"
        raise GraphQLError(msg, ["viewer", "zones", 0])
    return {"viewer": {"zones": [zone]}}


# ---------------------------------------------------------------------------------------
# HTTP


class GraphQLLimiter:
    """Sliding window of query times per credential."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int, window_s: float, now: float) -> float | None:
        """Count one query; None if allowed, else seconds until a slot frees."""
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.0, hits[0] + window_s - now)
        hits.append(now)
        return None

    def reset(self) -> None:
        """Forget every query."""
        self._hits.clear()


LIMITER = web.AppKey("graphql_limiter", GraphQLLimiter)


def _error(message: str, cfg: SimConfig, path: list[str | int] | None = None) -> dict[str, Any]:
    now = cfg.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"message": message, "path": path, "extensions": {"timestamp": now}}


def _answer(cfg: SimConfig, status: int, message: str, headers: dict[str, str],
            path: list[str | int] | None = None) -> web.Response:
    body = {"data": None, "errors": [_error(message, cfg, path)]}
    return web.json_response(body, status=status, headers=headers)


async def graphql(request: web.Request) -> web.Response:
    """POST /graphql (see the module docstring)."""
    principal, headers = check(request, "resource")
    st = state(request)
    cfg = st.config
    if not allows(principal.permissions, perms.GRAPHQL):
        return _answer(cfg, 403, "not authorized: the token lacks Account Analytics Read",
                       headers)
    wait = request.app[LIMITER].hit(principal.rate_key, cfg.graphql_rate_limit,
                                    cfg.graphql_rate_window_s, cfg.clock().timestamp())
    if wait is not None:
        return _answer(cfg, 429, RATE_MESSAGE,
                       {**headers, "Retry-After": str(max(1, math.ceil(wait)))})
    try:
        payload = await request.json()
    except ValueError:
        return _answer(cfg, 400, "failed to parse the request body as JSON", headers)
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return _answer(cfg, 400, "the body must be a JSON object with a string \"query\"",
                       headers)
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        return _answer(cfg, 400, "\"variables\" must be a JSON object", headers)
    fault = st.faults.take_graphql(request.path)
    if fault is not None:
        return _answer(cfg, 200, "internal server error (injected graphql_error fault)",
                       headers)
    try:
        data = execute(cfg, payload["query"], variables)
    except GraphQLError as exc:
        return _answer(cfg, 200, str(exc), headers, exc.path)
    return web.json_response({"data": data, "errors": None}, headers=headers)


# ---------------------------------------------------------------------------------------
# admin (tests only, no auth)


def _instant(raw: str) -> int:
    return parse_instant(raw) if raw else 0


@routes.get("/__sim/firewall_events")
async def ground_truth(request: web.Request) -> web.Response:
    """`?zone_id=&start=&end=`: count and keys (rayName, matchIndex, ruleId, source,
    datetime) of the events with start <= datetime <= end (RFC3339 or unix seconds), in
    datetime_ASC order; no window or retention checks."""
    st = state(request)
    cfg = st.config
    q = request.query
    zone_id = q.get("zone_id") or cfg.zone_ids[0]
    try:
        if zone_id not in cfg.zone_ids:
            msg = f"unknown zone {zone_id}"
            raise ValueError(msg)
        start, end = _instant(q.get("start", "")), _instant(q.get("end", ""))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    lo, hi = -(-start // NS), end // NS
    if hi - lo > MAX_GROUND_TRUTH:
        return web.json_response({"error": "window too long"}, status=400)
    keys = [{k: ev[k] for k in KEY_FIELDS} for ev in iter_events(cfg, zone_id, lo, hi)]
    return web.json_response({"zone_id": zone_id, "count": len(keys), "keys": keys})


@routes.post("/__sim/graphql/reset")
async def reset_limits(request: web.Request) -> web.Response:
    """Forget the GraphQL query counters."""
    request.app[LIMITER].reset()
    return web.json_response({"ok": True})


def add_routes(app: web.Application, prefix: str) -> None:
    """Register POST `prefix`/graphql and the admin routes."""
    app[LIMITER] = GraphQLLimiter()
    app.router.add_post(prefix + "/graphql", graphql)
    app.router.add_routes(routes)


__all__ = ["FIELDS", "GraphQLError", "execute", "events_in_second", "iter_events",
           "settings_view"]
