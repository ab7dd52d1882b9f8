"""Hand-built OCSF records (the normalizer's contract) for the alert rule tests."""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "0123456789abcdef0123456789abcdef"
T0 = 1_763_800_000_000  # epoch ms
MIN = 60_000


def _base(class_uid: int, class_name: str, activity_id: int, activity_name: str, uid: str,
          time: int, log_name: str, status_id: int | None) -> dict[str, Any]:
    return {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": class_uid // 1000,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "severity_id": 1,
        "time": time,
        "status_id": status_id,
        "metadata": {
            "version": "1.3.0",
            "uid": uid,
            "log_name": log_name,
            "product": {"name": "Cloudflare", "vendor_name": "Cloudflare"},
        },
        "cloud": {"provider": "Cloudflare", "account": {"uid": ACCOUNT, "name": "Example Corp"}},
        "unmapped": {},
        "enrichments": [],
    }


def access_login(uid: str, time: int, *, email: str = "alice@example.com",
                 ip: str = "198.51.100.7", country: str | None = "DE", allowed: bool = True,
                 activity_id: int = 1, log_name: str = "access_requests") -> dict[str, Any]:
    """An Access login (3002) as normalized from ``access_requests``."""
    record = _base(3002, "Authentication", activity_id, "Logon" if activity_id == 1 else "Logoff",
                   uid, time, log_name, 1 if allowed else 2)
    record["user"] = {"email_addr": email, "uid": None, "name": None}
    record["src_endpoint"] = {"ip": ip, "port": None,
                              "location": {"country": country, "city": None} if country else None,
                              "autonomous_system": None}
    record["raw_data"] = json.dumps({"action": "login", "allowed": allowed, "user_email": email,
                                     "ip_address": ip, "ray_id": uid[:16], "created_at": "x"})
    return record


def api_activity(uid: str, time: int, *, operation: str, activity_id: int,
                 resources: list[dict[str, Any]] | None = None, status_id: int | None = 1,
                 log_name: str = "audit_logs", raw: dict[str, Any] | None = None,
                 actor: str = "mallory@example.com", account: str = ACCOUNT,
                 service: str | None = None) -> dict[str, Any]:
    """An audit log event (6003 API Activity)."""
    names = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
    record = _base(6003, "API Activity", activity_id, names[activity_id], uid, time, log_name,
                   status_id)
    record["cloud"]["account"]["uid"] = account
    record["actor"] = {"user": {"email_addr": actor, "uid": "u1", "name": None, "type": "user"}}
    record["src_endpoint"] = {"ip": "203.0.113.9"}
    record["api"] = {"operation": operation, "service": {"name": service}}
    record["resources"] = resources or []
    record["raw_data"] = json.dumps(raw or {"id": uid, "action": {"type": operation}})
    return record


def http_request(uid: str, time: int, *, score: int | None = 10, action: str | None = "",
                 ip: str = "192.0.2.44", action_id: int = 1) -> dict[str, Any]:
    """A Logpull request (4002 HTTP Activity) with WAF fields in ``unmapped``."""
    record = _base(4002, "HTTP Activity", 3, "Get", uid, time, "http_requests", 1)
    record["action_id"] = action_id
    record["src_endpoint"] = {"ip": ip, "location": {"country": "US", "city": None}}
    record["http_request"] = {"http_method": "GET", "user_agent": "curl/8.7.1",
                              "url": {"hostname": "www.example.com", "path": "/login",
                                      "query_string": "id=1' or 1=1", "scheme": "https"}}
    record["http_response"] = {"code": 200}
    unmapped: dict[str, str] = {"WAFSQLiAttackScore": "9", "WAFXSSAttackScore": "80"}
    if score is not None:
        unmapped["WAFAttackScore"] = json.dumps(score)
    if action is not None:
        unmapped["SecurityAction"] = json.dumps(action)
    record["unmapped"] = unmapped
    record["raw_data"] = json.dumps({"RayID": uid})
    return record


def roundtrip(state: Any) -> Any:
    """``state`` as a Faust table would give it back (JSON encode + decode)."""
    return None if state is None else json.loads(json.dumps(state))
