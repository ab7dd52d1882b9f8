"""Pure: what one raw audit-log message becomes (a SIEM record, a duplicate, or a dead letter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.registry import WireFormatError

from .codecs import Codecs
from .dedupe import first_sighting
from .dlq import DeadLetter
from .normalize import NormalizeError, normalize


@dataclass(frozen=True)
class Output:
    """Send ``value`` to the SIEM topic under ``key`` and remember ``key`` as seen."""

    key: bytes
    value: bytes


@dataclass(frozen=True)
class Duplicate:
    """``key`` was already seen within the dedup horizon: drop it."""

    key: bytes


Outcome = Output | Duplicate | DeadLetter


def header(headers: Mapping[str, bytes] | None, name: str) -> str | None:
    """Header ``name`` decoded as UTF-8 (None if missing or not UTF-8)."""
    value = (headers or {}).get(name)
    try:
        return value.decode() if value is not None else None
    except UnicodeDecodeError:
        return None


def process(
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes] | None,
    seen: Mapping[bytes, int | None],
    codecs: Codecs,
) -> Outcome:
    """Dedupe (by Kafka key, else by the record's id), decode, normalize, encode."""
    if key is not None and not first_sighting(seen, key):
        return Duplicate(key)
    try:
        raw = codecs.decode_raw(value)
    except WireFormatError as exc:
        return DeadLetter("decode", str(exc))
    if key is None:
        key = str(raw.get("id", "")).encode()
        if key and not first_sighting(seen, key):
            return Duplicate(key)
    try:
        record = normalize(raw, header(headers, "cf.scope"))
    except NormalizeError as exc:
        return DeadLetter("normalize", str(exc))
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # unexpected shapes
        return DeadLetter("normalize", f"{type(exc).__name__}: {exc}")
    try:
        return Output(key or record["event_id"].encode(), codecs.encode_siem(record))
    except (ValueError, TypeError) as exc:
        return DeadLetter("encode", f"{type(exc).__name__}: {exc}")
