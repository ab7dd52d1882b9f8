"""OCSF 1.3 Detection Finding (class 2004) records built by the alert rules.

A finding's uid is a hash of the rule, the subject and the evidence event ids, so the same
events always give the same finding (a replay produces duplicates that a downstream dedup on
``metadata.uid`` drops). ``finding_info.related_events`` lists the evidence events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.enrich.record import copy_json, dumps, get_path

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
CATEGORY_NAME = "Findings"
ACTIVITY_CREATE = (1, "Create")
PRODUCT = {"name": "cfkafka alerts", "vendor_name": "cfkafka"}
LOG_NAME = "alerts"
SEVERITIES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
# Event fields copied into ``evidences[0]`` (OCSF Evidence Artifacts) when present.
_EVIDENCE_FIELDS = ("actor", "api", "src_endpoint", "http_request", "user", "resources")

Finding = dict[str, Any]
Event = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One event an alert points to (an OCSF ``related_event``)."""

    uid: str
    time: int
    type_uid: int | None = None
    type_name: str | None = None

    @classmethod
    def of(cls, event: Event, fallback_time: int) -> Evidence:
        """The evidence reference for ``event``."""
        return cls(
            uid=event_uid(event) or "",
            time=event_time(event, fallback_time),
            type_uid=_int(event.get("type_uid")),
            type_name=_type_name(event),
        )

    def to_state(self) -> list[Any]:
        """A compact JSON-serialisable form for rule state."""
        return [self.time, self.uid, self.type_uid, self.type_name]

    @classmethod
    def from_state(cls, item: Sequence[Any]) -> Evidence:
        """Inverse of :meth:`to_state` (tolerates lists that lost trailing items)."""
        padded = [*item, None, None, None, None][:4]
        return cls(
            uid=str(padded[1]), time=int(padded[0]), type_uid=_int(padded[2]), type_name=padded[3]
        )

    def to_ocsf(self) -> dict[str, Any]:
        """The OCSF ``related_event`` object."""
        related: dict[str, Any] = {"uid": self.uid, "time": self.time}
        if self.type_uid is not None:
            related["type_uid"] = self.type_uid
        if self.type_name:
            related["type_name"] = self.type_name
        return related


@dataclass(frozen=True, slots=True)
class Analytic:
    """A rule's identity as OCSF ``finding_info.analytic`` (type Rule)."""

    uid: str
    name: str

    def to_ocsf(self) -> dict[str, Any]:
        """The OCSF ``analytic`` object."""
        return {"uid": self.uid, "name": self.name, "type": "Rule", "type_id": 1}


@dataclass(frozen=True, slots=True)
class Attack:
    """A MITRE ATT&CK technique and tactic (OCSF ``attack``)."""

    technique_uid: str
    technique_name: str
    tactic_uid: str
    tactic_name: str

    def to_ocsf(self) -> dict[str, Any]:
        """The OCSF ``attack`` object."""
        return {
            "technique": {"uid": self.technique_uid, "name": self.technique_name},
            "tactic": {"uid": self.tactic_uid, "name": self.tactic_name},
        }


def event_uid(event: Event) -> str | None:
    """``metadata.uid``: the event id (the dedup key)."""
    uid = get_path(event, "metadata", "uid")
    return uid if isinstance(uid, str) and uid else None


def event_time(event: Event, fallback: int) -> int:
    """The event's ``time`` (epoch ms), or ``fallback`` when missing."""
    value = event.get("time")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return int(value)
    return fallback


def finding_uid(rule_uid: str, subject: str, evidence_uids: Sequence[str]) -> str:
    """Deterministic finding id: sha256 over rule, subject and evidence ids (32 hex)."""
    digest = hashlib.sha256()
    for part in (rule_uid, subject, *evidence_uids):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def build_finding(
    *,
    analytic: Analytic,
    subject: str,
    title: str,
    desc: str,
    types: Sequence[str],
    severity_id: int,
    evidence: Sequence[Evidence],
    trigger: Event,
    now_ms: int,
    max_related: int,
    attacks: Sequence[Attack] = (),
    extra: Mapping[str, Any] | None = None,
) -> Finding:
    """A Detection Finding for ``evidence``, the last of which (``trigger``) fired the rule.

    ``time`` is the trigger's event time, so replays give equal findings; ``created_time``
    is ``now_ms``. ``unmapped`` carries ``subject``, ``count`` and any ``extra`` (values
    JSON-encoded, as in the normalizer's records).
    """
    ordered = sorted(evidence, key=lambda e: (e.time, e.uid))
    uid = finding_uid(analytic.uid, subject, [e.uid for e in ordered])
    related = ordered[-max_related:]
    activity_id, activity_name = ACTIVITY_CREATE
    info: dict[str, Any] = {
        "uid": uid,
        "title": title,
        "desc": desc,
        "types": list(types),
        "analytic": analytic.to_ocsf(),
        "related_events": [e.to_ocsf() for e in related],
        "created_time": now_ms,
    }
    if ordered:
        info["first_seen_time"] = ordered[0].time
        info["last_seen_time"] = ordered[-1].time
    if attacks:
        info["attacks"] = [a.to_ocsf() for a in attacks]
    unmapped = {"subject": dumps(subject), "count": dumps(len(ordered))}
    for key, value in (extra or {}).items():
        unmapped[key] = dumps(value)
    finding: Finding = {
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"{CLASS_NAME}: {activity_name}",
        "severity_id": severity_id,
        "severity": SEVERITIES.get(severity_id, "Other"),
        "status_id": 1,
        "status": "New",
        "time": event_time(trigger, now_ms),
        "message": title,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": uid,
            "log_name": LOG_NAME,
            "product": dict(PRODUCT),
        },
        "finding_info": info,
        "unmapped": unmapped,
    }
    cloud = trigger.get("cloud")
    if isinstance(cloud, Mapping):
        finding["cloud"] = copy_json(dict(cloud))
    evidences = {
        field: copy_json(trigger[field])
        for field in _EVIDENCE_FIELDS
        if trigger.get(field) not in (None, {}, [])
    }
    if evidences:
        finding["evidences"] = [evidences]
    return finding


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _type_name(event: Event) -> str | None:
    name = event.get("type_name")
    if isinstance(name, str) and name:
        return name
    class_name, activity = event.get("class_name"), event.get("activity_name")
    if isinstance(class_name, str) and isinstance(activity, str):
        return f"{class_name}: {activity}"
    return None
