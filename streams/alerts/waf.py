"""HTTP rule: a request Cloudflare scored as an attack that was not blocked or challenged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.enrich.record import get_str, unmapped_value

from .base import STATE_VERSION, State, int_field, src_ip
from .config import AlertConfig
from .findings import Analytic, Attack, Event, Evidence, Finding, build_finding

HTTP_ACTIVITY = 4002
ACTION_DENIED = 2
EXPLOIT_PUBLIC_APP = Attack(
    "T1190", "Exploit Public-Facing Application", "TA0001", "Initial Access"
)
_SCORES = (
    ("WAFSQLiAttackScore", "sqli"),
    ("WAFXSSAttackScore", "xss"),
    ("WAFRCEAttackScore", "rce"),
)


def normalize_action(action: str) -> str:
    """``managed_challenge`` / ``managedChallenge`` -> ``managedchallenge``."""
    return action.lower().replace("_", "").replace("-", "").replace(" ", "")


def _score(event: Event, name: str) -> int | None:
    value = unmapped_value(event, name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True, slots=True)
class WafUnmitigatedAttack:
    """(5) An HTTP request with a WAF attack score in the attack range that was let through.

    Input: HTTP Activity (4002) events whose ``unmapped.WAFAttackScore`` lies in
    ``[waf_score_min, waf_score_max]`` (1..20 = attack) and whose ``unmapped.SecurityAction``
    is not a block or challenge variant (without a ``SecurityAction``, an ``action_id`` of 2
    Denied counts as blocked). Subject: ``ip:<client IP>``; one finding per client IP per
    window (later matches within the window are counted in the state, not alerted).
    """

    config: AlertConfig = AlertConfig()

    @property
    def uid(self) -> str:
        """``cfkafka.http.waf_unmitigated_attack``."""
        return "cfkafka.http.waf_unmitigated_attack"

    @property
    def name(self) -> str:
        """Human-readable rule name."""
        return "WAF attack score on a request that was not mitigated"

    def subject(self, event: Event) -> str | None:
        """``ip:<client IP>`` (``event:<id>`` without one) for unmitigated attacks, else None."""
        if int_field(event, "class_uid") != HTTP_ACTIVITY:
            return None
        score = _score(event, "WAFAttackScore")
        if score is None or not self.config.waf_score_min <= score <= self.config.waf_score_max:
            return None
        if self._mitigated(event):
            return None
        ip = src_ip(event)
        if ip:
            return f"ip:{ip}"
        uid = get_str(event, "metadata", "uid")
        return f"event:{uid}" if uid else None

    def _mitigated(self, event: Event) -> bool:
        action = unmapped_value(event, "SecurityAction")
        if isinstance(action, str) and action.strip():
            return normalize_action(action) in self.config.waf_mitigating_actions
        return int_field(event, "action_id") == ACTION_DENIED

    def step(
        self, state: State | None, event: Event, now_ms: int
    ) -> tuple[State | None, list[Finding]]:
        """Alert on the first unmitigated attack of a client IP per window."""
        subject = self.subject(event)
        if subject is None:
            return state, []
        evidence = Evidence.of(event, now_ms)
        if not evidence.uid:
            return state, []
        when = evidence.time
        window_ms = self.config.waf_window_s * 1000
        if state and when < int(state.get("quiet_until", 0)):
            suppressed = int(state.get("suppressed", 0)) + 1
            return {
                **state,
                "suppressed": suppressed,
                "last": max(int(state.get("last", when)), when),
            }, []
        new_state: State = {
            "v": STATE_VERSION,
            "alerted_at": when,
            "quiet_until": when + window_ms,
            "suppressed": 0,
            "last": max(int((state or {}).get("last", when)), when),
        }
        extra: dict[str, Any] = {"waf_attack_score": _score(event, "WAFAttackScore")}
        for field, short in _SCORES:
            score = _score(event, field)
            if score is not None:
                extra[f"waf_{short}_score"] = score
        action = unmapped_value(event, "SecurityAction")
        extra["security_action"] = action if isinstance(action, str) else None
        host = get_str(event, "http_request", "url", "hostname") or "?"
        path = get_str(event, "http_request", "url", "path") or ""
        who = subject.partition(":")[2]
        score = extra["waf_attack_score"]
        finding = build_finding(
            analytic=Analytic(self.uid, self.name),
            subject=subject,
            title=f"Unmitigated WAF attack (score {score}) from {who} on {host}",
            desc=(
                f"Cloudflare scored a request from {who} to {host}{path} as an attack "
                f"(WAFAttackScore {score}, range "
                f"{self.config.waf_score_min}..{self.config.waf_score_max}) and did not block "
                f"or challenge it (SecurityAction {extra['security_action'] or 'none'}). Further "
                f"matches from this client within {self.config.waf_window_s} s are not alerted."
            ),
            types=["Web Attack"],
            severity_id=4,
            evidence=[evidence],
            trigger=event,
            now_ms=now_ms,
            max_related=self.config.max_related_events,
            attacks=[EXPLOIT_PUBLIC_APP],
            extra=extra,
        )
        return new_state, [finding]

    def expires_at(self, state: State) -> int | None:
        """When the quiet period is over."""
        return max(int(state.get("quiet_until", 0)), int(state.get("last", 0)))
