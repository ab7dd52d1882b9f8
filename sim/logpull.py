"""Logpull (facts §4): `GET /zones/{zone_id}/logs/received[/fields]` and its admin API.

`/logs/received`
- `start` inclusive, `end` exclusive, by *receive* time: unix seconds, unix nanoseconds
  (an integer >= 10^11 is taken as nanoseconds) or RFC3339 (any offset, up to ns fraction).
- Checks, in this order, each a 400 (v4 envelope, code 1010, message below):
  start/end missing or unparseable; `end <= start` ("... invalid time range: end must be
  after start"); `end - start > 1h` ("... too long: maximum query range (difference between
  start and end) is 1h0m0s"); `start < now - 168h` ("... too early: logs older than 168h0m0s
  are not available"); `end > now - 1m` ("... too late: end must be at least 1m0s in the
  past", a simulator text); unknown fields ("bad query: error parsing fields: unknown
  fields: A,B"); bad `timestamps`, `sample`, `count`.
- Answer: 200, NDJSON (`application/x-ndjson`), chunked, generated batch by batch; gzip
  (`Content-Encoding: gzip`, zlib level `logpull_gzip_level`) when the request accepts gzip.
  Compression of a batch runs on a worker thread while the next batch is generated.
- Limits: the global per-credential budget (sim.ratelimit), then `logpull_zone_rate_limit`
  per zone and `logpull_user_rate_limit` per credential per `logpull_rate_window_s`:
  429, code 971, `Retry-After`.
- Stream faults (sim.faults STREAM_KINDS, consumed only by a request that passed every
  check): `stream_error` (after `after` records the body ends with the line
  `Error streaming data`), `truncated_gzip` (after `after` records the body is cut mid-way
  and the connection closed, no gzip trailer, no final chunk), `slow` (chunks of `after`
  records, default 1, `latency_s` apart). `after` defaults to half the window's records.
"""

from __future__ import annotations

import asyncio
import math
import re
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sim import perms
from sim.api import API_PREFIX, check, require, state
from sim.envelope import ApiError
from sim.http_records import (
    DEFAULT_FIELDS,
    FIELDS,
    NS,
    TIMESTAMP_FORMATS,
    TimestampFormat,
    ZoneLogs,
    line_format,
)
from sim.ratelimit import throttled

_ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$")
BAD_QUERY = 1010
MAX_WINDOW = 3600 * NS
RETENTION = 168 * 3600 * NS
STREAM_ERROR_LINE = b"Error streaming data\n"
MAX_GROUND_TRUTH = 2_000_000
routes = web.RouteTableDef()


class BadQuery(ValueError):
    """A 400 "bad query: ..." of Logpull."""


def parse_instant(raw: str) -> int:
    """Unix seconds, unix nanoseconds or RFC3339 -> unix nanoseconds; ValueError otherwise."""
    text = raw.strip()
    if text.isdigit():
        value = int(text)
        return value * NS if value < 10**11 else value
    m = _RFC3339.match(text)
    if not m:
        msg = f"cannot parse {raw!r} as unix seconds, unix nanoseconds or RFC3339"
        raise ValueError(msg)
    y, mo, d, h, mi, s, frac, off = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        dt -= sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
    return int(dt.timestamp()) * NS + int((frac or "0").ljust(9, "0"))


def to_ns(dt: datetime) -> int:
    """An aware datetime as unix nanoseconds (exact to the microsecond)."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def _time(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name, "")
    if raw == "":
        msg = f"bad query: error parsing time: {name} is required"
        raise BadQuery(msg)
    try:
        return parse_instant(raw)
    except ValueError:
        msg = f"bad query: error parsing time: invalid {name} time: {raw!r}"
        raise BadQuery(msg) from None


def window(params: Mapping[str, str], now: datetime, min_lag_s: float) -> tuple[int, int]:
    """The validated [start, end) in unix nanoseconds (BadQuery per the module docstring)."""
    start, end = _time(params, "start"), _time(params, "end")
    prefix = "bad query: error parsing time: invalid time range: "
    now_ns = to_ns(now)
    if end <= start:
        raise BadQuery(prefix + "end must be after start")
    if end - start > MAX_WINDOW:
        raise BadQuery(prefix + "too long: maximum query range (difference between start "
                                "and end) is 1h0m0s")
    if start < now_ns - RETENTION:
        raise BadQuery(prefix + "too early: logs older than 168h0m0s are not available")
    lag = int(min_lag_s * NS)
    if end > now_ns - lag:
        raise BadQuery(prefix + f"too late: end must be at least {_go_duration(min_lag_s)} "
                                "in the past")
    return start, end


def _go_duration(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m}m{sec}s" if h else f"{m}m{sec}s"


def fields_param(params: Mapping[str, str]) -> tuple[str, ...]:
    """Requested fields (no spaces allowed: " X" is an unknown field), or the default set."""
    raw = params.get("fields", "")
    if raw == "":
        return DEFAULT_FIELDS
    names = raw.split(",")
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        msg = f"bad query: error parsing fields: unknown fields: {','.join(unknown)}"
        raise BadQuery(msg)
    return tuple(dict.fromkeys(names))


def options(params: Mapping[str, str]) -> tuple[TimestampFormat, float, int | None, bool]:
    """(timestamps, sample, count, CVE-2021-44228)."""
    ts = params.get("timestamps", "") or "unixnano"
    if ts not in TIMESTAMP_FORMATS:
        msg = (f"bad query: error parsing timestamps: unknown format {ts!r}, expected one of "
               "unixnano, unix, rfc3339")
        raise BadQuery(msg)
    fmt: TimestampFormat = "unix" if ts == "unix" else "rfc3339" if ts == "rfc3339" \
        else "unixnano"
    sample = 1.0
    if params.get("sample", "") != "":
        try:
            sample = float(params["sample"])
        except ValueError:
            sample = -1.0
        if not 0.0 < sample <= 1.0 or math.isnan(sample):
            msg = "bad query: error parsing sample: must be a number in (0, 1]"
            raise BadQuery(msg)
    count: int | None = None
    if params.get("count", "") != "":
        try:
            count = int(params["count"])
        except ValueError:
            count = 0
        if count <= 0:
            msg = "bad query: error parsing count: must be an integer greater than 0"
            raise BadQuery(msg)
    cve = params.get("CVE-2021-44228", "").lower() == "true"
    return fmt, sample, count, cve


def _zone(request: web.Request, headers: dict[str, str]) -> ZoneLogs:
    """The path's zone: 400 7003 when malformed, 403 9109 when not the sim account's."""
    zone_id = request.match_info["zone_id"]
    if not _ZONE_ID.match(zone_id):
        path = request.path.removeprefix(API_PREFIX)
        msg = f"Could not route to {path}, perhaps your object identifier is invalid?"
        raise ApiError(400, 7003, msg, headers=headers)
    try:
        return state(request).logpull.zone(zone_id)
    except KeyError:
        raise ApiError(403, 9109, "Unauthorized to access requested resource",
                       headers=headers) from None


async def received_fields(request: web.Request) -> web.Response:
    """GET /zones/{zone_id}/logs/received/fields: a bare JSON object name -> description."""
    principal, headers = check(request, "resource")
    _zone(request, headers)
    require(principal, perms.LOGPULL, headers)
    return web.json_response(FIELDS, headers=headers)


def _limits(request: web.Request, zone_id: str, rate_key: str,
            headers: dict[str, str]) -> None:
    st = state(request)
    cfg = st.config
    now = cfg.clock()
    for key, limit in ((f"zone:{zone_id}", cfg.logpull_zone_rate_limit),
                       (f"user:{rate_key}", cfg.logpull_user_rate_limit)):
        wait = st.logpull.hit(key, limit, cfg.logpull_rate_window_s, now)
        if wait is not None:
            retry = max(1, math.ceil(wait))
            err = throttled(retry, limit, now + timedelta(seconds=wait),
                            cfg.logpull_rate_window_s)
            err.headers = {**headers, **err.headers}
            raise err


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (q=0 refuses)."""
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return not (params.strip().startswith("q=") and _q_zero(q))
    return False


def _q_zero(q: str) -> bool:
    try:
        return float(q) == 0.0
    except ValueError:
        return False


async def received(request: web.Request) -> web.StreamResponse:
    """GET /zones/{zone_id}/logs/received: the NDJSON stream (see the module docstring)."""
    principal, headers = check(request, "resource")
    zone = _zone(request, headers)
    require(principal, perms.LOGPULL, headers)
    _limits(request, zone.zone_id, principal.rate_key, headers)
    st = state(request)
    cfg = st.config
    try:
        start, end = window(request.query, cfg.clock(), cfg.logpull_min_lag_s)
        fields = fields_param(request.query)
        ts, sample, count, cve = options(request.query)
    except BadQuery as exc:
        raise ApiError(400, BAD_QUERY, str(exc), headers=headers) from None
    fault = st.faults.take_stream(request.path)
    gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    fmt = line_format(fields, ts, cve)
    batch_bytes = cfg.logpull_batch_bytes
    after: int | None = None
    if fault is not None:
        after = fault.after
        if after is None and fault.kind != "slow":
            total = zone.count(start, end) if sample >= 1.0 else int(zone.count(start, end)
                                                                     * sample)
            after = min(total, count or total) // 2
        if fault.kind == "slow":
            batch_bytes = 1  # one line per batch, regrouped below
        elif after is not None:
            count = after if count is None else min(count, after)
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_type = "application/x-ndjson"
    if gzip:
        resp.headers["Content-Encoding"] = "gzip"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    batches = zone.lines(fmt, start, end, sample=sample, count=count,
                         batch_bytes=batch_bytes)
    if fault is not None and fault.kind == "slow":
        batches = _regroup(batches, after or 1)
    writer = _Writer(resp, cfg.logpull_gzip_level if gzip else None)
    pause = fault.latency_s if fault is not None and fault.kind == "slow" else 0.0
    await writer.pump(batches, pause)
    if fault is not None and fault.kind == "stream_error":
        await writer.write(STREAM_ERROR_LINE)
    if fault is not None and fault.kind == "truncated_gzip":
        await writer.cut(request)
        return resp
    await writer.close()
    await resp.write_eof()
    return resp


def _regroup(batches: Iterator[list[bytes]], size: int) -> Iterator[list[bytes]]:
    buf: list[bytes] = []
    for batch in batches:
        for line in batch:
            buf.append(line)
            if len(buf) >= size:
                yield buf
                buf = []
    if buf:
        yield buf


def _deflate(comp: Any, data: bytes) -> bytes:
    return bytes(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))


class _Writer:
    """Writes NDJSON batches, gzip-compressed on a worker thread when `level` is set."""

    def __init__(self, resp: web.StreamResponse, level: int | None) -> None:
        self.resp = resp
        self.comp = None if level is None else zlib.compressobj(level, zlib.DEFLATED, 31)

    async def pump(self, batches: Iterator[list[bytes]], pause_s: float = 0.0) -> None:
        """Write every batch (`pause_s` between chunks); with gzip, batch k+1 is generated
        while batch k compresses on a worker thread."""
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[bytes] | None = None
        sent = 0
        for batch in batches:
            data = b"".join(batch)
            if self.comp is None:
                chunk: bytes | None = data
            else:
                chunk = None if pending is None else await pending
                pending = loop.run_in_executor(None, _deflate, self.comp, data)
            if chunk is not None:
                if pause_s and sent:
                    await asyncio.sleep(pause_s)
                await self.resp.write(chunk)
                sent += 1
            await asyncio.sleep(0)  # let other requests in between batches
        if pending is not None:
            if pause_s and sent:
                await asyncio.sleep(pause_s)
            await self.resp.write(await pending)

    async def write(self, data: bytes) -> None:
        """Write (and compress) one more piece."""
        await self.resp.write(data if self.comp is None else _deflate(self.comp, data))

    async def close(self) -> None:
        """The gzip trailer, if compressing."""
        if self.comp is not None:
            await self.resp.write(self.comp.flush(zlib.Z_FINISH))

    async def cut(self, request: web.Request) -> None:
        """Send half of a last piece, then close the connection without ending the body
        (no gzip trailer, no final chunk)."""
        partial = b'{"RayID":"'
        piece = partial if self.comp is None else _deflate(self.comp, partial * 64)
        await self.resp.write(piece[: max(1, len(piece) // 2)])
        transport = request.transport
        if transport is not None:
            transport.close()


# ---------------------------------------------------------------------------------------
# admin (tests only, no auth)


@routes.get("/__sim/logpull")
async def ground_truth(request: web.Request) -> web.Response:
    """`?zone_id=&start=&end=[&ray_ids=false]`: count and RayIDs of [start, end) by receive
    time (no window-length or retention checks; RayIDs in receive order)."""
    st = state(request)
    q = request.query
    zone_id = q.get("zone_id") or st.config.zone_ids[0]
    try:
        zone = st.logpull.zone(zone_id)
        start, end = _time(q, "start"), _time(q, "end")
    except (KeyError, BadQuery) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    body: dict[str, Any] = {"zone_id": zone_id, "start_ns": start, "end_ns": end,
                            "count": zone.count(start, end)}
    if q.get("ray_ids", "true").lower() != "false":
        if body["count"] > MAX_GROUND_TRUTH:
            return web.json_response({"error": f"more than {MAX_GROUND_TRUTH} records: use "
                                               "ray_ids=false"}, status=400)
        body["ray_ids"] = [f"{r:016x}" for r, _ in zone.keys(start, end)]
    return web.json_response(body)


def _config_view(request: web.Request) -> dict[str, Any]:
    cfg = state(request).config
    return {
        "zones": {z: cfg.zone_name(z) for z in cfg.zone_ids},
        "rps": cfg.logpull_rps, "zone_rate_limit": cfg.logpull_zone_rate_limit,
        "user_rate_limit": cfg.logpull_user_rate_limit,
        "rate_window_s": cfg.logpull_rate_window_s, "min_lag_s": cfg.logpull_min_lag_s,
        "gzip_level": cfg.logpull_gzip_level, "batch_bytes": cfg.logpull_batch_bytes,
    }


@routes.get("/__sim/logpull/config")
async def get_config(request: web.Request) -> web.Response:
    """The Logpull knobs and zones."""
    return web.json_response(_config_view(request))


@routes.post("/__sim/logpull/config")
async def set_config(request: web.Request) -> web.Response:
    """Change knobs: rps, zone_rate_limit, user_rate_limit, rate_window_s, min_lag_s,
    gzip_level, batch_bytes; `reset` (default true) forgets the Logpull request counters."""
    st = state(request)
    cfg = st.config
    try:
        data = await request.json() if request.can_read_body else {}
        if not isinstance(data, dict):
            msg = "body must be a JSON object"
            raise ValueError(msg)
        if "rps" in data:
            rps = float(data["rps"])
            if not 0 <= rps < 1 << 20:
                msg = "rps must be in [0, 2^20)"
                raise ValueError(msg)
            cfg.logpull_rps = st.logpull.rps = rps
        for key, attr, kind in (("zone_rate_limit", "logpull_zone_rate_limit", int),
                                ("user_rate_limit", "logpull_user_rate_limit", int),
                                ("rate_window_s", "logpull_rate_window_s", float),
                                ("min_lag_s", "logpull_min_lag_s", float),
                                ("gzip_level", "logpull_gzip_level", int),
                                ("batch_bytes", "logpull_batch_bytes", int)):
            if key in data:
                setattr(cfg, attr, kind(data[key]))
        if not -1 <= cfg.logpull_gzip_level <= 9 or cfg.logpull_batch_bytes < 1:
            msg = "gzip_level must be -1..9 and batch_bytes >= 1"
            raise ValueError(msg)
    except (ValueError, TypeError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if data.get("reset", True):
        st.logpull.reset_limits()
    return web.json_response(_config_view(request))


def add_routes(app: web.Application, prefix: str) -> None:
    """Register the Logpull endpoints under `prefix` (/client/v4) and the admin routes."""
    zone = prefix + "/zones/{zone_id}/logs/received"
    app.router.add_get(zone, received)
    app.router.add_get(zone + "/fields", received_fields)
    app.router.add_routes(routes)

