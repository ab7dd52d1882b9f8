"""Alert rules over normalized OCSF events, producing OCSF Detection Findings (class 2004)."""

from .access import AccessDenials, NewCountryLogin
from .audit import DnsDeleteBurst, SensitiveChange
from .base import Rule, State, count_in_window
from .config import AlertConfig
from .engine import AlertEngine, default_rules, state_key
from .findings import Evidence, Finding, build_finding, finding_uid
from .waf import WafUnmitigatedAttack

__all__ = [
    "AccessDenials",
    "AlertConfig",
    "AlertEngine",
    "DnsDeleteBurst",
    "Evidence",
    "Finding",
    "NewCountryLogin",
    "Rule",
    "SensitiveChange",
    "State",
    "WafUnmitigatedAttack",
    "build_finding",
    "count_in_window",
    "default_rules",
    "finding_uid",
    "state_key",
]
