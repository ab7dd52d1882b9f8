"""Schema-driven, lossless conversion of Cloudflare JSON records to Avro-ready dicts.

Known fields are type-checked against the Avro schema; anything the schema does not know,
or that arrives with an unexpected type, is kept in the record's ``extra`` map under its
dotted path as JSON text. ``restore`` is the inverse, used to prove nothing is lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.errors import RecordError

EXTRA = "extra"
_PRIMITIVE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _split_union(avro_type: Any) -> tuple[Any, bool]:
    """Return (the non-null branch or branches, nullable) for ``T`` or ``["null", T, ...]``.

    A union of several non-null primitive branches (e.g. a timestamp that is a long or a
    string) comes back as a list; the first branch the value fits is used.
    """
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        return (branches[0] if len(branches) == 1 else branches), "null" in avro_type
    return avro_type, False


def to_record(
    schema: Mapping[str, Any], source: Mapping[str, Any], json_fields: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Convert ``source`` to a dict matching ``schema``; raise ``RecordError`` if impossible.

    ``json_fields`` are dotted paths of string fields whose source value is any JSON value,
    stored JSON-encoded.
    """
    extra: dict[str, str] = {}
    out = _record(schema, source, "", json_fields, extra)
    if any(f["name"] == EXTRA for f in schema["fields"]):
        out[EXTRA] = extra
    elif extra:
        msg = f"fields unknown to schema {schema['name']}: {sorted(extra)}"
        raise RecordError(msg)
    return out


def _record(
    schema: Mapping[str, Any],
    source: Mapping[str, Any],
    prefix: str,
    json_fields: frozenset[str],
    extra: dict[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    known: set[str] = set()
    for field in schema["fields"]:
        name = field["name"]
        if not prefix and name == EXTRA:
            continue
        known.add(name)
        path = prefix + name
        avro_type, nullable = _split_union(field["type"])
        value = source.get(name)
        converted = None if value is None else _value(avro_type, value, path, json_fields, extra)
        if converted is None and not nullable:
            reason = "missing" if name not in source else f"not a valid {avro_type}: {value!r}"
            msg = f"required field {path!r} is {reason}"
            raise RecordError(msg)
        out[name] = converted
    for name, value in source.items():
        if name not in known:
            extra[prefix + name] = _dumps(value)
    return out


def _value(
    avro_type: Any, value: Any, path: str, json_fields: frozenset[str], extra: dict[str, str]
) -> Any:
    """Return the converted value, or None after moving a mistyped value to ``extra``."""
    if path in json_fields:
        return _dumps(value)
    if isinstance(avro_type, list):  # several primitive branches: the first that fits
        for branch in avro_type:
            check = _PRIMITIVE_CHECKS.get(branch) if isinstance(branch, str) else None
            if check is not None and check(value):
                return value
        extra[path] = _dumps(value)
        return None
    if isinstance(avro_type, str) and avro_type in _PRIMITIVE_CHECKS:
        if _PRIMITIVE_CHECKS[avro_type](value):
            return float(value) if avro_type in ("float", "double") else value
    elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
        if isinstance(value, Mapping):
            return _record(avro_type, value, path + ".", json_fields, extra)
    elif isinstance(avro_type, dict) and avro_type.get("type") == "map":
        if isinstance(value, Mapping) and avro_type.get("values") == "string":
            return {str(k): _dumps(v) for k, v in value.items()}
    elif isinstance(avro_type, dict) and avro_type.get("type") == "array":
        items = avro_type.get("items")
        check = _PRIMITIVE_CHECKS.get(items) if isinstance(items, str) else None
        if isinstance(value, list) and check is not None and all(check(v) for v in value):
            return value
    extra[path] = _dumps(value)
    return None


def restore(
    schema: Mapping[str, Any], record: Mapping[str, Any], json_fields: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Rebuild the source JSON from a converted record (null and absent are the same)."""
    out = _restore(schema, record, "", json_fields)
    for path, text in (record.get(EXTRA) or {}).items():
        target = out
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = json.loads(text)
    return out


def _restore(
    schema: Mapping[str, Any], record: Mapping[str, Any], prefix: str, json_fields: frozenset[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        name = field["name"]
        if (not prefix and name == EXTRA) or record.get(name) is None:
            continue
        value = record[name]
        avro_type, _ = _split_union(field["type"])
        if prefix + name in json_fields:
            out[name] = json.loads(value)
        elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
            out[name] = _restore(avro_type, value, prefix + name + ".", json_fields)
        elif isinstance(avro_type, dict) and avro_type.get("type") == "map":
            out[name] = {k: json.loads(v) for k, v in value.items()}
        else:
            out[name] = value
    return out
