"""Hand-built OCSF records (the normalizer's contract) for the enrichment tests."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
T0 = 1_763_800_000_000
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def http_record(*, ip: str = "198.51.100.7", ua: str = CHROME, zone_in_unmapped: bool = True,
                country: str | None = "DE", asn: int | None = 3320) -> dict[str, Any]:
    """A Logpull request (4002)."""
    raw = {"RayID": "8f1e2d3c4b5a6978", "ClientIP": ip, "ClientRequestUserAgent": ua,
           "ZoneName": "example.com", "ClientIPClass": "clean"}
    unmapped = {"ClientIPClass": json.dumps("clean"), "WAFAttackScore": "80",
                "ZoneID": json.dumps(ZONE)}
    if zone_in_unmapped:
        unmapped["ZoneName"] = json.dumps("example.com")
    return {
        "class_uid": 4002, "class_name": "HTTP Activity", "activity_id": 3, "type_uid": 400203,
        "time": T0, "status_id": 1,
        "metadata": {"version": "1.3.0", "uid": "8f1e2d3c4b5a6978", "log_name": "http_requests",
                     "product": {"name": "Cloudflare Logpull", "vendor_name": "Cloudflare"}},
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT}},
        "src_endpoint": {"ip": ip, "port": 51234,
                         "location": {"country": country, "city": None},
                         "autonomous_system": {"number": asn, "name": None}},
        "http_request": {"http_method": "GET", "user_agent": ua,
                         "url": {"hostname": "www.example.com", "path": "/"}},
        "http_response": {"code": 200},
        "raw_data": json.dumps(raw),
        "unmapped": unmapped,
        "enrichments": [],
    }


def audit_v2_record(*, email: str = "alice@example.com") -> dict[str, Any]:
    """An audit v2 DNS update (6003) whose raw record names the account and zone."""
    raw = {"id": "a2", "account": {"id": ACCOUNT, "name": "Example Corp"},
           "action": {"type": "update", "result": "success"},
           "actor": {"email": email, "ip_address": "203.0.113.20"},
           "raw": {"user_agent": "curl/8.7.1"},
           "resource": {"id": "rec1", "type": "dns_records"},
           "zone": {"id": ZONE, "name": "example.com"}}
    return {
        "class_uid": 6003, "activity_id": 3, "time": T0, "status_id": 1,
        "metadata": {"version": "1.3.0", "uid": "a2", "log_name": "audit_logs_v2"},
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT, "name": "Example Corp"}},
        "actor": {"user": {"email_addr": email, "uid": "u1", "name": None, "type": "user"}},
        "src_endpoint": {"ip": "203.0.113.20"},
        "api": {"operation": "update", "service": {"name": "dns_records"}},
        "resources": [{"type": "dns_records", "uid": "rec1", "name": None},
                      {"type": "zone", "uid": ZONE, "name": None}],
        "http_request": {"user_agent": "curl/8.7.1"},
        "raw_data": json.dumps(raw),
        "unmapped": {},
        "enrichments": [],
    }


def audit_v1_record() -> dict[str, Any]:
    """An audit v1 purge on a zone (6003): zone id in resource, name in metadata."""
    raw = {"id": "a1", "action": {"type": "purge", "result": True},
           "actor": {"email": "bob@example.com", "ip": "10.1.2.3"},
           "metadata": {"zone_name": "example.net"},
           "resource": {"id": "9" * 32, "type": "zone"}, "when": "2026-11-22T10:00:00Z"}
    return {
        "class_uid": 6003, "activity_id": 4, "time": T0,
        "metadata": {"version": "1.3.0", "uid": "a1", "log_name": "audit_logs"},
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT}},
        "actor": {"user": {"email_addr": "bob@example.com"}},
        "src_endpoint": {"ip": "10.1.2.3"},
        "api": {"operation": "purge"},
        "resources": [{"type": "zone", "uid": "9" * 32, "name": None}],
        "raw_data": json.dumps(raw),
        "unmapped": {},
        "enrichments": [],
    }


def access_login(*, email: str = "Alice@Example.com") -> dict[str, Any]:
    """An Access login (3002)."""
    return {
        "class_uid": 3002, "activity_id": 1, "time": T0, "status_id": 1,
        "metadata": {"version": "1.3.0", "uid": "l1", "log_name": "access_requests"},
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT}},
        "user": {"email_addr": email, "uid": None, "name": None},
        "src_endpoint": {"ip": "2001:db8::5", "location": None},
        "raw_data": json.dumps({"user_email": email, "allowed": True}),
        "unmapped": {},
        "enrichments": [],
    }


def member(email: str = "alice@example.com", roles: tuple[str, ...] = ("Administrator",),
           two_factor: bool = True) -> dict[str, Any]:
    """A raw ``members`` record."""
    return {"id": "m-" + email, "email": email, "status": "accepted",
            "roles": [{"id": "r", "name": r, "description": "", "permissions": {}} for r in roles],
            "policies": [],
            "user": {"id": "u-" + email, "email": email, "first_name": "Alice",
                     "last_name": "Liddell", "two_factor_authentication_enabled": two_factor}}


def access_user(email: str = "alice@example.com", *, seat: bool = True) -> dict[str, Any]:
    """A raw ``access_users`` record."""
    return {"id": "au-" + email, "uid": "au-" + email, "email": email, "name": "Alice L",
            "access_seat": seat, "gateway_seat": False,
            "last_successful_login": "2026-11-20T08:00:00Z", "active_device_count": 1}


def enrichments_by_type(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``enrichments`` keyed by type, with ``data`` decoded."""
    out = {}
    for entry in record["enrichments"]:
        out[entry["type"]] = {**entry, "data": json.loads(entry["data"]) if entry["data"] else None}
    return out
