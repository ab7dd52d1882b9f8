"""Benchmark: ``streams.enrich.Enricher`` on http_requests-shaped OCSF records, events/s.

Usage: ``.venv/bin/python bench/enrich_bench.py [--events N] [--repeat R] [--cidrs C]``

Builds N HTTP Activity (4002) records shaped like the normalizer's output for Logpull
``http_requests`` (nested OCSF objects, ~20 ``unmapped`` fields, a ~1.5 KB ``raw_data``),
with client IPs drawn from 20,000 addresses and user agents from 400 strings (both
Zipf-like, as real traffic repeats), a threat list of C CIDRs (IPv4 and IPv6) in a
temporary file, and the account/zone books and a roster populated. Then times, on one
core, best of R passes over fresh copies of the records:

- the whole default enricher (names, roster, user agent, IP class, threat list)
- each step alone, to show where the time goes
- the whole enricher with ``ZoneName`` only in ``raw_data`` (forces the raw parse)
- the whole enricher with cold caches (first pass only: every user agent parsed once)

The copies are made outside the timed region. Results go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.enrich import (  # noqa: E402
    Enricher,
    IpClassifier,
    NameBook,
    RawView,
    Roster,
    ThreatList,
    UserAgentParser,
)
from streams.enrich.record import copy_json  # noqa: E402

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
_BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S91{v}B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "curl/8.{v}.1",
    "python-requests/2.{v}.0",
    "Go-http-client/1.1 build{v}",
]


def user_agents(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct realistic user-agent strings."""
    out: list[str] = []
    while len(out) < n:
        text = rng.choice(_BROWSERS).format(v=rng.randint(1, 130))
        if text not in out:
            out.append(text)
    return out


def client_ips(rng: random.Random, n: int) -> list[str]:
    """``n`` client IPs: mostly public IPv4, some IPv6 and a few private/CGNAT."""
    ips: list[str] = []
    for i in range(n):
        if i % 10 == 0:
            ips.append(f"2a0{rng.randint(1, 9)}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::"
                       f"{rng.getrandbits(16):x}")
        elif i % 50 == 1:
            ips.append(f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
        else:
            ips.append(f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                       f"{rng.randint(1, 254)}")
    return ips


def zipf_pick(rng: random.Random, items: list[str]) -> str:
    """An item with probability falling off roughly as 1/rank."""
    return items[min(int(len(items) ** rng.random()) - 1, len(items) - 1)]


def http_record(
    rng: random.Random, n: int, ip: str, ua: str, *, zone_in_unmapped: bool
) -> dict[str, Any]:
    """One OCSF HTTP Activity record as the normalizer writes it for Logpull."""
    ray = f"{rng.getrandbits(64):016x}"
    host = rng.choice(("www.example.com", "api.example.com", "shop.example.com"))
    path = rng.choice(("/", "/login", "/api/v1/items", "/static/app.js", "/search"))
    country = rng.choice(("US", "DE", "GB", "FR", "BR", "IN", "JP", "T1"))
    asn = rng.choice((13335, 3320, 7922, 16509, 15169, 4134))
    raw = {
        "RayID": ray, "ClientIP": ip, "ClientCountry": country.lower(), "ClientASN": asn,
        "ClientRequestHost": host, "ClientRequestMethod": "GET", "ClientRequestPath": path,
        "ClientRequestURI": path + "?q=1", "ClientRequestUserAgent": ua,
        "ClientRequestReferer": "https://www.example.com/", "ClientRequestScheme": "https",
        "ClientRequestProtocol": "HTTP/2", "ClientSrcPort": rng.randint(1024, 65535),
        "EdgeStartTimestamp": 1_763_800_000_000_000_000 + n,
        "EdgeEndTimestamp": 1_763_800_000_000_500_000 + n, "EdgeResponseStatus": 200,
        "EdgeResponseBytes": rng.randint(200, 90_000), "EdgeColoCode": "FRA",
        "CacheCacheStatus": "hit", "BotScore": rng.randint(1, 99), "BotScoreSrc": "Heuristics",
        "WAFAttackScore": rng.randint(1, 99), "WAFSQLiAttackScore": rng.randint(1, 99),
        "WAFXSSAttackScore": rng.randint(1, 99), "WAFRCEAttackScore": rng.randint(1, 99),
        "SecurityAction": rng.choice(("", "", "", "block", "managedChallenge")),
        "SecurityRuleID": "", "ClientIPClass": "clean", "JA3Hash": f"{rng.getrandbits(128):032x}",
        "ZoneName": "example.com", "OriginResponseStatus": 200, "OriginIP": "192.0.2.10",
    }
    unmapped_names = (
        "BotScore", "BotScoreSrc", "CacheCacheStatus", "ClientIPClass", "EdgeColoCode",
        "EdgeResponseBytes", "JA3Hash", "OriginIP", "OriginResponseStatus", "SecurityAction",
        "SecurityRuleID", "WAFAttackScore", "WAFRCEAttackScore", "WAFSQLiAttackScore",
        "WAFXSSAttackScore", "EdgeEndTimestamp", "ClientRequestProtocol",
    )
    unmapped = {name: json.dumps(raw[name]) for name in unmapped_names}
    unmapped["ZoneID"] = json.dumps(ZONE)
    if zone_in_unmapped:
        unmapped["ZoneName"] = json.dumps(raw["ZoneName"])
    return {
        "class_uid": 4002, "class_name": "HTTP Activity", "category_uid": 4,
        "category_name": "Network Activity", "activity_id": 3, "activity_name": "Get",
        "type_uid": 400203, "type_name": "HTTP Activity: Get", "severity_id": 1,
        "severity": "Informational", "time": 1_763_800_000_000 + n, "status_id": 1,
        "status": "Success", "action_id": 1, "action": "Allowed", "disposition_id": 1,
        "metadata": {"version": "1.3.0", "uid": ray, "log_name": "http_requests",
                     "product": {"name": "Cloudflare Logpull", "vendor_name": "Cloudflare"}},
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT}},
        "src_endpoint": {"ip": ip, "port": raw["ClientSrcPort"],
                         "location": {"country": country, "city": None},
                         "autonomous_system": {"number": asn, "name": None}},
        "http_request": {"http_method": "GET", "user_agent": ua,
                         "referrer": raw["ClientRequestReferer"],
                         "url": {"hostname": host, "path": path, "query_string": "q=1",
                                 "scheme": "https", "url_string": f"https://{host}{path}?q=1"}},
        "http_response": {"code": 200},
        "raw_data": json.dumps(raw),
        "unmapped": unmapped,
        "enrichments": [],
    }


def threat_file(rng: random.Random, directory: str, n: int) -> str:
    """A list file of ``n`` CIDRs (80 % IPv4), with comments."""
    path = os.path.join(directory, "threats.txt")
    with open(path, "w", encoding="utf-8") as out:
        out.write("# benchmark threat list\n")
        for i in range(n):
            if i % 5 == 0:
                bits = rng.choice((32, 48))
                out.write(f"2a0{rng.randint(1, 9)}:{rng.getrandbits(16):x}::/{bits}\n")
            else:
                prefix = rng.choice((32, 24, 20, 16))
                out.write(f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0"
                          f"/{prefix}  # feed {i % 7}\n")
    return path


def roster_with_users(n: int) -> Roster:
    """A roster with ``n`` members."""
    roster = Roster()
    for i in range(n):
        roster.apply_member(f"{ACCOUNT}/u{i}", {
            "id": f"m{i}", "email": f"user{i}@example.com", "status": "accepted",
            "roles": [{"name": "Administrator"}],
            "user": {"id": f"u{i}", "two_factor_authentication_enabled": i % 2 == 0}})
    return roster


def timed(
    step: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]], repeat: int
) -> float:
    """Best events/s of ``repeat`` passes of ``step`` over fresh copies of ``records``."""
    best = float("inf")
    for _ in range(repeat):
        batch = [copy_json(r) for r in records]
        start = time.perf_counter()
        for record in batch:
            step(record)
        best = min(best, time.perf_counter() - start)
    return len(records) / best


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cidrs", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(20261122)
    uas, ips = user_agents(rng, 400), client_ips(rng, 20_000)
    picks = [(zipf_pick(rng, ips), zipf_pick(rng, uas)) for _ in range(args.events)]
    records = [http_record(rng, n, ip, ua, zone_in_unmapped=True)
               for n, (ip, ua) in enumerate(picks)]
    raw_zone = [http_record(rng, n, ip, ua, zone_in_unmapped=False)
                for n, (ip, ua) in enumerate(picks)]
    with tempfile.TemporaryDirectory() as tmp:
        threats = ThreatList(threat_file(rng, tmp, args.cidrs), name="bench")
        print(f"# enrich_bench: {args.events} events, {len(uas)} user agents, {len(ips)} IPs, "
              f"{threats.size} CIDRs; Python {platform.python_version()} on {platform.machine()}",
              file=sys.stderr)

        def make() -> Enricher:
            return Enricher(
                names=NameBook({ACCOUNT: "Production"}, {ZONE: "example.com"}),
                roster=roster_with_users(500),
                user_agents=UserAgentParser(),
                threat_lists=[threats],
            )

        cold = make()
        start = time.perf_counter()
        for record in [copy_json(r) for r in records]:
            cold.enrich(record)
        cold_rate = len(records) / (time.perf_counter() - start)
        enricher = make()
        enricher.enrich(copy_json(records[0]))
        rows: list[tuple[str, float]] = [
            ("default enricher (warm caches)", timed(enricher.enrich, records, args.repeat)),
            ("default enricher, ZoneName only in raw_data", timed(enricher.enrich, raw_zone,
                                                                 args.repeat)),
            ("default enricher, cold caches (one pass)", cold_rate),
        ]
        steps: list[tuple[str, Callable[[dict[str, Any], RawView], None]]] = [
            ("names only", enricher.names or (lambda r, v: None)),
            ("roster only (4002 has no user)", enricher.roster or (lambda r, v: None)),
            ("user agent only", enricher.user_agents or (lambda r, v: None)),
            ("IP classification only", IpClassifier()),
            ("threat list only", threats),
        ]
        for label, step in steps:
            rows.append((label, timed(lambda r, s=step: s(r, RawView(r)), records, args.repeat)))
        rows.append(("copy_json of the record (reference)", timed(copy_json, records, args.repeat)))
        print("| path | events/s | µs/event |")
        print("|---|---:|---:|")
        for label, rate in rows:
            print(f"| {label} | {rate:,.0f} | {1e6 / rate:.1f} |")
        if enricher.user_agents is not None:
            print(f"\nuser-agent cache: {enricher.user_agents.cache_info()}", file=sys.stderr)


if __name__ == "__main__":
    main()
