"""The rule contract (a pure state machine per subject) and the sliding-window counter.

A rule never keeps state itself. For each event it names a ``subject`` (the state key,
e.g. ``user:alice@example.com``) and ``step`` turns (that subject's state, the event, the
processing time) into (new state, findings). State is a small JSON-serialisable dict (or
None = nothing to keep), so it can live in a changelog-backed table keyed by rule and subject; it is
bounded (windows trimmed, sets capped), and ``expires_at`` tells a sweeper when it can go.

Windows run on event time (``time``), not on processing time, so a replay or a backfill
gives the same findings as the live run did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from streams.enrich.record import get_path

from .findings import Event, Evidence, Finding

State = dict[str, Any]
"""A rule's state for one subject: JSON-serialisable (dicts, lists, str, int, bool, None)."""

STATE_VERSION = 1


class Rule(Protocol):
    """An alert rule: a pure state machine keyed by subject."""

    @property
    def uid(self) -> str:
        """Stable rule id (``finding_info.analytic.uid``; the state-key prefix)."""
        ...

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        ...

    def subject(self, event: Event) -> str | None:
        """The state key this event belongs to, or None when the rule ignores the event."""
        ...

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """Fold ``event`` into ``state``; return the new state (None = delete) and findings."""
        ...

    def expires_at(self, state: State) -> int | None:
        """Event time (epoch ms) after which ``state`` carries no information (None: never)."""
        ...


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What a :func:`count_in_window` step decided."""

    state: State
    fired: tuple[Evidence, ...] = ()


def count_in_window(
    state: State | None, evidence: Evidence, *, threshold: int, window_ms: int
) -> WindowResult:
    """Count ``evidence`` in a sliding event-time window; fire once ``threshold`` is reached.

    State: ``{"v", "events": [[time, uid, type_uid, type_name], ...], "last", "quiet_until"}``
    with at most ``threshold`` events (older ones cannot change the decision). When the
    window holds ``threshold`` events the rule fires with them as evidence, forgets them and
    stays quiet for one window length, so a sustained attack alerts once per window, not
    on every further event. Events older than the newest seen minus the window, and event
    ids already counted, are ignored.
    """
    events: list[Evidence] = []
    quiet_until = 0
    last = evidence.time
    if state:
        events = [Evidence.from_state(item) for item in state.get("events", ())]
        quiet_until = int(state.get("quiet_until", 0))
        last = max(int(state.get("last", evidence.time)), evidence.time)
    horizon = last - window_ms
    if evidence.time < horizon or any(e.uid == evidence.uid for e in events):
        return WindowResult(_window_state(events, last, quiet_until, horizon, threshold))
    events.append(evidence)
    new_events = _trim(events, horizon, threshold)
    if len(new_events) >= threshold and last >= quiet_until:
        return WindowResult(
            _window_state([], last, last + window_ms, horizon, threshold), tuple(new_events)
        )
    return WindowResult(_window_state(new_events, last, quiet_until, horizon, threshold))


def _trim(events: list[Evidence], horizon: int, cap: int) -> list[Evidence]:
    kept = sorted((e for e in events if e.time >= horizon), key=lambda e: (e.time, e.uid))
    return kept[-cap:]


def _window_state(
    events: list[Evidence], last: int, quiet_until: int, horizon: int, cap: int
) -> State:
    return {
        "v": STATE_VERSION,
        "events": [e.to_state() for e in _trim(events, horizon, cap)],
        "last": last,
        "quiet_until": quiet_until,
    }


def window_expires_at(state: State, window_ms: int) -> int:
    """When a :func:`count_in_window` state is spent: its window and quiet time are over."""
    return max(int(state.get("last", 0)) + window_ms, int(state.get("quiet_until", 0)))


def user_email(event: Mapping[str, Any]) -> str | None:
    """The lower-cased email of ``user`` (3002/5003), else of ``actor.user``."""
    for path in (("user", "email_addr"), ("actor", "user", "email_addr")):
        email = get_path(event, *path)
        if isinstance(email, str) and email.strip():
            return email.strip().lower()
    return None


def src_ip(event: Mapping[str, Any]) -> str | None:
    """``src_endpoint.ip`` when present."""
    ip = get_path(event, "src_endpoint", "ip")
    return ip.strip() if isinstance(ip, str) and ip.strip() else None


def account_uid(event: Mapping[str, Any]) -> str | None:
    """``cloud.account.uid`` when present."""
    uid = get_path(event, "cloud", "account", "uid")
    return uid if isinstance(uid, str) and uid else None


def int_field(event: Mapping[str, Any], name: str) -> int | None:
    """An integer top-level field (``class_uid``, ``status_id``, ...), else None."""
    value = event.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
