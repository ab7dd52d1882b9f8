"""Data-driven normalization of every raw Cloudflare dataset to OCSF 1.3.0 (pure functions).

``normalize(dataset, key, record)`` maps one decoded ``cloudflare.<dataset>.v1`` value to an
``OcsfEvent``: the OCSF class, the Avro schema it is written in (``schemas/ocsf.*.avsc``, one
per class) and the record. The mappings are declarative tables (``streams/ocsf/*_map.py``)
whose reference interpreter is ``streams/ocsf/engine.py``; ``normalize`` runs them compiled
once per dataset into generated functions (``streams/ocsf/compiler.py``) with the same
results. docs/OCSF.md lists every mapping.

=====================  ==============================================  ======================
dataset                OCSF class                                      schema
=====================  ==============================================  ======================
access_requests        Authentication (3002)                           ocsf.authentication
audit_logs(_v2)        API Activity (6003); logins Authentication      ocsf.api_activity
http_requests          HTTP Activity (4002)                            ocsf.http_activity
firewall_events        Detection Finding (2004)                        ocsf.detection_finding
members, access_users  User Inventory Info (5003)                      ocsf.user_inventory
=====================  ==============================================  ======================
"""

from __future__ import annotations

from .classes import CLASSES, OCSF_VERSION, OcsfClass
from .datasets import DATASETS
from .errors import NormalizationError, ShapeError, UnknownDatasetError
from .normalize import OcsfEvent, normalize
from .shape import conform, shaped

#: every OCSF class schema, ``schemas/<name>.avsc``
SCHEMAS: tuple[str, ...] = tuple(c.schema for c in CLASSES)

__all__ = [
    "CLASSES",
    "DATASETS",
    "OCSF_VERSION",
    "SCHEMAS",
    "NormalizationError",
    "OcsfClass",
    "OcsfEvent",
    "ShapeError",
    "UnknownDatasetError",
    "conform",
    "normalize",
    "shaped",
]
