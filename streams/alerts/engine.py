"""Runs rules over events with their state in one mapping (the worker's ``alert-state`` table).

State keys are ``<rule uid>|<subject>``. The engine is the only place that reads and writes
the mapping: it reads a subject's state, calls the rule's pure ``step`` and writes the new
state back whole (a table only records assignments, never in-place changes), or
deletes it when the rule returns None. ``sweep`` removes states whose rule says they are
spent, which bounds the table by the number of recently active subjects.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence

from .access import AccessDenials, NewCountryLogin
from .audit import DnsDeleteBurst, SensitiveChange
from .base import Rule, State
from .config import AlertConfig
from .findings import Event, Finding
from .waf import WafUnmitigatedAttack

KEY_SEPARATOR = "|"


def default_rules(config: AlertConfig | None = None) -> tuple[Rule, ...]:
    """The five rules (denials by user and by IP count as two), sharing ``config``."""
    config = config or AlertConfig()
    return (
        AccessDenials(config, "user"),
        AccessDenials(config, "ip"),
        NewCountryLogin(config),
        SensitiveChange(config),
        DnsDeleteBurst(config),
        WafUnmitigatedAttack(config),
    )


def state_key(rule_uid: str, subject: str) -> str:
    """The mapping key of one rule's state for one subject."""
    return f"{rule_uid}{KEY_SEPARATOR}{subject}"


class AlertEngine:
    """Feeds events to rules; keeps their state in ``states``."""

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        states: MutableMapping[str, State] | None = None,
    ) -> None:
        """Run ``rules`` (the defaults when None) with state in ``states`` (a dict by default)."""
        self.rules: tuple[Rule, ...] = tuple(default_rules() if rules is None else rules)
        uids = [rule.uid for rule in self.rules]
        if len(set(uids)) != len(uids):
            msg = f"rule uids must be unique: {sorted(uids)}"
            raise ValueError(msg)
        self.states: MutableMapping[str, State] = {} if states is None else states
        self._by_uid = {rule.uid: rule for rule in self.rules}

    def process(self, event: Event, now_ms: int) -> list[Finding]:
        """Apply every rule to ``event``; return the findings (usually none)."""
        findings: list[Finding] = []
        for rule in self.rules:
            subject = rule.subject(event)
            if subject is None:
                continue
            key = state_key(rule.uid, subject)
            state = self.states.get(key)
            new_state, found = rule.step(state, event, now_ms)
            if new_state is None:
                if state is not None:
                    del self.states[key]
            elif new_state != state:
                self.states[key] = new_state
            findings.extend(found)
        return findings

    def sweep(self, now_ms: int) -> int:
        """Delete states their rule reports as spent at ``now_ms``; return how many."""
        spent: list[str] = []
        for key, state in list(self.states.items()):
            rule = self._by_uid.get(key.partition(KEY_SEPARATOR)[0])
            if rule is None or state is None:
                spent.append(key)
                continue
            expires = rule.expires_at(state)
            if expires is not None and expires <= now_ms:
                spent.append(key)
        for key in spent:
            self.states.pop(key, None)
        return len(spent)
