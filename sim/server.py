"""The aiohttp application serving /client/v4 like api.cloudflare.com, and run_sim()."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from sim import admin, admin_feeds, clock, endpoints, logpull, perms
from sim.api import (
    API_PREFIX,
    account,
    account_call,
    bad_request,
    check,
    require,
    state,
)
from sim.config import SimConfig
from sim.envelope import ApiError, envelope
from sim.faults import Fault, html_page, reason
from sim.graphql import add_routes as add_graphql_routes
from sim.ratelimit import RateLimiter, throttled
from sim.state import STATE, SimState
from sim.store import EventStore, QueryError

ADMIN_PREFIX = "/__sim"
_VALID = {"code": 10000, "message": "This API Token is valid and active", "type": None}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_state = state
_check = check
_account = account


def _page(request: web.Request, account_id: str, headers: dict[str, str]) -> web.Response:
    try:
        page = _state(request).store.query(account_id, request.query)
    except QueryError as exc:
        raise bad_request(exc, headers) from None
    body = envelope(page.result, result_info=page.result_info)
    return web.json_response(body, headers=headers)


async def account_audit_logs(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/audit_logs."""
    account_id, headers = account_call(request, perms.AUDIT_LOGS)
    return _page(request, account_id, headers)


async def user_audit_logs(request: web.Request) -> web.Response:
    """GET /user/audit_logs: the events of the user's account (account tokens refused)."""
    principal, headers = _check(request, "resource")
    if principal.kind == "account_token":
        raise ApiError(403, 10000, "Authentication error", headers=headers)
    require(principal, perms.AUDIT_LOGS, headers)
    return _page(request, principal.account_id, headers)


async def user_token_verify(request: web.Request) -> web.Response:
    """GET /user/tokens/verify (user tokens only; `cfat_` tokens get 1000)."""
    principal, headers = _check(request, "user_verify")
    result = {"id": principal.token_id, "status": "active"}
    return web.json_response(envelope(result, messages=[_VALID]), headers=headers)


async def account_token_verify(request: web.Request) -> web.Response:
    """GET /accounts/{account_id}/tokens/verify (account-owned tokens only)."""
    principal, headers = _check(request, "account_verify")
    _account(request, principal, headers)
    result = {"id": principal.token_id, "status": "active"}
    return web.json_response(envelope(result, messages=[_VALID]), headers=headers)


async def no_route(request: web.Request) -> web.Response:
    """Anything else under /client/v4."""
    raise ApiError(404, 7000, "No route for that URI")


def _reset_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _apply_fault(request: web.Request, fault: Fault) -> web.StreamResponse | None:
    """Answer for the fault, or None to continue to the real handler."""
    if fault.kind == "latency":
        await asyncio.sleep(fault.latency_s)
        return None
    if fault.kind == "reset":
        _reset_connection(request)
        return web.Response(status=499)  # never sent: the transport is gone
    if fault.kind == "rate_limit":
        cfg = _state(request).config
        reset_at = cfg.clock() + timedelta(seconds=fault.retry_after)
        err = throttled(fault.retry_after, cfg.rate_limit, reset_at)
        err.headers["Retry-After"] = str(fault.retry_after)
        return err.response()
    if fault.html:
        return web.Response(status=fault.status, text=html_page(fault.status),
                            content_type="text/html")
    return ApiError(fault.status, 10001, reason(fault.status)).response()


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults, envelope errors and statistics for every /client/v4 request."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    st = _state(request)
    status = "500"
    try:
        fault = st.faults.take(request.path)
        response = await _apply_fault(request, fault) if fault is not None else None
        if response is None:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = exc.response()
        is_reset = fault is not None and fault.kind == "reset"
        status = "reset" if is_reset else str(response.status)
        return response
    finally:
        st.stats.record(request, status, st.config)


async def _live_arrivals(app: web.Application) -> AsyncIterator[None]:
    st = app[STATE]
    tasks = [asyncio.create_task(feed.run_live())
             for feed in (st.store, st.access_requests, st.audit_v2)]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(config: SimConfig, store: EventStore | None = None) -> web.Application:
    """Build the simulator app; live arrivals run while the app is started."""
    app = web.Application(middlewares=[api_middleware])
    app[STATE] = SimState(config, store or EventStore(config), RateLimiter(config))
    p = API_PREFIX
    app.router.add_get(p + "/accounts/{account_id}/audit_logs", account_audit_logs)
    app.router.add_get(p + "/user/audit_logs", user_audit_logs)
    app.router.add_get(p + "/user/tokens/verify", user_token_verify)
    app.router.add_get(p + "/accounts/{account_id}/tokens/verify", account_token_verify)
    endpoints.add_routes(app, p)
    logpull.add_routes(app, p)
    add_graphql_routes(app, p)
    app.router.add_route("*", p + "/{tail:.*}", no_route)
    app.router.add_routes(admin.routes)
    app.router.add_routes(admin_feeds.routes)
    app.router.add_routes(clock.routes)
    app.cleanup_ctx.append(_live_arrivals)
    return app


@dataclass
class SimHandle:
    """A running simulator: its URLs, config, store and app."""

    config: SimConfig
    store: EventStore
    app: web.Application
    host: str
    port: int

    @property
    def state(self) -> SimState:
        """Every store of the running simulator (use only from the simulator's loop)."""
        return self.app[STATE]

    @property
    def base_url(self) -> str:
        """`http://host:port/client/v4` (what the connector uses as CF_API_BASE_URL)."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def admin_url(self) -> str:
        """`http://host:port/__sim`."""
        return f"http://{self.host}:{self.port}{ADMIN_PREFIX}"


@contextlib.asynccontextmanager
async def run_sim(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    store: EventStore | None = None,
) -> AsyncIterator[SimHandle]:
    """Serve the simulator on host:port (0 = a free port) for the duration of the block."""
    config = config or SimConfig()
    app = create_app(config, store)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        yield SimHandle(config, app[STATE].store, app, host, int(bound))
    finally:
        await runner.cleanup()


__all__ = ["ADMIN_PREFIX", "API_PREFIX", "SimHandle", "create_app", "run_sim"]
