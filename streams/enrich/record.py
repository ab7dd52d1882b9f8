"""Small accessors for OCSF record dicts shared by the enrichers (and the alert rules).

Records are the normalizer's nested dicts (OCSF 1.3.0 attribute names). Every accessor is
defensive: a missing or mistyped part reads as ``None``, never as an exception, because an
event must go out with whatever is known.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson

Record = MutableMapping[str, Any]
"""An OCSF record as the normalizer builds it (a JSON-like nested dict)."""

_MISSING = object()


def get_path(record: Mapping[str, Any], *path: str) -> Any:
    """``record[a][b]...`` or None when any step is missing or not a mapping."""
    node: Any = record
    for part in path:
        if isinstance(node, dict):  # the fast, common case (a plain isinstance check)
            node = node.get(part)
        elif isinstance(node, Mapping):
            node = node.get(part)
        else:
            return None
        if node is None:
            return None
    return node


def get_str(record: Mapping[str, Any], *path: str) -> str | None:
    """A non-empty string at ``path``, else None."""
    value = get_path(record, *path)
    return value if isinstance(value, str) and value else None


def child(record: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` as a dict, created (or replaced when not a dict) if needed."""
    node = record.get(key)
    if not isinstance(node, dict):
        node = {}
        record[key] = node
    return node


def decode_json(text: Any) -> Any:
    """A JSON-encoded value (``unmapped`` values, ``raw_data``) decoded; None when invalid."""
    if not isinstance(text, (str, bytes)):  # noqa: UP038 (a tuple is the faster check)
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def unmapped_value(record: Mapping[str, Any], name: str) -> Any:
    """The decoded ``unmapped[name]`` (values there are JSON-encoded strings), or None."""
    unmapped = record.get("unmapped")
    if not isinstance(unmapped, dict | Mapping):
        return None
    text = unmapped.get(name)
    return None if text is None else decode_json(text)


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, compact) for ``enrichments[].data``."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class RawView:
    """The record's ``raw_data`` (original Cloudflare record), parsed once and only if asked.

    Several enrichers look into the raw record; the view keeps the parse cost to at most one
    ``orjson.loads`` per event, and none for events that never need it.
    """

    __slots__ = ("_parsed", "_record")

    def __init__(self, record: Mapping[str, Any]) -> None:
        """Wrap ``record``; nothing is parsed yet."""
        self._record = record
        self._parsed: Any = _MISSING

    @property
    def data(self) -> Mapping[str, Any]:
        """The parsed raw record; an empty mapping when absent or not a JSON object."""
        if self._parsed is _MISSING:
            raw = self._record.get("raw_data")
            parsed = raw if isinstance(raw, Mapping) else decode_json(raw)
            self._parsed = parsed if isinstance(parsed, Mapping) else {}
        result: Mapping[str, Any] = self._parsed
        return result

    def get(self, *path: str) -> Any:
        """``raw[a][b]...`` or None."""
        return get_path(self.data, *path)

    def get_str(self, *path: str) -> str | None:
        """A non-empty string at ``path`` in the raw record, else None."""
        return get_str(self.data, *path)


def log_name(record: Mapping[str, Any]) -> str | None:
    """``metadata.log_name``: the Cloudflare dataset the record came from."""
    return get_str(record, "metadata", "log_name")


def upsert_enrichment(
    record: MutableMapping[str, Any],
    *,
    name: str,
    value: str,
    type_: str,
    provider: str,
    data: str | None,
) -> None:
    """Add an ``enrichments[]`` entry, replacing one with the same name, type and provider.

    Replacing (rather than appending) keeps enrichment idempotent: a replayed or twice
    enriched record carries each enrichment once.
    """
    entries = record.get("enrichments")
    if not isinstance(entries, list):
        entries = []
        record["enrichments"] = entries
    entry = {"name": name, "value": value, "type": type_, "provider": provider, "data": data}
    for index, existing in enumerate(entries):
        if (
            (type(existing) is dict or isinstance(existing, Mapping))  # dict: no ABC check
            and existing.get("name") == name
            and existing.get("type") == type_
            and existing.get("provider") == provider
        ):
            entries[index] = entry
            return
    entries.append(entry)


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts and lists copied, scalars shared)."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value
