"""OCSF 1.3.0 event classes and the enumerations the mappings use (data only).

Captions are OCSF's. Where OCSF says a value of 99 (Other) should carry the source's own
label, the mappings set the label; everything else takes the caption from these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

OCSF_VERSION = "1.3.0"
VENDOR = "Cloudflare"


def _table(items: Mapping[int, str]) -> Mapping[int, str]:
    return MappingProxyType(dict(items))


SEVERITY = _table({0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High",
                   5: "Critical", 6: "Fatal", 99: "Other"})
EVENT_STATUS = _table({0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"})
FINDING_STATUS = _table({0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed",
                         4: "Resolved", 99: "Other"})
#: security_control profile ``action_id`` (1.3.0 has no Observed/Modified yet)
ACTION = _table({0: "Unknown", 1: "Allowed", 2: "Denied", 99: "Other"})
DISPOSITION = _table({
    0: "Unknown", 1: "Allowed", 2: "Blocked", 3: "Quarantined", 4: "Isolated", 5: "Deleted",
    6: "Dropped", 7: "Custom Action", 8: "Approve", 9: "Restore", 10: "Exonerate",
    11: "Corrected", 12: "Partially Corrected", 13: "Uncorrected", 14: "Delayed",
    15: "Detected", 16: "No Action", 17: "Logged", 18: "Tagged", 19: "Alert", 20: "Count",
    21: "Reset", 22: "Captcha", 23: "Challenge", 99: "Other",
})
AUTH_PROTOCOL = _table({0: "Unknown", 1: "NTLM", 2: "Kerberos", 3: "Digest", 4: "OpenID",
                        5: "SAML", 6: "OAUTH 2.0", 7: "PAP", 8: "CHAP", 9: "EAP",
                        10: "RADIUS", 99: "Other"})
USER_TYPE = _table({0: "Unknown", 1: "User", 2: "Admin", 3: "System", 99: "Other"})
ANALYTIC_TYPE = _table({0: "Unknown", 1: "Rule", 2: "Behavioral", 3: "Statistical",
                        4: "Learning (ML/DL)", 99: "Other"})


@dataclass(frozen=True)
class OcsfClass:
    """One OCSF event class: ids, names, its activities and the Avro schema it is written in."""

    uid: int
    name: str
    category_uid: int
    category_name: str
    schema: str  # schemas/<schema>.avsc
    activities: Mapping[int, str]
    statuses: Mapping[int, str] = field(default_factory=lambda: EVENT_STATUS)

    def activity_name(self, activity_id: int) -> str:
        """The caption of ``activity_id`` (``Other`` for ids the class does not define)."""
        return self.activities.get(activity_id, "Other")

    def type_uid(self, activity_id: int) -> int:
        """``class_uid * 100 + activity_id``."""
        return self.uid * 100 + activity_id

    def type_name(self, activity_id: int) -> str:
        """``<class name>: <activity name>``."""
        return f"{self.name}: {self.activity_name(activity_id)}"


AUTHENTICATION = OcsfClass(
    3002, "Authentication", 3, "Identity & Access Management", "ocsf.authentication",
    _table({0: "Unknown", 1: "Logon", 2: "Logoff", 3: "Authentication Ticket",
            4: "Service Ticket Request", 5: "Service Ticket Renew", 6: "Preauth", 99: "Other"}),
)
API_ACTIVITY = OcsfClass(
    6003, "API Activity", 6, "Application Activity", "ocsf.api_activity",
    _table({0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}),
)
HTTP_ACTIVITY = OcsfClass(
    4002, "HTTP Activity", 4, "Network Activity", "ocsf.http_activity",
    _table({0: "Unknown", 1: "Connect", 2: "Delete", 3: "Get", 4: "Head", 5: "Options",
            6: "Post", 7: "Put", 8: "Trace", 99: "Other"}),
)
DETECTION_FINDING = OcsfClass(
    2004, "Detection Finding", 2, "Findings", "ocsf.detection_finding",
    _table({0: "Unknown", 1: "Create", 2: "Update", 3: "Close", 99: "Other"}),
    FINDING_STATUS,
)
USER_INVENTORY = OcsfClass(
    5003, "User Inventory Info", 5, "Discovery", "ocsf.user_inventory",
    _table({0: "Unknown", 1: "Log", 2: "Collect", 99: "Other"}),
)

CLASSES: tuple[OcsfClass, ...] = (
    AUTHENTICATION, API_ACTIVITY, HTTP_ACTIVITY, DETECTION_FINDING, USER_INVENTORY,
)
