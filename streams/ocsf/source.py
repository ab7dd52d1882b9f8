"""The raw record as Cloudflare sent it: rebuilt from a decoded raw-topic value, then read.

A raw topic's Avro value keeps Cloudflare's field names, JSON-encodes free-form objects
(``json_fields``, map values) and parks unknown fields in ``extra`` (dotted path -> JSON).
``restore`` undoes all of that, so the mappings read plain Cloudflare JSON by dotted path,
and ``raw_data`` is the record as Cloudflare sent it (nulls and absent fields are the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

EXTRA = "extra"


def dumps(value: Any) -> str:
    """Compact JSON text (the encoding of ``unmapped`` values and ``raw_data``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def restore(
    schema: Mapping[str, Any], value: Mapping[str, Any], json_fields: frozenset[str]
) -> dict[str, Any]:
    """The Cloudflare record a decoded raw-topic ``value`` of ``schema`` was made from.

    Raises ``ValueError`` when a JSON-encoded part is not JSON.
    """
    out = _restore(schema, value, "", json_fields)
    for path, text in (value.get(EXTRA) or {}).items():
        target = out
        *parents, leaf = path.split(".")
        for parent in parents:
            node = target.get(parent)
            if not isinstance(node, dict):
                node = target[parent] = {}
            target = node
        target[leaf] = json.loads(text)
    return out


def _restore(
    schema: Mapping[str, Any], value: Mapping[str, Any], prefix: str, json_fields: frozenset[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        name = field["name"]
        item = value.get(name)
        if (not prefix and name == EXTRA) or item is None:
            continue
        avro_type = _non_null(field["type"])
        if prefix + name in json_fields:
            out[name] = json.loads(item)
        elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
            out[name] = _restore(avro_type, item, prefix + name + ".", json_fields)
        elif isinstance(avro_type, dict) and avro_type.get("type") == "map":
            out[name] = {k: json.loads(v) for k, v in item.items()}
        else:
            out[name] = item
    return out


def _non_null(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return branches[0] if len(branches) == 1 else branches
    return avro_type


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path``; None when absent, null or an empty string."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
        if node is None:
            return None
    return None if node == "" else node


def leaves(record: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``(dotted path, value)`` of ``record``: objects are walked, anything else
    (arrays, scalars, empty objects) is a leaf; nulls are absent and skipped."""
    for name, value in record.items():
        path = prefix + str(name)
        if value is None:
            continue
        if isinstance(value, Mapping) and value:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def covered(path: str, mapped: frozenset[str]) -> bool:
    """Whether ``path`` or one of its parents is in ``mapped``."""
    parts = path.split(".")
    return any(".".join(parts[:n]) in mapped for n in range(1, len(parts) + 1))
