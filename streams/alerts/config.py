"""Thresholds, windows and name lists of the alert rules (one frozen value, sane defaults)."""

from __future__ import annotations

from dataclasses import dataclass

#: Cloudflare account roles that grant administrative control (compared case-insensitively).
DEFAULT_ADMIN_ROLES = frozenset(
    {
        "super administrator - all privileges",
        "administrator",
    }
)

#: ``SecurityAction`` values (lower-cased, ``_`` removed) that mean the request was stopped
#: or had to pass a challenge: any of these means "mitigated", so no WAF alert.
DEFAULT_MITIGATING_ACTIONS = frozenset(
    {
        "block",
        "challenge",
        "jschallenge",
        "managedchallenge",
        "challengefailed",
        "jschallengefailed",
        "managedchallengefailed",
        "challengesolved",
        "jschallengesolved",
        "managedchallengenoninteractivesolved",
        "managedchallengeinteractivesolved",
        "managedchallengebypassed",
        "challengebypassed",
        "jschallengebypassed",
        "connectionclose",
        "forceconnectionclose",
        "drop",
        "deny",
    }
)

#: Resource types (lower-cased) that are DNS records, in audit v1 and v2 spellings.
DEFAULT_DNS_RECORD_TYPES = frozenset({"dns_record", "dns_records", "dns.record", "dns.records"})

#: Resource types (lower-cased) of account memberships in audit v1 and v2.
DEFAULT_MEMBER_TYPES = frozenset(
    {"member", "members", "membership", "memberships", "account_member", "account.member"}
)

#: Resource types / service names (lower-cased) of API tokens in audit v2.
DEFAULT_TOKEN_TYPES = frozenset(
    {"token", "tokens", "api_token", "api_tokens", "account_token", "user_token"}
)

#: Resource types / service names (lower-cased) of the legacy global API key in audit v2.
DEFAULT_API_KEY_TYPES = frozenset({"api_key", "api_keys", "global_api_key", "user_api_key"})


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Configuration of every rule; windows are in seconds of event time."""

    # (1) repeated Access denials
    denials_threshold: int = 5
    denials_window_s: int = 600
    # (2) Access login from a new country
    new_country_alert_on_first_login: bool = False
    new_country_max_countries: int = 32
    new_country_memory_s: int = 180 * 86_400
    # (3) sensitive credential and membership changes
    admin_roles: frozenset[str] = DEFAULT_ADMIN_ROLES
    member_types: frozenset[str] = DEFAULT_MEMBER_TYPES
    token_types: frozenset[str] = DEFAULT_TOKEN_TYPES
    api_key_types: frozenset[str] = DEFAULT_API_KEY_TYPES
    # (4) DNS record deletion burst
    dns_delete_threshold: int = 10
    dns_delete_window_s: int = 300
    dns_record_types: frozenset[str] = DEFAULT_DNS_RECORD_TYPES
    # (5) unmitigated WAF attack
    waf_score_min: int = 1
    waf_score_max: int = 20
    waf_window_s: int = 600
    waf_mitigating_actions: frozenset[str] = DEFAULT_MITIGATING_ACTIONS
    # all rules
    max_related_events: int = 50

    def __post_init__(self) -> None:
        """Refuse values that would make a rule meaningless."""
        for name in ("denials_threshold", "dns_delete_threshold", "new_country_max_countries"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1, got {getattr(self, name)}"
                raise ValueError(msg)
        for name in ("denials_window_s", "dns_delete_window_s", "waf_window_s"):
            if getattr(self, name) <= 0:
                msg = f"{name} must be positive, got {getattr(self, name)}"
                raise ValueError(msg)
        if self.waf_score_min > self.waf_score_max:
            msg = f"waf_score_min {self.waf_score_min} > waf_score_max {self.waf_score_max}"
            raise ValueError(msg)
        if self.max_related_events < 1:
            msg = f"max_related_events must be at least 1, got {self.max_related_events}"
            raise ValueError(msg)
