"""Shape a sparse OCSF dict to its Avro schema: every field present, unknown fields refused.

``conform`` fills absent fields with their schema defaults (null, ``[]``, ``{}``), recurses
into nested records and arrays of records, and raises ``ShapeError`` for a field the schema
does not have (fastavro would silently drop it) or a missing field without a default. The
result is exactly what a decoder of that schema returns, so it round-trips unchanged.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from typing import Any

import schemas

from .errors import ShapeError

Named = dict[str, Mapping[str, Any]]


def conform(schema: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` shaped to ``schemas/<schema>.avsc``; raise ``ShapeError`` if it cannot be."""
    root = schemas.raw(schema)
    return _record(root, record, _named(schema), "")


@functools.cache
def _named(schema: str) -> Named:
    """Every named type of the schema by full and short name."""
    named: Named = {}
    for node in _walk(schemas.raw(schema), schemas.raw(schema).get("namespace", "")):
        name, namespace = node[0], node[1]
        named[name] = node[2]
        named[f"{namespace}.{name}" if namespace else name] = node[2]
    return named


def _walk(avro_type: Any, namespace: str) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from _walk(branch, namespace)
    elif isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            space = avro_type.get("namespace", namespace)
            yield avro_type["name"], space, avro_type
            for field in avro_type["fields"]:
                yield from _walk(field["type"], space)
        elif kind == "array":
            yield from _walk(avro_type["items"], namespace)
        elif kind == "map":
            yield from _walk(avro_type["values"], namespace)


def _record(
    schema: Mapping[str, Any], value: Mapping[str, Any], named: Named, path: str
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{path.rstrip('.') or 'record'} is not an object for {schema['name']}"
        raise ShapeError(msg)
    fields = schema["fields"]
    unknown = set(value) - {f["name"] for f in fields}
    if unknown:
        names = sorted(path + str(n) for n in unknown)
        msg = f"{names} not in schema record {schema['name']}"
        raise ShapeError(msg)
    out: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        item = value.get(name)
        if item is not None:
            out[name] = _value(field["type"], item, named, path + name)
        elif "default" in field:
            out[name] = copy.deepcopy(field["default"])
        else:
            msg = f"required field {path + name!r} is missing"
            raise ShapeError(msg)
    return out


def _value(avro_type: Any, value: Any, named: Named, path: str) -> Any:
    if isinstance(avro_type, str) and avro_type in named:
        avro_type = named[avro_type]
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        if len(branches) != 1:
            msg = f"{path}: unions of several non-null types are not supported"
            raise ShapeError(msg)
        return _value(branches[0], value, named, path)
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            return _record(avro_type, value, named, path + ".")
        if kind == "array":
            if not isinstance(value, list | tuple):
                msg = f"{path} is not an array"
                raise ShapeError(msg)
            return [_value(avro_type["items"], v, named, f"{path}[{i}]")
                    for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping):
                msg = f"{path} is not a map"
                raise ShapeError(msg)
            return {str(k): _value(avro_type["values"], v, named, f"{path}.{k}")
                    for k, v in value.items()}
    return value
