"""Audit-log rules: sensitive credential/membership changes, DNS record deletion bursts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.enrich.record import RawView, get_str, log_name

from .base import (
    State,
    account_uid,
    count_in_window,
    int_field,
    user_email,
    window_expires_at,
)
from .config import AlertConfig
from .findings import Analytic, Attack, Event, Evidence, Finding, build_finding
from .roles import first_email, new_and_old_parts, role_names

API_ACTIVITY = 6003
CREATE, UPDATE, DELETE = 1, 3, 4
FAILURE = 2
AUDIT_LOGS = frozenset({"audit_logs", "audit_logs_v2"})
ACCOUNT_MANIPULATION = Attack("T1098", "Account Manipulation", "TA0003", "Persistence")
UNSECURED_CREDENTIALS = Attack("T1552", "Unsecured Credentials", "TA0006", "Credential Access")
DATA_DESTRUCTION = Attack("T1485", "Data Destruction", "TA0040", "Impact")


@dataclass(frozen=True, slots=True)
class _Kind:
    uid: str
    name: str
    title: str
    severity_id: int
    attack: Attack


TOKEN_CREATED = _Kind(
    "cfkafka.audit.api_token_created",
    "API token created",
    "API token created",
    3,
    ACCOUNT_MANIPULATION,
)
API_KEY_VIEWED = _Kind(
    "cfkafka.audit.global_api_key_viewed",
    "Global API key viewed",
    "Global API key viewed",
    4,
    UNSECURED_CREDENTIALS,
)
API_KEY_ROTATED = _Kind(
    "cfkafka.audit.global_api_key_rotated",
    "Global API key rotated",
    "Global API key rotated",
    4,
    ACCOUNT_MANIPULATION,
)
ADMIN_MEMBER = _Kind(
    "cfkafka.audit.admin_member_added",
    "Member added with an administrator role",
    "Member given an administrator role",
    4,
    ACCOUNT_MANIPULATION,
)
#: audit v1 ``action.type`` (lower-cased) -> kind.
_V1_ACTIONS = {
    "token_create": TOKEN_CREATED,
    "api_key_view": API_KEY_VIEWED,
    "rotate_api_key": API_KEY_ROTATED,
}


@dataclass(frozen=True, slots=True)
class SensitiveChange:
    """(3) API token created, global API key viewed or rotated, administrator member added.

    Input: API Activity (6003) events from ``audit_logs`` / ``audit_logs_v2`` that did not
    fail. v1 is recognised by ``api.operation`` (``token_create``, ``API_key_view``,
    ``rotate_API_key``); v2 by the operation (``create``/``view``/``update``) on a token or
    API-key resource type. Member changes (resource type member, or a v1 action naming a
    member) alert when the new roles in ``raw_data`` include an administrator role that the
    old value (when known) did not. Stateless: every matching event gives one finding.
    Subject: ``account:<id>``.
    """

    config: AlertConfig = AlertConfig()

    @property
    def uid(self) -> str:
        """``cfkafka.audit.sensitive_change`` (findings carry a per-kind analytic uid)."""
        return "cfkafka.audit.sensitive_change"

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        return "Sensitive credential or membership change"

    def subject(self, event: Event) -> str | None:
        """``account:<id>`` (``account:-`` when unknown) for sensitive changes, else None."""
        if (
            int_field(event, "class_uid") != API_ACTIVITY
            or int_field(event, "status_id") == FAILURE
            or log_name(event) not in AUDIT_LOGS
            or get_str(event, "api", "operation") is None
            or self._classify(event) is None
        ):
            return None
        return f"account:{account_uid(event) or '-'}"

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """One finding when the event is a sensitive change; no state is kept."""
        subject = self.subject(event)
        if subject is None:
            return None, []
        evidence = Evidence.of(event, now_ms)
        if not evidence.uid:
            return None, []
        found = self._classify(event)
        if found is None:
            return None, []
        kind, extra = found
        actor = user_email(event) or "an unknown actor"
        account = get_str(event, "cloud", "account", "name") or subject.partition(":")[2]
        details = ", ".join(f"{key} {value}" for key, value in sorted(extra.items()) if value)
        finding = build_finding(
            analytic=Analytic(kind.uid, kind.name),
            subject=subject,
            title=f"{kind.title} by {actor}",
            desc=f"{kind.name} in account {account} by {actor}"
            + (f" ({details})." if details else "."),
            types=[kind.name],
            severity_id=kind.severity_id,
            evidence=[evidence],
            trigger=event,
            now_ms=now_ms,
            max_related=self.config.max_related_events,
            attacks=[kind.attack],
            extra={"kind": kind.uid.rpartition(".")[2], **extra},
        )
        return None, [finding]

    def expires_at(self, state: State) -> int | None:
        """Stateless: nothing to expire."""
        return 0

    def _classify(self, event: Event) -> tuple[_Kind, dict[str, Any]] | None:
        operation = (get_str(event, "api", "operation") or "").lower()
        types = _resource_types(event)
        service = (get_str(event, "api", "service", "name") or "").lower()
        if service:
            types.add(service)
        kind = _V1_ACTIONS.get(operation)
        if kind is None and log_name(event) == "audit_logs_v2":
            if operation == "create" and types & self.config.token_types:
                kind = TOKEN_CREATED
            elif operation == "view" and types & self.config.api_key_types:
                kind = API_KEY_VIEWED
            elif operation in ("update", "create") and types & self.config.api_key_types:
                kind = API_KEY_ROTATED
        if kind is not None:
            return kind, {}
        is_member = bool(types & self.config.member_types) or "member" in operation
        if is_member and int_field(event, "activity_id") in (CREATE, UPDATE):
            return self._admin_grant(event)
        return None

    def _admin_grant(self, event: Event) -> tuple[_Kind, dict[str, Any]] | None:
        raw = RawView(event).data
        new_parts, old_parts = new_and_old_parts(raw)
        admins = self.config.admin_roles
        new_admin = sorted(r for r in role_names(*new_parts) if r.lower() in admins)
        if not new_admin:
            return None
        if any(r.lower() in admins for r in role_names(*old_parts)):
            return None  # already an administrator: not a grant
        member = first_email(*new_parts)
        return ADMIN_MEMBER, {"roles": new_admin, "member_email": member}


@dataclass(frozen=True, slots=True)
class DnsDeleteBurst:
    """(4) ``threshold`` DNS record deletions in one account within a window.

    Input: API Activity (6003) Delete events (not failed) with a resource of a DNS record
    type (``DNS_record`` in v1; ``dns_records`` in v2). Subject: ``account:<id>``.
    """

    config: AlertConfig = AlertConfig()

    @property
    def uid(self) -> str:
        """``cfkafka.audit.dns_delete_burst``."""
        return "cfkafka.audit.dns_delete_burst"

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        return "Burst of DNS record deletions"

    def subject(self, event: Event) -> str | None:
        """``account:<id>`` for successful DNS record deletions, else None."""
        if (
            int_field(event, "class_uid") != API_ACTIVITY
            or int_field(event, "activity_id") != DELETE
            or int_field(event, "status_id") == FAILURE
            or not _resource_types(event) & self.config.dns_record_types
        ):
            return None
        account = account_uid(event)
        return f"account:{account}" if account else None

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """Count the deletion; fire once per window when the threshold is reached."""
        subject = self.subject(event)
        if subject is None:
            return state, []
        evidence = Evidence.of(event, now_ms)
        if not evidence.uid:
            return state, []
        result = count_in_window(
            state,
            evidence,
            threshold=self.config.dns_delete_threshold,
            window_ms=self.config.dns_delete_window_s * 1000,
        )
        if not result.fired:
            return result.state, []
        account = get_str(event, "cloud", "account", "name") or subject.partition(":")[2]
        count, window_s = len(result.fired), self.config.dns_delete_window_s
        finding = build_finding(
            analytic=Analytic(self.uid, self.name),
            subject=subject,
            title=f"{count} DNS records deleted in account {account} within {window_s} s",
            desc=(
                f"{count} DNS record deletions in account {account} within {window_s} seconds "
                f"(threshold {self.config.dns_delete_threshold})."
            ),
            types=["Data Destruction"],
            severity_id=4,
            evidence=result.fired,
            trigger=event,
            now_ms=now_ms,
            max_related=self.config.max_related_events,
            attacks=[DATA_DESTRUCTION],
            extra={"threshold": self.config.dns_delete_threshold, "window_s": window_s},
        )
        return result.state, [finding]

    def expires_at(self, state: State) -> int | None:
        """When the window and the quiet period are over."""
        return window_expires_at(state, self.config.dns_delete_window_s * 1000)


def _resource_types(event: Mapping[str, Any]) -> set[str]:
    resources = event.get("resources")
    types: set[str] = set()
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, Mapping):
                kind = resource.get("type")
                if isinstance(kind, str) and kind:
                    types.add(kind.lower())
    return types
