"""The field maps of every raw dataset, by dataset name (``metadata.log_name``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .access_map import ACCESS_REQUESTS
from .audit_map import AUDIT_LOGS, AUDIT_LOGS_V2
from .engine import Dataset
from .firewall_map import FIREWALL_EVENTS
from .http_map import HTTP_REQUESTS
from .inventory_map import ACCESS_USERS, MEMBERS

DATASETS: Mapping[str, Dataset] = MappingProxyType({
    d.name: d for d in (AUDIT_LOGS, AUDIT_LOGS_V2, ACCESS_REQUESTS, HTTP_REQUESTS,
                        FIREWALL_EVENTS, MEMBERS, ACCESS_USERS)
})

__all__ = ["DATASETS"]
