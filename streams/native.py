"""The native fast path of ``pipeline.process``: decode, normalize, enrich and encode in Rust.

``cfkafka_native.OcsfTransform`` (``native/src/streams/``) decodes a raw value and
normalizes it by the dataset's own declarative map (digested by
``streams.ocsf.native_spec``). Then:

- ``run``: the enricher's default steps run in Rust too (``enrichment_steps``: the
  enricher's own name books and cached functions) and it returns the encoded record;
- ``checked``: the same, with a small view (``RULE_FIELDS``) for the alert rules'
  ``subject`` checks first (a record a rule wants goes the Python way: rule inputs carry the
  whole record);
- ``prepare``: where sampling, threat lists or other steps are configured, Python gets a
  *view* of the record: the fields the Python steps read (``VIEW_FIELDS``) as a dict, whose
  ``unmapped`` holds only the entries they read (``VIEW_UNMAPPED``); it samples and enriches
  the view as a whole record, and ``encode`` writes the record Rust kept with the fields the
  enrichers write (``VIEW_WRITES``) taken from the view.

The transform returns None wherever its result could differ from the Python path's, and
the record goes the Python way (``tests/streams/test_streams_native.py`` checks that both
give the same bytes, and that the Python steps touch only what the views carry).

Off without the module (not built), with ``CFKAFKA_NATIVE=0``, for a dataset whose map uses
what the Rust side does not implement, and for a route with masking.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import fastavro

import schemas
from schemas.registry import WireFormatError

from .codecs import Codecs
from .enrich import Enricher, IpClassifier, NameBook, Roster, UserAgentParser
from .ocsf import DATASETS as OCSF_DATASETS
from .routing import Route, route_for

log = logging.getLogger(__name__)

#: Set to 0/false/off/no to keep the native transform out (as for the connector's encoder).
NATIVE_ENV = "CFKAFKA_NATIVE"

#: The ``unmapped`` entries the Python steps read: zone names (``NameBook``), the Cloudflare
#: IP class (``IpClassifier``), the WAF and security fields (``routing.security_relevant``,
#: the WAF alert rule). A step reading another entry must be added here, or the native path
#: would not see it (the identity tests run every step).
VIEW_UNMAPPED = (
    "ZoneName", "ZoneID", "ClientIPClass", "WAFAttackScore", "SecurityAction",
    "SecurityActions", "SecurityRuleIDs",
)
#: The top-level fields the Python steps read: sampling (``routing.security_relevant``), the
#: enrichers and the alert rules' ``subject`` (a threat list's fields are added per list).
#: The view carries only these (each costs Python objects per event).
VIEW_FIELDS = (
    "class_uid", "activity_id", "status_id", "action_id", "disposition_id", "firewall_rule",
    "metadata", "cloud", "resources", "user", "actor", "api", "http_request", "src_endpoint",
    "dst_endpoint", "raw_data", "unmapped", "enrichments",
)
#: The top-level fields the alert rules' ``subject`` reads: the view of a record enriched in
#: Rust (``OcsfTransform.checked``) carries only these.
RULE_FIELDS = (
    "class_uid", "activity_id", "status_id", "action_id", "metadata", "cloud", "resources",
    "user", "actor", "api", "src_endpoint", "unmapped",
)
#: The top-level fields the enrichers write (names: ``cloud.account.name`` and
#: ``resources[].name``; roster: ``user``, ``actor.user``; every step: ``enrichments``):
#: ``encode`` takes them from the view, the rest from the record Rust kept. A step writing
#: another field must be added here (the identity tests run every step).
VIEW_WRITES = ("cloud", "resources", "user", "actor", "enrichments")


def enabled_by_env() -> bool:
    """False when ``CFKAFKA_NATIVE`` says off."""
    return os.environ.get(NATIVE_ENV, "1").strip().lower() not in {"0", "false", "off", "no"}


@dataclass
class NativeDataset:
    """One dataset's transform, its route, and which raw schema ids it can read."""

    transform: Any
    route: Route
    codecs: Codecs
    raw_schema: Any
    #: the enricher runs in Rust (``run``, ``checked``); else Python enriches the view
    direct: bool = False
    #: the enricher the Rust side runs (``direct`` holds for records enriched by this one)
    enricher: Enricher | None = None
    #: writer schema id -> the transform reads it (the local raw schema)
    readable: dict[int, bool] = field(default_factory=dict)

    def prepare(self, value: bytes | None, key: bytes, scope: str | None) -> Any:
        """``(view, prepared)`` (the view enriched by Python) or None (the Python path
        handles this record)."""
        text = self._key(value, key)
        return None if text is None else self.transform.prepare(value, text, scope)

    def run(self, value: bytes | None, key: bytes, scope: str | None) -> bytes | None:
        """The OCSF value, enriched in Rust, or None (``direct`` only)."""
        text = self._key(value, key)
        encoded: bytes | None = (None if text is None
                                 else self.transform.run(value, text, scope))
        return encoded

    def checked(self, value: bytes | None, key: bytes, scope: str | None) -> Any:
        """``(view, prepared)``, enriched in Rust, the view for the alert rules' subject
        checks (``RULE_FIELDS``); or None (``direct`` only)."""
        text = self._key(value, key)
        return None if text is None else self.transform.checked(value, text, scope)

    def _key(self, value: bytes | None, key: bytes) -> str | None:
        """The key as text when the transform can read ``value``'s writer schema."""
        if value is None or len(value) < 5:
            return None
        schema_id = int.from_bytes(value[1:5], "big")
        readable = self.readable.get(schema_id)
        if readable is None:
            readable = self.readable[schema_id] = self._readable(schema_id)
        if not readable:
            return None
        try:
            return key.decode()
        except UnicodeDecodeError:
            return None

    def encode(self, view: dict[str, Any], prepared: Any) -> bytes | None:
        """The OCSF value of a prepared record and its ``view``, or None (the Python path
        handles it)."""
        encoded: bytes | None = self.transform.encode(view, prepared)
        return encoded

    def _readable(self, schema_id: int) -> bool:
        try:
            writer = self.codecs.raw.schema(schema_id)
        except WireFormatError:
            return False
        return bool(writer == self.raw_schema)


def enrichment_steps(enricher: Enricher | None) -> list[tuple[str, Any]] | None:
    """``enricher``'s steps as ``OcsfTransform.enrich_natively`` takes them, or None when
    one of them is not a default step the Rust side has (threat lists, extra steps, name
    books that are not plain dicts): then Python enriches the view."""
    if enricher is None:
        return []
    steps: list[tuple[str, Any]] = []
    for step in enricher.steps:
        if (type(step) is NameBook and type(step.accounts) is dict
                and type(step.zones) is dict):
            steps.append(("names", (step.accounts, step.zones, step.learn, step.max_learned,
                                    NameBook.zone_data)))
        elif type(step) is Roster:
            steps.append(("roster", None))
        elif type(step) is UserAgentParser:
            steps.append(("user_agent", step.data))
        elif type(step) is IpClassifier:
            steps.append(("ip_class", IpClassifier.data))
        else:
            return None
    return steps


def transforms(
    codecs: Codecs,
    masked_routes: frozenset[str] = frozenset(),
    reads: tuple[str, ...] = (),
    enricher: Enricher | None = None,
) -> dict[str, NativeDataset]:
    """The native transform of every dataset that can have one (empty without the module);
    ``reads``: dotted paths the Python steps read besides ``VIEW_FIELDS``'s; ``enricher``:
    the one the records get (run in Rust where it can be)."""
    if not enabled_by_env():
        log.info("native stream transform off (%s)", NATIVE_ENV)
        return {}
    try:
        cfkafka_native = importlib.import_module("cfkafka_native")
    except ImportError:
        log.info("native stream transform not built (make install builds it): Python path")
        return {}
    if not hasattr(cfkafka_native, "OcsfTransform"):
        return {}
    from .ocsf.native_spec import spec as native_spec  # the maps' digest: only when built

    found: dict[str, NativeDataset] = {}
    for name, dataset in OCSF_DATASETS.items():
        digest = native_spec(name)
        mappings = dataset.mappings()
        if digest is None or len(mappings) != 1:
            continue
        schema = mappings[0].ocsf_class.schema
        route = route_for(schema)
        encoder = codecs.ocsf.get(schema)
        if route.name in masked_routes or encoder is None:
            continue
        names = [f["name"] for f in schemas.raw(schema)["fields"]]
        fields = {*VIEW_FIELDS, *(path.split(".")[0] for path in reads)}
        transform = cfkafka_native.OcsfTransform(
            schemas.text(dataset.raw_schema), schemas.text(schema), digest, encoder.schema_id,
            (list(VIEW_UNMAPPED), [n for n in names if n in VIEW_WRITES],
             [n for n in names if n in fields], [n for n in names if n in RULE_FIELDS]))
        steps = enrichment_steps(enricher)
        if steps is not None:
            transform.enrich_natively(steps)
        raw_schema = fastavro.parse_schema(schemas.load(dataset.raw_schema))
        found[name] = NativeDataset(transform, route, codecs, raw_schema, steps is not None,
                                    enricher)
    if found:
        where = "in Rust" if all(n.direct for n in found.values()) else (
            "in Python (threat lists or other steps configured)")
        log.info("native stream transform for %s; enrichment %s", ", ".join(sorted(found)),
                 where)
    return found

