"""Unauthenticated test/demo endpoints under /__sim/ (ground truth, faults, live rate, stats)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sim.faults import fault_from_json
from sim.state import FEEDS, STATE, SimState
from sim.timeutil import Precision

routes = web.RouteTableDef()
MAX_GENERATE = 100_000


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        msg = "body must be a JSON object"
        raise ValueError(msg)
    return data


def _state(request: web.Request) -> SimState:
    return request.app[STATE]


@routes.get("/__sim/health")
async def health(request: web.Request) -> web.Response:
    st = _state(request)
    return web.json_response({"status": "ok", "account_id": st.config.account_id,
                              "events": len(st.store.events()),
                              "access_requests": len(st.access_requests.events()),
                              "audit_logs_v2": len(st.audit_v2.events()),
                              "members": len(st.members.members()),
                              "access_users": len(st.access_users.users())})


@routes.get("/__sim/config")
async def config(request: web.Request) -> web.Response:
    c = _state(request).config
    return web.json_response({
        "account_id": c.account_id, "api_token": c.api_token, "email": c.email,
        "global_key": c.global_key, "account_token": c.account_token, "seed": c.seed,
        "rate_limit": c.rate_limit, "rate_window_s": c.rate_window_s, "block_s": c.block_s,
        "max_per_page": c.max_per_page,
        "events_per_second": _state(request).store.events_per_second,
        "limited_tokens": {t: sorted(p) for t, p in c.limited_tokens.items()},
        "audit_v2_cursor_style": c.audit_v2_cursor_style,
    })


@routes.get("/__sim/audit_logs")
async def audit_logs(request: web.Request) -> web.Response:
    st = _state(request)
    return web.json_response(st.store.events(request.query.get("account_id") or None))


@routes.post("/__sim/events")
async def add_events(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        events = data.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return _bad("events must be a list of objects")
        feed = str(data.get("feed", "audit_logs"))
        if feed not in FEEDS:
            return _bad(f"feed must be one of {', '.join(FEEDS)}")
        st.feed(feed).add(events, data.get("account_id"))
    except (ValueError, KeyError, TypeError) as exc:
        return _bad(f"invalid event: {exc}")
    return web.json_response({"added": len(events)})


@routes.post("/__sim/generate")
async def generate(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        n = int(data.get("n", 1))
        ties = None if data.get("ties") is None else int(data["ties"])
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    precision = data.get("precision")
    if not 0 <= n <= MAX_GENERATE or (ties is not None and ties < 1):
        return _bad(f"n must be 0..{MAX_GENERATE} and ties >= 1")
    if precision not in (None, "s", "ms", "us"):
        return _bad("precision must be s, ms or us")
    feed = str(data.get("feed", "audit_logs"))
    if feed not in FEEDS:
        return _bad(f"feed must be one of {', '.join(FEEDS)}")
    prec: Precision | None = precision
    events = st.feed(feed).generate(n, ties, prec, data.get("account_id"))
    return web.json_response({"created": len(events), "events": events})


@routes.post("/__sim/live")
async def live(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        rate = float(data["events_per_second"])
    except (ValueError, KeyError, TypeError) as exc:
        return _bad(f"events_per_second (number) required: {exc}")
    if rate < 0:
        return _bad("events_per_second must be >= 0")
    feed = str(data.get("feed", "all"))
    if feed != "all" and feed not in FEEDS:
        return _bad(f"feed must be all or one of {', '.join(FEEDS)}")
    names = FEEDS if feed == "all" else (feed,)
    for name in names:
        st.feed(name).events_per_second = rate
    return web.json_response({"events_per_second": rate})


@routes.get("/__sim/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"pending": _state(request).faults.pending()})


@routes.post("/__sim/faults")
async def add_fault(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        st.faults.add(fault_from_json(await _body(request)))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return web.json_response({"pending": st.faults.pending()})


@routes.delete("/__sim/faults")
async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.json_response({"pending": []})


@routes.post("/__sim/rate_limit")
async def rate_limit(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        data = await _body(request)
        if "limit" in data:
            st.config.rate_limit = int(data["limit"])
        if "window_s" in data:
            st.config.rate_window_s = float(data["window_s"])
        if "block_s" in data:
            st.config.rate_block_s = None if data["block_s"] is None else float(data["block_s"])
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    if data.get("reset", True):
        st.limiter.reset()
    c = st.config
    return web.json_response({"limit": c.rate_limit, "window_s": c.rate_window_s,
                              "block_s": c.block_s})


@routes.get("/__sim/stats")
async def stats(request: web.Request) -> web.Response:
    return web.json_response(_state(request).stats.snapshot())


@routes.delete("/__sim/stats")
async def reset_stats(request: web.Request) -> web.Response:
    _state(request).stats.reset()
    return web.json_response(_state(request).stats.snapshot())


@routes.get("/__sim/requests")
async def recent(request: web.Request) -> web.Response:
    return web.json_response(list(_state(request).stats.recent))
