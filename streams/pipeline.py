"""Pure: what one raw message becomes (SIEM records, a duplicate, a sample drop, a dead letter).

dedup (by Kafka key; rosters by last state) -> decode -> normalize (``streams.ocsf``) ->
route by OCSF class -> sample -> mask -> encode. ``process`` touches no Kafka: the agent
applies the outcome (sends, table writes) inside the source partition's transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.registry import WireFormatError

from .alerts.base import Rule
from .alerts.engine import state_key
from .codecs import Codecs
from .dedupe import first_sighting, repeated_state, state_digest
from .dlq import DeadLetter
from .enrich import Enricher
from .masking import Masker
from .native import NativeDataset
from .normalize import NormalizeError
from .normalize import normalize as normalize_legacy
from .ocsf import conform, normalize, shaped
from .routing import DATASET, LEGACY_AUDIT, Dataset, in_sample, route_for, security_relevant

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Send:
    """One SIEM record: ``value`` (Confluent Avro) to ``topic`` of ``route``.

    ``key`` set: an alert-rule input (JSON), sent under that key to the partition of the
    key (``alert_partition``), not under the event's key to the source partition.
    """

    route: str
    topic: str
    value: bytes
    headers: Headers = ()
    key: bytes | None = None


ALERT_ROUTE = "alert_events"


def alert_partition(key: bytes, partitions: int) -> int:
    """The partition of an alert-rule input (stable across processes: blake2b, not hash())."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


#: ``json.dumps(value, separators=(",", ":"), default=str)`` without building an encoder
#: per call (``json.dumps`` makes one for any non-default argument): the same text
_alert_json = json.JSONEncoder(separators=(",", ":"), default=str).encode


def alert_inputs(
    rules: tuple[Rule, ...], topic: str, record: Mapping[str, Any]
) -> list[Send]:
    """One ``Send`` per rule that looks at ``record``: ``{"rule", "event"}`` JSON, keyed by
    the rule's state key for the event's subject."""
    sends: list[Send] = []
    for rule in rules:
        subject = rule.subject(record)
        if subject is None:
            continue
        value = _alert_json({"rule": rule.uid, "event": record}).encode()
        sends.append(Send(ALERT_ROUTE, topic, value, (), state_key(rule.uid, subject).encode()))
    return sends


@dataclass(frozen=True)
class Output:
    """Send ``sends`` under ``key``; remember ``key`` (rosters: its ``state`` digest)."""

    key: bytes
    sends: tuple[Send, ...]
    state: str | None = None

    @property
    def value(self) -> bytes:
        """The first record's value (the main route's)."""
        return self.sends[0].value


@dataclass(frozen=True)
class Duplicate:
    """``key`` was already seen within the dedup horizon (rosters: same state): drop it."""

    key: bytes


@dataclass(frozen=True)
class Sampled:
    """The event fell outside ``route``'s sample and is not security-relevant: drop it."""

    key: bytes
    route: str


@dataclass(frozen=True)
class Removed:
    """A roster tombstone (the user was removed): forget the user's state, publish nothing."""

    key: bytes


Outcome = Output | Duplicate | Sampled | Removed | DeadLetter


@dataclass(frozen=True)
class Options:
    """Per-route behaviour (from ``streams.app.Settings``)."""

    legacy_audit: bool = True
    sample_rates: Mapping[str, float] = field(default_factory=dict)
    maskers: Mapping[str, Masker] = field(default_factory=dict)
    #: alert rules whose inputs are sent to ``alert_topic`` (empty: no alerts)
    alert_rules: tuple[Rule, ...] = ()
    alert_topic: str = ""
    #: adds names, roster context, user agent, IP class, threat matches (None: off)
    enricher: Enricher | None = None
    #: dataset -> its native transform (``streams.native``; empty: Python for all)
    native: Mapping[str, NativeDataset] = field(default_factory=dict)


DEFAULT_OPTIONS = Options()


def header(headers: Mapping[str, bytes] | None, name: str) -> str | None:
    """Header ``name`` decoded as UTF-8 (None if missing or not UTF-8)."""
    value = (headers or {}).get(name)
    try:
        return value.decode() if value is not None else None
    except UnicodeDecodeError:
        return None


def _mask(options: Options, route: str, record: dict[str, Any]) -> dict[str, Any]:
    masker = options.maskers.get(route)
    return masker.record(record) if masker else record


def _enriched(enricher: Enricher | None, schema: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` enriched in place and shaped to its class schema.

    Enrichment adds context and never holds an event back: a step that fails (a bug) is
    logged and the record goes on with what it has (it still has to encode, or it is a
    dead letter like any record that does not).
    """
    if enricher is None:
        return record
    try:
        enricher.enrich(record)
    except (ValueError, TypeError, KeyError, AttributeError, LookupError):
        log.warning("enrichment failed for a %s record; sent without it", schema, exc_info=True)
    try:
        # enrichment mostly leaves the record shaped (entries added to enrichments[]): then
        # conform would only copy it
        return record if shaped(schema, record) else conform(schema, record)
    except (ValueError, TypeError, KeyError):
        return record


def process(
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes] | None,
    table: Mapping[bytes, Any],
    codecs: Codecs,
    dataset: Dataset | str = "audit_logs",
    options: Options = DEFAULT_OPTIONS,
) -> Outcome:
    """One raw message of ``dataset`` -> its outcome (``table`` is the dataset's dedup table)."""
    spec = DATASET[dataset] if isinstance(dataset, str) else dataset
    if spec.roster:
        if value is None:
            return Removed(key) if key else DeadLetter("decode", "tombstone without a key")
    elif key is not None and not first_sighting(table, key):
        return Duplicate(key)
    # the native transform (not for rosters: their state digest is the Python path's)
    native = None if key is None or spec.roster else options.native.get(spec.name)
    if native is not None and key is not None:
        outcome = _native(native, key, value, headers, options)
        if outcome is not None:
            return outcome
    try:
        raw = codecs.decode_raw(value)
    except WireFormatError as exc:
        return DeadLetter("decode", str(exc))
    if key is None and spec.id_field is not None:
        key = str(raw.get(spec.id_field) or "").encode() or None
        if key is not None and not first_sighting(table, key):
            return Duplicate(key)
    if key is None:
        return DeadLetter("normalize", "record has no Kafka key (its dedup key)")
    digest = None
    if spec.roster:
        digest = state_digest(raw)
        if repeated_state(table, key, digest):
            return Duplicate(key)
    return _normalize(spec, key, raw, headers, codecs, options, digest)


def _normalize(
    spec: Dataset,
    key: bytes,
    raw: dict[str, Any],
    headers: Mapping[str, bytes] | None,
    codecs: Codecs,
    options: Options,
    digest: str | None,
) -> Outcome:
    scope = header(headers, "cf.scope")
    try:
        event = normalize(
            spec.name, key.decode(), raw, scope=scope,
            snapshot_at=header(headers, "cf.snapshot_at") if spec.roster else None,
        )
        route = route_for(event.schema)
        legacy = (
            normalize_legacy(raw, scope)
            if spec.name == "audit_logs" and options.legacy_audit else None
        )
    except NormalizeError as exc:
        return DeadLetter("normalize", f"{LEGACY_AUDIT.topic}: {exc}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # incl. NormalizationError
        return DeadLetter("normalize", f"{type(exc).__name__}: {exc}")
    extra: Headers = ()
    rate = options.sample_rates.get(route.name)
    if rate is not None and not security_relevant(event.record):
        # kept by the sample: one record stands for 1/rate (security events all stay)
        if not in_sample(key, rate):
            return Sampled(key, route.name)
        extra = (("cf.sample_rate", repr(rate).encode()),)
    record = _enriched(options.enricher, event.schema, event.record)
    try:
        sends = [Send(route.name, route.topic,
                      codecs.encode(event.schema, _mask(options, route.name, record)),
                      extra)]
        if legacy is not None:
            value = codecs.encode_siem(_mask(options, LEGACY_AUDIT.name, legacy))
            sends.append(Send(LEGACY_AUDIT.name, LEGACY_AUDIT.topic, value))
        if options.alert_rules:
            sends += alert_inputs(options.alert_rules, options.alert_topic, record)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:  # Overflow: int > 64 bits
        return DeadLetter("encode", f"{type(exc).__name__}: {exc}")
    return Output(key, tuple(sends), digest)


def _native(
    native: NativeDataset,
    key: bytes,
    value: bytes | None,
    headers: Mapping[str, bytes] | None,
    options: Options,
) -> Outcome | None:
    """``_normalize``'s outcome by the native transform, or None: the Python path's turn
    (the transform declined, or an alert rule wants the record: its input is the whole
    record)."""
    route = native.route
    scope = header(headers, "cf.scope")
    if (native.direct and native.enricher is options.enricher  # enriched in Rust
            and route.name not in options.sample_rates):
        encoded = None
        if not options.alert_rules:
            encoded = native.run(value, key, scope)
        elif (checked := native.checked(value, key, scope)) is not None:
            view, kept = checked
            if _alert_input(options, view):
                return None
            encoded = native.encode(view, kept)
        if encoded is not None:
            return Output(key, (Send(route.name, route.topic, encoded),))
    prepared = native.prepare(value, key, scope)
    if prepared is None:
        return None
    record, kept = prepared
    extra: Headers = ()
    rate = options.sample_rates.get(route.name)
    if rate is not None and not security_relevant(record):
        if not in_sample(key, rate):
            return Sampled(key, route.name)
        extra = (("cf.sample_rate", repr(rate).encode()),)
    if options.enricher is not None:
        try:
            options.enricher.enrich(record)
        except (ValueError, TypeError, KeyError, AttributeError, LookupError):
            return None  # the Python path logs it and sends what it has
    if _alert_input(options, record):
        return None
    encoded = native.encode(record, kept)
    if encoded is None:
        return None
    return Output(key, (Send(route.name, route.topic, encoded, extra),))


def _alert_input(options: Options, record: Mapping[str, Any]) -> bool:
    """An alert rule wants ``record`` (then the Python path makes its input)."""
    return any(rule.subject(record) is not None for rule in options.alert_rules)
