"""Logpull (facts §4): windows by receive time, determinism, formats, gzip, streaming, faults,
limits, permissions, and the generator's throughput (printed, never asserted)."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sim.__main__ import _zones, build_parser
from sim.config import SimConfig
from sim.http_records import DEFAULT_FIELDS, FIELDS, NS, ZoneLogs, line_format
from sim.logpull import parse_instant, to_ns

T0 = datetime(2026, 11, 22, 20, 19, 48, 250000, tzinfo=UTC)  # conftest.T0

ZONE = SimConfig().zone_ids[0]
ZONE2 = "f" * 32
URL = f"/zones/{ZONE}/logs/received"
T0_NS = to_ns(T0)
S0 = T0_NS // NS - 1800  # a whole second half an hour before the fake now
ROOT = Path(__file__).resolve().parents[2]


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


async def truth(sim, c, start, end, zone=ZONE):
    r = await c.get(f"{sim.admin_url}/logpull",
                    params={"zone_id": zone, "start": start, "end": end})
    assert r.status_code == 200
    return r.json()


def test_fields_endpoint_is_a_bare_object(serve):
    async def scenario(sim, c):
        r = await c.get(f"/zones/{ZONE}/logs/received/fields")
        assert r.status_code == 200
        body = r.json()
        assert "success" not in body and len(body) >= 70
        assert set(DEFAULT_FIELDS) <= set(body)
        assert all(isinstance(v, str) and v for v in body.values())

    serve(scenario)


def test_field_list_matches_the_avro_schema():
    path = ROOT / "schemas" / "cloudflare.http_requests.avsc"
    if not path.exists():
        pytest.skip("schema not written yet")
    names = {f["name"] for f in json.loads(path.read_text())["fields"]} - {"extra"}
    assert names == set(FIELDS)


def test_window_by_receive_time_and_ground_truth(serve):
    async def scenario(sim, c):
        r = await c.get(URL, params={"start": S0, "end": S0 + 60})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        recs = lines(r.text)
        assert len(recs) == 60 * 4
        assert [list(rec) for rec in recs[:1]] == [list(DEFAULT_FIELDS)]
        gt = await truth(sim, c, S0, S0 + 60)
        assert gt["count"] == 240 and sorted(gt["ray_ids"]) == sorted(x["RayID"] for x in recs)
        rays = [x["RayID"] for x in recs]
        assert len(set(rays)) == len(rays)
        assert all(len(x) == 16 and int(x, 16) >= 0 for x in rays)
        # consecutive windows partition the big one
        a = lines((await c.get(URL, params={"start": S0, "end": S0 + 25})).text)
        b = lines((await c.get(URL, params={"start": S0 + 25, "end": S0 + 60})).text)
        assert sorted(x["RayID"] for x in a + b) == sorted(rays)
        assert not {x["RayID"] for x in a} & {x["RayID"] for x in b}
        # same window -> same body; event time may precede the window, never follow it
        again = await c.get(URL, params={"start": S0, "end": S0 + 60})
        assert again.text == r.text
        assert all(x["EdgeStartTimestamp"] < x["EdgeEndTimestamp"] < (S0 + 60) * NS
                   for x in recs)
        assert any(x["EdgeStartTimestamp"] < S0 * NS for x in recs)

    serve(scenario, logpull_rps=4.0)


def test_start_inclusive_end_exclusive_in_nanoseconds(serve):
    zone = ZoneLogs(SimConfig().seed, ZONE, "example.com", 0, 3.0)
    ray, recv = list(zone.keys(S0 * NS, (S0 + 5) * NS))[4]

    async def scenario(sim, c):
        inc = lines((await c.get(URL, params={"start": recv, "end": recv + NS})).text)
        assert f"{ray:016x}" in {x["RayID"] for x in inc}
        exc = lines((await c.get(URL, params={"start": recv - NS, "end": recv})).text)
        assert f"{ray:016x}" not in {x["RayID"] for x in exc}
        assert len(inc) + len(exc) == (await truth(sim, c, recv - NS, recv + NS))["count"]

    serve(scenario, logpull_rps=3.0)


def test_time_formats_agree(serve):
    start = (T0 - timedelta(minutes=30)).replace(microsecond=0)
    rfc = (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
    assert parse_instant(rfc) == to_ns(start)
    assert parse_instant("2026-11-22T19:49:48.000000001Z") == to_ns(start) + 1

    async def scenario(sim, c):
        s = to_ns(start) // NS
        bodies = set()
        for lo, hi in ((s, s + 30), (s * NS, (s + 30) * NS),
                       (rfc, (start + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))):
            r = await c.get(URL, params={"start": lo, "end": hi})
            assert r.status_code == 200, r.text
            bodies.add(r.text)
        assert len(bodies) == 1 and len(lines(bodies.pop())) == 60

    serve(scenario, logpull_rps=2.0)


@pytest.mark.parametrize(("params", "message"), [
    ({"start": S0, "end": S0 + 3601},
     "bad query: error parsing time: invalid time range: too long: maximum query range "
     "(difference between start and end) is 1h0m0s"),
    ({"start": T0_NS // NS - 168 * 3600 - 10, "end": T0_NS // NS - 168 * 3600 + 10},
     "bad query: error parsing time: invalid time range: too early: logs older than "
     "168h0m0s are not available"),
    ({"start": T0_NS // NS - 120, "end": T0_NS // NS - 30},
     "bad query: error parsing time: invalid time range: too late: end must be at least "
     "1m0s in the past"),
    ({"start": S0, "end": S0},
     "bad query: error parsing time: invalid time range: end must be after start"),
    ({"start": S0}, "bad query: error parsing time: end is required"),
    ({"start": "yesterday", "end": S0}, "bad query: error parsing time: invalid start time: "
                                        "'yesterday'"),
    ({"start": S0, "end": S0 + 10, "fields": "RayID,WAFAction,ZoneID"},
     "bad query: error parsing fields: unknown fields: WAFAction,ZoneID"),
    ({"start": S0, "end": S0 + 10, "fields": "RayID, ClientIP"},
     "bad query: error parsing fields: unknown fields:  ClientIP"),
    ({"start": S0, "end": S0 + 10, "timestamps": "iso"},
     "bad query: error parsing timestamps: unknown format 'iso', expected one of unixnano, "
     "unix, rfc3339"),
    ({"start": S0, "end": S0 + 10, "sample": "0"},
     "bad query: error parsing sample: must be a number in (0, 1]"),
    ({"start": S0, "end": S0 + 10, "count": "-1"},
     "bad query: error parsing count: must be an integer greater than 0"),
])
def test_bad_queries(serve, params, message):
    async def scenario(sim, c):
        r = await c.get(URL, params=params)
        assert r.status_code == 400
        assert r.json() == {"success": False, "result": None, "messages": [],
                            "errors": [{"code": 1010, "message": message}]}

    serve(scenario)


def test_fields_timestamps_sample_count(serve):
    async def scenario(sim, c):
        base = {"start": S0, "end": S0 + 20, "fields": "RayID,EdgeStartTimestamp,RayID,ZoneName"}
        recs = lines((await c.get(URL, params=base)).text)
        assert list(recs[0]) == ["RayID", "EdgeStartTimestamp", "ZoneName"]
        assert isinstance(recs[0]["EdgeStartTimestamp"], int)
        assert recs[0]["EdgeStartTimestamp"] > 10**18
        unix = lines((await c.get(URL, params={**base, "timestamps": "unix"})).text)
        assert [x["EdgeStartTimestamp"] for x in unix] == [
            x["EdgeStartTimestamp"] // NS for x in recs]
        rfc = lines((await c.get(URL, params={**base, "timestamps": "rfc3339"})).text)
        assert all(isinstance(x["EdgeStartTimestamp"], str) for x in rfc)
        assert [parse_instant(x["EdgeStartTimestamp"]) for x in rfc] == [
            x["EdgeStartTimestamp"] * NS for x in unix]
        half = lines((await c.get(URL, params={**base, "sample": "0.5"})).text)
        assert 0 < len(half) < len(recs)
        assert lines((await c.get(URL, params={**base, "sample": "0.5"})).text) == half
        assert {x["RayID"] for x in half} <= {x["RayID"] for x in recs}
        capped = lines((await c.get(URL, params={**base, "count": "7"})).text)
        assert len(capped) == 7
        every = lines((await c.get(URL, params={**base, "fields": ",".join(FIELDS)})).text)
        assert len(every) == len(recs) and set(every[0]) == set(FIELDS)

    serve(scenario, logpull_rps=10.0)


def test_full_records_are_typed_and_cve_flag(serve):
    async def scenario(sim, c):
        p = {"start": S0, "end": S0 + 120, "fields": ",".join(FIELDS)}
        r = await c.get(URL, params=p)
        recs = lines(r.text)
        size = len(r.content) / len(recs)
        print(f"\nall {len(FIELDS)} fields: {size:.0f} bytes per line")
        rec = recs[0]
        assert isinstance(rec["JA4Signals"], dict) and isinstance(rec["Cookies"], dict)
        assert isinstance(rec["BotDetectionIDs"], list) and isinstance(rec["BotScore"], int)
        assert isinstance(rec["EdgeResponseCompressionRatio"], float)
        assert isinstance(rec["CacheReserveUsed"], bool)
        assert isinstance(rec["ClientLatitude"], str)
        assert {x["ZoneName"] for x in recs} == {"example.com"}
        assert len({x["ClientIP"] for x in recs}) > 100
        assert any(":" in x["ClientIP"] for x in recs)
        assert "${" in r.text
        fixed = await c.get(URL, params={**p, "CVE-2021-44228": "true"})
        assert "${" not in fixed.text and "x{jndi:" in fixed.text
        assert len(lines(fixed.text)) == len(recs)

    serve(scenario, logpull_rps=5.0)


def test_gzip_and_plain_carry_the_same_lines(serve):
    async def scenario(sim, c):
        p = {"start": S0, "end": S0 + 30}
        plain = await c.get(URL, params=p, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.headers["transfer-encoding"] == "chunked"
        async with c.stream("GET", URL, params=p,
                            headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["content-encoding"] == "gzip"
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
        assert raw[:2] == b"\x1f\x8b"
        assert gzip.decompress(raw) == plain.content
        assert len(raw) < len(plain.content)

    serve(scenario, logpull_rps=20.0)


def test_stream_arrives_before_the_window_is_generated(serve):
    async def scenario(sim, c):
        await c.post(f"{sim.admin_url}/faults",
                     json={"kind": "slow", "after": 2, "latency_s": 0.25})
        t0 = time.monotonic()
        first = None
        got = []
        async with c.stream("GET", URL, params={"start": S0, "end": S0 + 5}) as r:
            async for line in r.aiter_lines():
                if first is None:
                    first = time.monotonic() - t0
                got.append(json.loads(line))
        total = time.monotonic() - t0
        assert len(got) == 10
        assert total >= 1.0
        assert first is not None
        assert first < total / 2, "the first lines arrive long before the last"
        assert (await c.get(f"{sim.admin_url}/faults")).json() == {"pending": []}

    serve(scenario, logpull_rps=2.0)


def test_stream_error_trailer(serve):
    async def scenario(sim, c):
        await c.post(f"{sim.admin_url}/faults", json={"kind": "stream_error", "after": 7})
        await c.get("/user/tokens/verify")  # other endpoints do not consume it
        r = await c.get(URL, params={"start": S0, "end": S0 + 10})
        assert r.status_code == 200
        text_lines = r.text.splitlines()
        assert text_lines[-1] == "Error streaming data"
        assert len([json.loads(x) for x in text_lines[:-1]]) == 7
        r = await c.get(URL, params={"start": S0, "end": S0 + 10})
        assert "Error streaming data" not in r.text and len(lines(r.text)) == 30
        # default: about half of the window, also gzip-compressed
        await c.post(f"{sim.admin_url}/faults", json={"kind": "stream_error"})
        r = await c.get(URL, params={"start": S0, "end": S0 + 10},
                        headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert r.text.splitlines()[-1] == "Error streaming data"
        assert len(r.text.splitlines()) == 16

    serve(scenario, logpull_rps=3.0)


def test_truncated_gzip(serve):
    async def scenario(sim, c):
        await c.post(f"{sim.admin_url}/faults", json={"kind": "truncated_gzip", "after": 5})
        raw = bytearray()

        async def read() -> None:
            async with c.stream("GET", URL, params={"start": S0, "end": S0 + 10},
                                headers={"Accept-Encoding": "gzip"}) as r:
                assert r.status_code == 200
                async for chunk in r.aiter_raw():
                    raw.extend(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            await read()
        d = zlib.decompressobj(31)
        text = d.decompress(bytes(raw))
        assert not d.eof  # no gzip trailer
        assert text.count(b"\n") == 5 and not text.endswith(b"\n")
        assert (await c.get(URL, params={"start": S0, "end": S0 + 10})).status_code == 200

    serve(scenario, logpull_rps=3.0)


def test_status_fault_on_logpull(serve):
    async def scenario(sim, c):
        await c.post(f"{sim.admin_url}/faults",
                     json={"kind": "status", "status": 503, "path": "/logs/received"})
        r = await c.get(URL, params={"start": S0, "end": S0 + 10})
        assert r.status_code == 503 and r.json()["success"] is False
        assert (await c.get(URL, params={"start": S0, "end": S0 + 10})).status_code == 200

    serve(scenario)


def test_per_zone_rate_limit(serve, clock):
    async def scenario(sim, c):
        p = {"start": S0, "end": S0 + 1}
        for _ in range(3):
            assert (await c.get(URL, params=p)).status_code == 200
        r = await c.get(URL, params=p)
        assert r.status_code == 429 and r.json()["errors"][0]["code"] == 971
        assert r.headers["Retry-After"] == "60"
        assert (await c.get(f"/zones/{ZONE2}/logs/received", params=p)).status_code == 200
        clock.advance(30)
        assert (await c.get(URL, params=p)).headers["Retry-After"] == "30"
        clock.advance(30)
        assert (await c.get(URL, params=p)).status_code == 200
        r = await c.post(f"{sim.admin_url}/logpull/config", json={"zone_rate_limit": 15})
        assert r.json()["zone_rate_limit"] == 15

    serve(scenario, zone_ids=(ZONE, ZONE2), logpull_zone_rate_limit=3)


def test_zones_and_permissions(serve):
    no_logs, logs = "N" * 40, "G" * 40

    async def scenario(sim, c):
        p = {"start": S0, "end": S0 + 1}
        for path in (URL, f"{URL}/fields"):
            r = await c.get(path, params=p, headers={"Authorization": f"Bearer {no_logs}"})
            assert r.status_code == 403 and r.json()["errors"][0]["code"] == 10000
            r = await c.get(path, params=p, headers={"Authorization": f"Bearer {logs}"})
            assert r.status_code == 200
        r = await c.get(f"/zones/{'e' * 32}/logs/received", params=p)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == 9109
        r = await c.get("/zones/not-a-zone/logs/received", params=p)
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == 7003
        r = await c.get(URL, params=p, headers={"Authorization": f"Bearer {'Q' * 40}"})
        assert r.status_code == 403

    serve(scenario, limited_tokens={no_logs: frozenset({"account_settings_read"}),
                                    logs: frozenset({"Logs Read"})})


def test_determinism_across_instances_and_seeds():
    window = (S0 * NS, (S0 + 30) * NS)
    fmt = line_format(list(FIELDS))

    def body(seed: int, zone: str = ZONE, index: int = 0) -> bytes:
        z = ZoneLogs(seed, zone, "example.com", index, 7.5)
        return b"".join(b"".join(batch) for batch in z.lines(fmt, *window, batch_bytes=4096))

    assert body(1) == body(1)
    assert body(1) != body(2)
    z = ZoneLogs(1, ZONE, "example.com", 0, 7.5)
    assert 7 * 30 <= z.count(*window) <= 8 * 30
    assert z.count(*window) == len(body(1).splitlines())
    other = ZoneLogs(1, ZONE2, "example1.com", 1, 7.5)
    assert not {r for r, _ in z.keys(*window)} & {r for r, _ in other.keys(*window)}


def test_cli_zone_ids():
    parser = build_parser()
    args = parser.parse_args(["--zone-id", ZONE2, "--zone-id", ZONE, "--logpull-rps", "50"])
    assert _zones(parser, args.zone_id) == (ZONE2, ZONE) and args.logpull_rps == 50.0
    assert _zones(parser, []) == (ZONE,)
    with pytest.raises(SystemExit):
        _zones(parser, ["XYZ"])


def test_generator_throughput():
    """Prints lines/s and MB/s (plain and gzip level 1); asserts nothing about speed."""
    z = ZoneLogs(42, ZONE, "example.com", 0, 50_000)
    start = S0 * NS
    for name, fields in (("default", DEFAULT_FIELDS), ("all", tuple(FIELDS))):
        fmt = line_format(fields)
        z.template(fmt)
        for level in (None, 1):
            comp = None if level is None else zlib.compressobj(level, zlib.DEFLATED, 31)
            n = raw = out = 0
            t = time.perf_counter()
            for batch in z.lines(fmt, start, start + NS):
                data = b"".join(batch)
                n, raw = n + len(batch), raw + len(data)
                if comp is not None:
                    out += len(comp.compress(data)) + len(comp.flush(zlib.Z_SYNC_FLUSH))
            dt = time.perf_counter() - t
            print(f"\n{name:7s} gzip={level}: {n / dt:9.0f} lines/s {raw / dt / 1e6:6.1f} MB/s "
                  f"(uncompressed), {raw / n:.0f} B/line"
                  + (f", ratio {out / raw:.2f}" if out else ""))
            assert n == 50_000
