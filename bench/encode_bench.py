"""Benchmark: Cloudflare http_requests NDJSON line -> Avro body, records per second.

Usage: ``python bench/encode_bench.py [--records N] [--repeat R] [--profile]``

Generates realistic Logpull ``http_requests`` lines (70 requested fields, ~2 KB each,
deterministic seed), then times, on one core, best of R passes:

- naive: ``json.loads`` + ``convert.to_record`` + ``fastavro.schemaless_writer``
- the compiled encoder (``connector.fastencode``) with json and with orjson parsing
- parse only (the ceiling of any Python-side pipeline that builds dicts)
- the compiled encoder's parts (encode only, general path) and gunzip of the batch
- the native encoder (``cfkafka_native``, built from native/ by ``make install``): one line
  at a time (``Codec.encode``) and a whole decompressed piece (``Codec.encode_chunk``)

Every compiled-encoder output is checked byte for byte against the naive path first, and
every native output against the compiled encoder's.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastavro  # noqa: E402

import schemas  # noqa: E402
from connector import convert, fastencode  # noqa: E402

try:
    import orjson
except ImportError:  # the bench still runs, without the orjson rows
    orjson = None

try:
    import cfkafka_native
except ImportError:  # the bench still runs, without the native rows
    cfkafka_native = None

SCHEMA = "cloudflare.http_requests"
JSON_FIELDS = frozenset({"JA4Signals", "Cookies", "RequestHeaders", "ResponseHeaders"})

# A typical Logpull field list: 70 fields (the ones a SIEM pipeline asks for).
FIELDS = (
    "RayID", "EdgeStartTimestamp", "EdgeEndTimestamp", "ClientIP", "ClientASN", "ClientCountry",
    "ClientCity", "ClientRegionCode", "ClientLatitude", "ClientLongitude", "ClientDeviceType",
    "ClientIPClass", "ClientRequestBytes", "ClientRequestHost", "ClientRequestMethod",
    "ClientRequestPath", "ClientRequestProtocol", "ClientRequestReferer", "ClientRequestScheme",
    "ClientRequestSource", "ClientRequestURI", "ClientRequestUserAgent", "ClientSSLCipher",
    "ClientSSLProtocol", "ClientSrcPort", "ClientTCPRTTMs", "ClientXRequestedWith",
    "BotScore", "BotScoreSrc", "BotTags", "BotDetectionIDs", "BotDetectionTags", "JA3Hash", "JA4",
    "JA4Signals", "VerifiedBotCategory", "CacheCacheStatus", "CacheResponseBytes",
    "CacheReserveUsed", "CacheTieredFill", "EdgeColoCode", "EdgeColoID", "EdgePathingOp",
    "EdgePathingSrc", "EdgePathingStatus", "EdgeRequestHost", "EdgeResponseBodyBytes",
    "EdgeResponseBytes", "EdgeResponseCompressionRatio", "EdgeResponseContentType",
    "EdgeResponseStatus", "EdgeServerIP", "EdgeTimeToFirstByteMs", "OriginIP",
    "OriginResponseStatus", "OriginResponseDurationMs", "OriginDNSResponseTimeMs",
    "OriginTCPHandshakeDurationMs", "OriginTLSHandshakeDurationMs", "OriginSSLProtocol",
    "ParentRayID", "SecurityAction", "SecurityActions", "SecurityRuleID", "SecurityRuleIDs",
    "SecuritySources", "WAFAttackScore", "WAFSQLiAttackScore", "WAFXSSAttackScore",
    "WorkerSubrequest", "ZoneName",
)

_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Go-http-client/2.0",
)
_PATHS = ("/", "/api/v1/users", "/api/v1/orders/{id}", "/static/js/app.{h}.js",
          "/static/css/main.{h}.css", "/images/products/{id}.webp", "/login", "/cart",
          "/search", "/wp-login.php", "/.env", "/health", "/graphql", "/blog/2024/{id}/überblick")
_CITIES = (("US", "Ashburn", "VA"), ("DE", "Frankfurt am Main", "HE"), ("GB", "London", "ENG"),
           ("BR", "São Paulo", "SP"), ("JP", "東京", "13"), ("IN", "Mumbai", "MH"),
           ("FR", "Paris", "IDF"), ("CH", "Zürich", "ZH"), ("SG", "Singapore", ""))
_COLOS = (("IAD", 14), ("FRA", 32), ("LHR", 44), ("GRU", 131), ("NRT", 99), ("BOM", 200))
_STATUS = (200,) * 14 + (204, 301, 302, 304, 304, 403, 404, 404, 429, 500, 502, 503)
_CACHE = ("hit", "miss", "dynamic", "expired", "revalidated", "none", "bypass")
_CTYPES = ("text/html", "application/json", "application/javascript", "text/css", "image/webp")
_CIPHERS = ("AEAD-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "AEAD-CHACHA20-POLY1305")


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return ":".join(f"{rng.getrandbits(16):x}" for _ in range(8))
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def make_record(rng: random.Random, i: int, base_ns: int) -> dict[str, Any]:
    """One http_requests record as Logpull sends it (timestamps=unixnano)."""
    start = base_ns + i * 20_000_000 + rng.randrange(1_000_000)
    country, city, region = rng.choice(_CITIES)
    colo, colo_id = rng.choice(_COLOS)
    status = rng.choice(_STATUS)
    blocked = status in (403, 429)
    path = rng.choice(_PATHS).format(id=rng.randrange(10**6), h=f"{rng.getrandbits(32):08x}")
    query = f"?q={rng.getrandbits(40):x}&page={rng.randrange(50)}" if rng.random() < 0.4 else ""
    host = rng.choice(("www.example.com", "api.example.com", "shop.example.co.uk"))
    body = rng.randrange(200, 250_000)
    rule = f"{rng.getrandbits(128):032x}" if blocked else ""
    rec: dict[str, Any] = {
        "RayID": f"{rng.getrandbits(64):016x}",
        "EdgeStartTimestamp": start,
        "EdgeEndTimestamp": start + rng.randrange(100_000, 900_000_000),
        "ClientIP": _ip(rng),
        "ClientASN": rng.choice((13335, 15169, 16509, 3320, 7922, 4134, 396982)),
        "ClientCountry": country.lower(),
        "ClientCity": city,
        "ClientRegionCode": region,
        "ClientLatitude": f"{rng.uniform(-60, 60):.5f}",
        "ClientLongitude": f"{rng.uniform(-180, 180):.5f}",
        "ClientDeviceType": rng.choice(("desktop", "mobile", "tablet")),
        "ClientIPClass": rng.choice(("noRecord", "clean", "searchEngine", "tor")),
        "ClientRequestBytes": rng.randrange(300, 9000),
        "ClientRequestHost": host,
        "ClientRequestMethod": rng.choice(("GET",) * 6 + ("POST", "HEAD", "PUT", "OPTIONS")),
        "ClientRequestPath": path,
        "ClientRequestProtocol": rng.choice(("HTTP/1.1", "HTTP/2", "HTTP/3")),
        "ClientRequestReferer": f"https://{host}/" if rng.random() < 0.6 else "",
        "ClientRequestScheme": "https",
        "ClientRequestSource": "eyeball",
        "ClientRequestURI": path + query,
        "ClientRequestUserAgent": rng.choice(_UAS),
        "ClientSSLCipher": rng.choice(_CIPHERS),
        "ClientSSLProtocol": rng.choice(("TLSv1.3", "TLSv1.2")),
        "ClientSrcPort": rng.randrange(1024, 65536),
        "ClientTCPRTTMs": rng.randrange(0, 300),
        "ClientXRequestedWith": "",
        "BotScore": rng.randrange(1, 100),
        "BotScoreSrc": rng.choice(("Machine Learning", "Heuristics", "Verified Bot")),
        "BotTags": rng.choice(([], [], ["api"], ["googlebot", "verified"])),
        "BotDetectionIDs": rng.choice(([], [], [201326592], [50331651, 33554817])),
        "BotDetectionTags": rng.choice(([], ["residential_proxy"])),
        "JA3Hash": f"{rng.getrandbits(128):032x}",
        "JA4": f"t13d{rng.randrange(1000, 9999)}h2_{rng.getrandbits(48):012x}"
               f"_{rng.getrandbits(48):012x}",
        "JA4Signals": {"h2h3_ratio_1h": round(rng.random(), 6),
                       "heuristic_ratio_1h": round(rng.random(), 6),
                       "reqs_quantile_1h": round(rng.random(), 6),
                       "uas_rank_1h": rng.randrange(1, 5000), "ips_rank_1h": rng.randrange(1, 5000),
                       "browser_ratio_1h": round(rng.random(), 6)},
        "VerifiedBotCategory": "",
        "CacheCacheStatus": rng.choice(_CACHE),
        "CacheResponseBytes": rng.randrange(0, 300_000),
        "CacheReserveUsed": False,
        "CacheTieredFill": rng.random() < 0.1,
        "EdgeColoCode": colo,
        "EdgeColoID": colo_id,
        "EdgePathingOp": "wl",
        "EdgePathingSrc": rng.choice(("macro", "filterBasedFirewall", "bic")),
        "EdgePathingStatus": "nr",
        "EdgeRequestHost": host,
        "EdgeResponseBodyBytes": body,
        "EdgeResponseBytes": body + rng.randrange(200, 1500),
        "EdgeResponseCompressionRatio": round(rng.uniform(1, 6), 2),
        "EdgeResponseContentType": rng.choice(_CTYPES),
        "EdgeResponseStatus": status,
        "EdgeServerIP": "" if rng.random() < 0.5 else _ip(rng),
        "EdgeTimeToFirstByteMs": rng.randrange(1, 4000),
        "OriginIP": _ip(rng),
        "OriginResponseStatus": 0 if blocked else status,
        "OriginResponseDurationMs": rng.randrange(0, 5000),
        "OriginDNSResponseTimeMs": rng.randrange(0, 50),
        "OriginTCPHandshakeDurationMs": rng.randrange(0, 200),
        "OriginTLSHandshakeDurationMs": rng.randrange(0, 400),
        "OriginSSLProtocol": "TLSv1.3",
        "ParentRayID": "00",
        "SecurityAction": "block" if blocked else "",
        "SecurityActions": ["block"] if blocked else [],
        "SecurityRuleID": rule,
        "SecurityRuleIDs": [rule] if blocked else [],
        "SecuritySources": ["firewallManaged"] if blocked else [],
        "WAFAttackScore": rng.randrange(1, 100),
        "WAFSQLiAttackScore": rng.randrange(1, 100),
        "WAFXSSAttackScore": rng.randrange(1, 100),
        "WorkerSubrequest": False,
        "ZoneName": "example.com",
    }
    assert tuple(rec) == FIELDS
    return rec


def make_lines(n: int, seed: int = 20240601) -> list[bytes]:
    """``n`` NDJSON lines (without the newline), deterministic."""
    rng = random.Random(seed)
    base = 1_717_200_000_000_000_000
    return [json.dumps(make_record(rng, i, base), ensure_ascii=False,
                       separators=(",", ":")).encode() for i in range(n)]


def to_record_schema(raw: dict[str, Any]) -> dict[str, Any]:
    """The schema for convert.to_record: it supports one non-null union branch only, so the
    timestamp fields (["null","long","string"]) become ["null","long"] (the bench sends ints).
    fastavro still writes with the real schema; the bytes are the same."""
    out = json.loads(json.dumps(raw))
    for field in out["fields"]:
        if isinstance(field["type"], list) and len(field["type"]) > 2:
            field["type"] = ["null", "long"]
    return out


def rss_mb() -> float:
    """Peak RSS of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(fn: Callable[[], object], n: int, repeat: int) -> float:
    """Best records/s over ``repeat`` runs of ``fn`` (which processes ``n`` records)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the compiled path and print the top functions")
    args = parser.parse_args(argv)
    n, repeat = args.records, args.repeat

    t0 = time.perf_counter()
    rss0 = rss_mb()
    lines = make_lines(n)
    blob = gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6)
    raw = schemas.raw(SCHEMA)
    parsed = schemas.load(SCHEMA)
    naive_schema = to_record_schema(raw)
    rss_data = rss_mb()
    encode = fastencode.compile_encoder(raw, JSON_FIELDS, expected=FIELDS)
    encode_general = fastencode.compile_encoder(raw, JSON_FIELDS)  # no field list: get() path
    rss_compiled = rss_mb()
    dicts = [json.loads(line) for line in lines]
    avg_line = sum(map(len, lines)) / n

    writer = fastavro.schemaless_writer
    to_record = convert.to_record

    def naive_one(line: bytes) -> bytes:
        buf = io.BytesIO()
        writer(buf, parsed, to_record(naive_schema, json.loads(line), JSON_FIELDS))
        return buf.getvalue()

    # correctness first: the compiled encoder must write the naive path's bytes
    mismatches = sum(encode(d) != naive_one(line) or encode_general(d) != naive_one(line)
                     for d, line in zip(dicts[:5000], lines, strict=False))
    if mismatches:
        print(f"ERROR: {mismatches} records differ from the naive path", file=sys.stderr)
        return 1

    loads = json.loads
    rows: list[tuple[str, float]] = []

    def run(label: str, fn: Callable[[], object]) -> None:
        rate = best(fn, n, repeat)
        rows.append((label, rate))
        print(f"  {label:<58} {rate:>10,.0f}/s", file=sys.stderr)

    print(f"{n} records, {avg_line:,.0f} B/line avg, gzip {len(blob) / n:,.0f} B/record",
          file=sys.stderr)
    run("(a) naive: json.loads + to_record + fastavro", lambda: [naive_one(x) for x in lines])
    run("    to_record + fastavro (no parse)",
        lambda: [naive_encode(writer, parsed, to_record(naive_schema, d, JSON_FIELDS))
                 for d in dicts])
    run("(b) json.loads + compiled encoder", lambda: [encode(loads(x)) for x in lines])
    if orjson is not None:
        oloads = orjson.loads
        run("(b) orjson.loads + compiled encoder", lambda: [encode(oloads(x)) for x in lines])
        run("(b) fastencode.loads_line (guarded orjson) + compiled",
            lambda: [encode(fastencode.loads_line(x)) for x in lines])
    run("    compiled encoder only (field list known)", lambda: [encode(d) for d in dicts])
    run("    compiled encoder only (general path, dict.get)",
        lambda: [encode_general(d) for d in dicts])
    run("(c) parse only: json.loads", lambda: [loads(x) for x in lines])
    if orjson is not None:
        run("(c) parse only: orjson.loads", lambda: [oloads(x) for x in lines])
    run("    gunzip + split lines (per record)",
        lambda: gzip.decompress(blob).split(b"\n"))
    if orjson is not None:
        header = b"\x00\x00\x00\x00\x01"  # Confluent wire header, schema id 1
        encode_framed = fastencode.compile_encoder(raw, JSON_FIELDS, expected=FIELDS,
                                                   prefix=header)

        def pipeline() -> None:
            out = [encode_framed(oloads(x)) for x in gzip.decompress(blob).split(b"\n") if x]
            assert out[0][:5] == header

        run("    gunzip + orjson + compiled (framed): all but Kafka", pipeline)

    if cfkafka_native is not None:
        header = b"\x00\x00\x00\x00\x01"
        framed = fastencode.compile_encoder(raw, JSON_FIELDS, expected=FIELDS, prefix=header)
        spec, extra = fastencode.native_spec(raw, JSON_FIELDS)
        native = cfkafka_native.Codec(spec, extra, "RayID", header)
        bad = sum(native.encode(x) != (d["RayID"].encode(), framed(d))
                  for d, x in zip(dicts[:5000], lines, strict=False))
        if bad:
            print(f"ERROR: {bad} native records differ from the compiled encoder",
                  file=sys.stderr)
            return 1
        chunk = b"\n".join(lines) + b"\n"
        nencode = native.encode
        run("(d) native: Codec.encode per line (parse + encode, framed)",
            lambda: [nencode(x) for x in lines])
        run("(d) native: Codec.encode_chunk of the whole batch",
            lambda: native.encode_chunk(chunk, True))
        run("    gunzip + native encode_chunk: all but Kafka",
            lambda: native.encode_chunk(gzip.decompress(blob), True))

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, "
          f"fastavro {fastavro.__version__}, orjson {getattr(orjson, '__version__', 'absent')}, "
          f"cfkafka_native {getattr(cfkafka_native, '__version__', 'absent')}")
    print(f"records: {n}, avg line {avg_line:,.0f} B, {len(FIELDS)} fields/record, "
          f"schema {len(raw['fields'])} fields, best of {repeat}")
    print()
    print(f"| {'path':<58} | {'records/s':>10} | {'µs/record':>9} | {'vs naive':>8} |")
    print(f"|{'-' * 60}|{'-' * 11}:|{'-' * 10}:|{'-' * 9}:|")
    naive = rows[0][1]
    for label, rate in rows:
        print(f"| {label:<58} | {rate:>10,.0f} | {1e6 / rate:>9.2f} | {rate / naive:>7.2f}x |")
    print()
    print(f"peak RSS: {rss_mb():.0f} MiB (start {rss0:.0f}, after generating {n} lines "
          f"{rss_data:.0f}, after compiling 2 encoders {rss_compiled:.0f}); "
          f"wall {time.perf_counter() - t0:.0f} s")

    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        for x in lines:
            encode(oloads(x) if orjson is not None else loads(x))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(8)
    return 0


def naive_encode(writer: Any, parsed: Any, record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    writer(buf, parsed, record)
    return buf.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
