"""Pure: which SIEM topic an OCSF event goes to, and whether a sampled route keeps it.

Routes are by OCSF class (its Avro schema): Authentication, API Activity, HTTP Activity,
Detection Finding and User Inventory each have one ``siem.<route>.v1`` topic. Sampling is
per route and deterministic by Kafka key (a replay, or another worker, keeps the same
events); security-relevant events are never sampled away.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .ocsf.security_actions import action_id as security_action_id


@dataclass(frozen=True)
class Dataset:
    """A raw topic the worker consumes and the table it deduplicates it with.

    Event datasets are deduplicated by Kafka key (``<name>-seen``: key -> first-seen epoch
    seconds). Roster datasets (compacted current state) keep the digest of the last state
    published per user (``<name>-state``) and drop only repeats of that state.
    """

    name: str
    roster: bool = False
    #: the record field that holds the dedup key when a message has no Kafka key
    id_field: str | None = None

    @property
    def topic(self) -> str:
        """``cloudflare.<name>.v1``."""
        return f"cloudflare.{self.name}.v1"

    @property
    def table(self) -> str:
        """The dedup table: ``<name>-seen`` (events) or ``<name>-state`` (rosters)."""
        return f"{self.name}-{'state' if self.roster else 'seen'}"


DATASETS: tuple[Dataset, ...] = (
    Dataset("audit_logs", id_field="id"),
    Dataset("audit_logs_v2", id_field="id"),
    Dataset("access_requests"),
    Dataset("http_requests"),
    Dataset("firewall_events"),
    Dataset("members", roster=True),
    Dataset("access_users", roster=True),
)
DATASET: Mapping[str, Dataset] = {d.name: d for d in DATASETS}


@dataclass(frozen=True)
class Route:
    """OCSF events of ``schema`` are written to ``topic`` (subject ``<topic>-value``)."""

    name: str
    topic: str
    schema: str

    @property
    def env(self) -> str:
        """The route's name in settings: ``STREAMS_MASK_<env>``, ``STREAMS_SAMPLE_<env>``."""
        return self.name.upper()


ROUTES: tuple[Route, ...] = (
    Route("authentication", "siem.authentication.v1", "ocsf.authentication"),
    Route("api_activity", "siem.api_activity.v1", "ocsf.api_activity"),
    Route("http_activity", "siem.http_activity.v1", "ocsf.http_activity"),
    Route("detection_finding", "siem.detection_finding.v1", "ocsf.detection_finding"),
    Route("inventory", "siem.inventory.v1", "ocsf.user_inventory"),
)
BY_SCHEMA: Mapping[str, Route] = {r.schema: r for r in ROUTES}
BY_NAME: Mapping[str, Route] = {r.name: r for r in ROUTES}
#: the deprecated flattened audit output (``siem.audit.v1``): a route for masking only
LEGACY_AUDIT = Route("audit", "siem.audit.v1", "siem.audit")
#: alert findings (OCSF Detection Finding) from ``streams.alerts``: not a class route
ALERTS = Route("alerts", "siem.alerts.v1", "ocsf.detection_finding")
#: routes that may be sampled (``STREAMS_SAMPLE_<ROUTE>``)
SAMPLED_ROUTES: tuple[str, ...] = ("http_activity",)

#: OCSF dispositions of a request Cloudflare stopped: Blocked, Dropped, Captcha, Challenge
DENIED_DISPOSITIONS = frozenset({2, 6, 22, 23})
#: WAF attack scores at or below this are likely attacks (1-99; 0 or absent: not scored)
WAF_ATTACK_SCORE_MAX = 50

_SCALE = float(2**64)


def route_for(schema: str) -> Route:
    """The route of an OCSF class schema (``KeyError`` for a schema without one)."""
    return BY_SCHEMA[schema]


def sample_point(key: bytes) -> float:
    """A uniform number in [0, 1) from ``key`` alone (blake2b): same key, same point."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def in_sample(key: bytes, rate: float) -> bool:
    """Whether ``key`` is in a deterministic sample of ``rate`` (in (0, 1]) of all keys."""
    return rate >= 1.0 or sample_point(key) < rate


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _score(value: Any) -> int | None:
    try:
        return int(_json(value))
    except (TypeError, ValueError):
        return None


def security_relevant(record: Mapping[str, Any]) -> bool:
    """An OCSF HTTP Activity record Cloudflare's security acted on or flagged.

    True when the request was denied (blocked, challenged, dropped: ``action_id`` 2 or a
    denying disposition, also any of ``SecurityActions``), a security rule matched
    (``firewall_rule.uid``, ``SecurityRuleIDs``) or the WAF attack score is 1..50.
    """
    if record.get("action_id") == 2 or record.get("disposition_id") in DENIED_DISPOSITIONS:
        return True
    if (record.get("firewall_rule") or {}).get("uid"):
        return True
    unmapped = record.get("unmapped") or {}
    score = _score(unmapped.get("WAFAttackScore"))
    if score is not None and 0 < score <= WAF_ATTACK_SCORE_MAX:
        return True
    if _json(unmapped.get("SecurityRuleIDs")):
        return True
    actions = _json(unmapped.get("SecurityActions"))
    return isinstance(actions, list) and any(
        isinstance(a, str) and security_action_id(a) == 2 for a in actions
    )


def keep(route: str, key: bytes, record: Mapping[str, Any], rates: Mapping[str, float]) -> bool:
    """Whether a sampled ``route`` keeps the event: in the key's sample, or security-relevant."""
    rate = rates.get(route, 1.0)
    return in_sample(key, rate) or security_relevant(record)
