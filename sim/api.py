"""Helpers shared by the /client/v4 handlers: auth + rate limit, account check, permissions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from sim.auth import Endpoint, Principal, authenticate
from sim.envelope import ApiError
from sim.perms import allows
from sim.state import STATE, SimState
from sim.store import QueryError

API_PREFIX = "/client/v4"
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")


def state(request: web.Request) -> SimState:
    """The app's shared state."""
    return request.app[STATE]


def check(request: web.Request, endpoint: Endpoint) -> tuple[Principal, dict[str, str]]:
    """Authenticate, then count the request against the credential's budget."""
    st = state(request)
    principal = authenticate(request.headers, st.config, endpoint)
    return principal, st.limiter.check(principal.rate_key)


def account(request: web.Request, principal: Principal, headers: dict[str, str]) -> str:
    """The `{account_id}` of the path, if well-formed and the caller's (7003 / 9109)."""
    account_id = request.match_info["account_id"]
    if not _ACCOUNT_ID.match(account_id):
        path = request.path.removeprefix(API_PREFIX)
        msg = f"Could not route to {path}, perhaps your object identifier is invalid?"
        raise ApiError(400, 7003, msg, headers=headers)
    if account_id != principal.account_id:
        if principal.kind == "account_token" and request.path.endswith("/tokens/verify"):
            raise ApiError(401, 1000, "Invalid API Token", headers=headers)
        raise ApiError(403, 9109, "Unauthorized to access requested resource", headers=headers)
    return account_id


def require(principal: Principal, needed: Iterable[str], headers: dict[str, str]) -> None:
    """403 10000 "Authentication error" unless the credential holds one of `needed`."""
    if not allows(principal.permissions, needed):
        raise ApiError(403, 10000, "Authentication error", headers=headers)


def account_call(request: web.Request,
                 needed: Iterable[str]) -> tuple[str, dict[str, str]]:
    """Auth, rate limit, account check and permission check of an account endpoint."""
    principal, headers = check(request, "resource")
    account_id = account(request, principal, headers)
    require(principal, needed, headers)
    return account_id, headers


def bad_request(exc: QueryError, headers: dict[str, str]) -> ApiError:
    """400 6008 "Invalid request parameters" with the reason as an 11000 chain entry."""
    return ApiError(400, 6008, "Invalid request parameters",
                    error_chain=[(11000, str(exc))], headers=headers)
