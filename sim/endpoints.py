"""Handlers of the Zero Trust, audit v2 and members endpoints (see each data module)."""

from __future__ import annotations

from aiohttp import web

from sim import perms
from sim.api import account_call, bad_request, state
from sim.envelope import envelope
from sim.store import Page, QueryError


def _page(page: Page, headers: dict[str, str]) -> web.Response:
    return web.json_response(envelope(page.result, result_info=page.result_info),
                             headers=headers)


async def access_requests(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/access/logs/access_requests."""
    account_id, headers = account_call(request, perms.ACCESS_REQUESTS)
    try:
        page = state(request).access_requests.query(account_id, request.query)
    except QueryError as exc:
        raise bad_request(exc, headers) from None
    return _page(page, headers)


async def audit_logs_v2(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/logs/audit (cursor pagination, count as a string)."""
    account_id, headers = account_call(request, perms.AUDIT_LOGS)
    st = state(request)
    style = request.query.get("cursor_style") or st.config.audit_v2_cursor_style
    try:
        if style not in ("cursor", "after"):
            msg = "cursor_style must be cursor or after"
            raise QueryError(msg)
        result, info = st.audit_v2.query(account_id, request.query,
                                         "after" if style == "after" else "cursor")
    except QueryError as exc:
        raise bad_request(exc, headers) from None
    return web.json_response(envelope(result, result_info=info), headers=headers)


async def members(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/members."""
    account_id, headers = account_call(request, perms.MEMBERS)
    try:
        page = state(request).members.query(account_id, request.query)
    except QueryError as exc:
        raise bad_request(exc, headers) from None
    return _page(page, headers)


async def access_users(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/access/users."""
    account_id, headers = account_call(request, perms.ACCESS_USERS)
    try:
        page = state(request).access_users.query(account_id, request.query)
    except QueryError as exc:
        raise bad_request(exc, headers) from None
    return _page(page, headers)


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the handlers under `prefix` (/client/v4)."""
    acct = prefix + "/accounts/{account_id}"
    app.router.add_get(acct + "/access/logs/access_requests", access_requests)
    app.router.add_get(acct + "/logs/audit", audit_logs_v2)
    app.router.add_get(acct + "/members", members)
    app.router.add_get(acct + "/access/users", access_users)
