"""Admin endpoints of the newer feeds and rosters (no auth, under /__sim/).

GET  /__sim/access_requests?account_id=   ground truth, ascending by created_at
GET  /__sim/audit_logs_v2?account_id=     ground truth, ascending by action.time
GET  /__sim/members?account_id=           roster in creation order
POST /__sim/members      {add: [email | {email, role|roles, status, first_name, ...}],
                          remove: [email], set_role: {email: role | [roles]},
                          set_status: {email: status}, account_id?}
GET  /__sim/access_users?account_id=      Zero Trust users in creation order
POST /__sim/access_users {add: [email | {email, name, access_seat, gateway_seat}],
                          remove: [email], set_seat: {email: {access_seat?, gateway_seat?}},
                          account_id?}
POST /__sim/limited_tokens {TOKEN: [permission, ...] | null}   (null = unrestricted again)
POST /__sim/options      {audit_v2_cursor_style: "cursor" | "after"}
Mutations are atomic: an invalid body changes nothing and answers 400 {"error"}.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.admin import _bad, _body, _state

routes = web.RouteTableDef()
_INVALID = (ValueError, TypeError, KeyError, AttributeError)


def _account(request: web.Request, data: dict[str, Any] | None = None) -> str:
    st = _state(request)
    raw = (data or {}).get("account_id") or request.query.get("account_id")
    return str(raw) if raw else st.config.account_id


@routes.get("/__sim/access_requests")
async def access_requests(request: web.Request) -> web.Response:
    return web.json_response(_state(request).access_requests.events(_account(request)))


@routes.get("/__sim/audit_logs_v2")
async def audit_logs_v2(request: web.Request) -> web.Response:
    return web.json_response(_state(request).audit_v2.events(_account(request)))


@routes.get("/__sim/members")
async def members(request: web.Request) -> web.Response:
    return web.json_response(_state(request).members.members(_account(request)))


@routes.post("/__sim/members")
async def mutate_members(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        return web.json_response(st.members.mutate(_account(request, data), data))
    except _INVALID as exc:
        return _bad(str(exc))


@routes.get("/__sim/access_users")
async def access_users(request: web.Request) -> web.Response:
    return web.json_response(_state(request).access_users.users(_account(request)))


@routes.post("/__sim/access_users")
async def mutate_access_users(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        return web.json_response(st.access_users.mutate(_account(request, data), data))
    except _INVALID as exc:
        return _bad(str(exc))


@routes.post("/__sim/limited_tokens")
async def limited_tokens(request: web.Request) -> web.Response:
    cfg = _state(request).config
    try:
        data = await _body(request)
        update: dict[str, frozenset[str] | None] = {}
        for token, names in data.items():
            if names is not None and (not isinstance(names, list)
                                      or not all(isinstance(n, str) for n in names)):
                return _bad(f"{token}: a list of permission names or null expected")
            update[str(token)] = None if names is None else frozenset(names)
    except _INVALID as exc:
        return _bad(str(exc))
    for token, perms in update.items():
        if perms is None:
            cfg.limited_tokens.pop(token, None)
        else:
            cfg.limited_tokens[token] = perms
    return web.json_response({t: sorted(p) for t, p in cfg.limited_tokens.items()})


@routes.post("/__sim/options")
async def options(request: web.Request) -> web.Response:
    cfg = _state(request).config
    try:
        data = await _body(request)
    except _INVALID as exc:
        return _bad(str(exc))
    style = data.get("audit_v2_cursor_style", cfg.audit_v2_cursor_style)
    if style == "cursor":
        cfg.audit_v2_cursor_style = "cursor"
    elif style == "after":
        cfg.audit_v2_cursor_style = "after"
    else:
        return _bad("audit_v2_cursor_style must be cursor or after")
    return web.json_response({"audit_v2_cursor_style": cfg.audit_v2_cursor_style})
