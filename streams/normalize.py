"""Pure: one decoded Cloudflare audit log -> one flattened OCSF event (``siem.audit.avsc``).

Login/logout actions become OCSF Authentication (3002); every other action becomes
API Activity (6003), with the activity guessed from the verb in ``action.type``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

OCSF_VERSION = "1.3.0"
PRODUCT = "Cloudflare Audit Logs"

API_ACTIVITY = (6003, "API Activity", 6)  # class_uid, class_name, category_uid
AUTHENTICATION = (3002, "Authentication", 3)

# OCSF API Activity activity ids, chosen by the verbs in Cloudflare's action.type.
_API_VERBS: tuple[tuple[int, str, frozenset[str]], ...] = (
    (1, "Create", frozenset({"create", "add", "insert", "register", "invite", "enable"})),
    (4, "Delete", frozenset({"delete", "remove", "revoke", "disable", "purge", "destroy"})),
    (3, "Update", frozenset({"update", "change", "edit", "modify", "set", "rotate", "roll"})),
    (2, "Read", frozenset({"read", "get", "view", "list", "download", "export"})),
)
_AUTH_ACTIVITIES = {"login": (1, "Logon"), "logout": (2, "Logoff")}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


class NormalizeError(ValueError):
    """A decoded record that cannot be mapped (bad ``when``, missing ``id``)."""


def parse_when(text: str) -> datetime:
    """Parse Cloudflare's RFC3339 ``when`` (second or sub-second precision, ``Z`` or offset)."""
    try:
        parsed = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text.strip()))
    except ValueError as exc:
        msg = f"unparseable `when` {text!r}"
        raise NormalizeError(msg) from exc
    if parsed.tzinfo is None:
        msg = f"`when` {text!r} has no UTC offset"
        raise NormalizeError(msg)
    return parsed.astimezone(UTC)


def epoch_millis(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (exact integer arithmetic)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def account_from_scope(scope: str | None) -> str | None:
    """``account:<id>`` -> ``<id>``; anything else -> None."""
    if scope and scope.startswith("account:"):
        return scope.removeprefix("account:") or None
    return None


def classify(action_type: str | None) -> tuple[int, str, int, int, str]:
    """Return ``(class_uid, class_name, category_uid, activity_id, activity_name)``."""
    if not action_type:
        return (*API_ACTIVITY, 0, "Unknown")
    words = set(re.split(r"[^a-z]+", action_type.lower())) - {""}
    for word, (activity_id, activity_name) in _AUTH_ACTIVITIES.items():
        if word in words:
            return (*AUTHENTICATION, activity_id, activity_name)
    for activity_id, activity_name, verbs in _API_VERBS:
        if words & verbs:
            return (*API_ACTIVITY, activity_id, activity_name)
    return (*API_ACTIVITY, 99, "Other")


def _status(result: bool | None) -> tuple[str, int]:
    if result is None:
        return "Unknown", 0
    return ("Success", 1) if result else ("Failure", 2)


def _unmapped(raw: Mapping[str, Any], scope: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    action = raw.get("action") or {}
    if action.get("info") is not None:
        out["action.info"] = str(action["info"])
    for name in ("newValue", "oldValue", "newValueJson", "oldValueJson"):
        if raw.get(name) is not None:
            out[name] = str(raw[name])
    owner = raw.get("owner") or {}
    if owner.get("id") is not None:
        out["owner.id"] = str(owner["id"])
    for key, value in (raw.get("metadata") or {}).items():
        out[f"metadata.{key}"] = str(value)
    for key, value in (raw.get("extra") or {}).items():
        out[f"extra.{key}"] = str(value)
    if scope and account_from_scope(scope) is None:
        out["cf.scope"] = scope
    return out


def normalize(raw: Mapping[str, Any], scope: str | None = None) -> dict[str, Any]:
    """Map one decoded ``cloudflare.audit_logs`` record to a ``siem.audit`` record.

    ``scope`` is the raw record's ``cf.scope`` header (``account:<id>``), if any.
    Raises ``NormalizeError`` when the record cannot be mapped.
    """
    event_id = raw.get("id")
    if not event_id:
        msg = "record has no `id`"
        raise NormalizeError(msg)
    when = raw.get("when")
    if not isinstance(when, str):
        msg = "record has no `when`"
        raise NormalizeError(msg)
    action = raw.get("action") or {}
    actor = raw.get("actor") or {}
    resource = raw.get("resource") or {}
    class_uid, class_name, category_uid, activity_id, activity_name = classify(action.get("type"))
    status, status_id = _status(action.get("result"))
    return {
        "event_id": str(event_id),
        "time": epoch_millis(parse_when(when)),
        "time_raw": when,
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": 2 if status_id == 2 else 1,
        "status": status,
        "status_id": status_id,
        "api_operation": action.get("type"),
        "actor_user_uid": actor.get("id"),
        "actor_user_email": actor.get("email"),
        "actor_type": actor.get("type"),
        "src_ip": actor.get("ip"),
        "resource_uid": resource.get("id"),
        "resource_type": resource.get("type"),
        "account_uid": account_from_scope(scope),
        "interface": raw.get("interface"),
        "metadata_product": PRODUCT,
        "metadata_version": OCSF_VERSION,
        "raw_data": json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str),
        "unmapped": _unmapped(raw, scope),
    }
