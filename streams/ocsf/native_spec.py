"""A dataset's field map digested to JSON for the native normalizer (``cfkafka_native``).

``spec(dataset)`` is the JSON text ``native/src/streams/ocsf.rs`` (``Normalizer::from_spec``)
reads: the rules (target, sources, transform name), ``keep``, the raw schema's top-level
fields and how ``restore`` treats them, the time spec, the class (ids, captions, the shape
of its Avro schema) and the lookup tables the transforms use, all taken from the Python
modules. It is None when the dataset needs something the native side does not implement
(a transform, a route condition, a raw nested record, a recursive class schema): the worker
keeps the Python normalizer for that dataset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import schemas

from . import http_map, security_actions, transforms
from .classes import ACTION, DISPOSITION, OCSF_VERSION, SEVERITY, VENDOR
from .datasets import DATASETS
from .engine import Dataset
from .shape import ShapeCompiler, named_types
from .source import EXTRA

#: transform name -> the Python function the native side reproduces
TRANSFORMS: Mapping[str, Any] = {
    f.__name__: f for f in (
        transforms.text, transforms.integer, transforms.number, transforms.country,
        transforms.first_text, transforms.query_of, transforms.url_of_uri,
        transforms.name_values, transforms.edge_time_ms, http_map.http_activity_id,
        http_map.response_status_id, http_map.edge_time_or_none,
        security_actions.action_id, security_actions.action_name,
        security_actions.disposition_id, security_actions.disposition_name,
        security_actions.denied_severity_id,
    )
}


class Unsupported(Exception):  # noqa: N818 - internal signal, never escapes spec()
    """The dataset needs something the native normalizer does not implement."""


def spec(dataset: str) -> str | None:
    """The native normalizer's JSON digest of ``dataset``, or None (keep Python)."""
    found = DATASETS.get(dataset)
    if found is None:
        return None
    try:
        digest = _digest(found)
    except Unsupported:
        return None
    return json.dumps(digest, separators=(",", ":"), ensure_ascii=False)


def _transform(function: Any) -> str | None:
    if function is None:
        return None
    name = getattr(function, "__name__", None)
    if not isinstance(name, str) or TRANSFORMS.get(name) is not function:
        raise Unsupported(name)
    return name


def _digest(dataset: Dataset) -> dict[str, Any]:
    if len(dataset.routes) != 1 or dataset.routes[0].when is not None:
        msg = "route conditions"
        raise Unsupported(msg)
    mapping = dataset.routes[0].mapping
    cls = mapping.ocsf_class
    read = {s for r in mapping.rules for s in r.sources} | set(dataset.time.sources)
    if "@snapshot_at" in read:  # the native side reads account_name and snapshot_at as None
        msg = "cf.snapshot_at"
        raise Unsupported(msg)
    time_parse = _transform(dataset.time.parse)
    return {
        "dataset": dataset.name,
        "product": dataset.product,
        "vendor": VENDOR,
        "ocsf_version": OCSF_VERSION,
        "raw_fields": _raw_fields(dataset),
        "time": {"sources": list(dataset.time.sources), "parse": time_parse},
        "rules": [{"target": r.target, "sources": list(r.sources),
                   "transform": _transform(r.transform)} for r in mapping.rules],
        "keep": sorted(mapping.keep),
        "class": {
            "uid": cls.uid,
            "name": cls.name,
            "category_uid": cls.category_uid,
            "category_name": cls.category_name,
            "activities": _pairs(cls.activities),
            "statuses": _pairs(cls.statuses),
            "shape": _shape(cls.schema),
        },
        "severity": _pairs(SEVERITY),
        "tables": {
            "methods": dict(http_map.METHODS),
            "security_actions": {k: list(v) for k, v in security_actions.SECURITY_ACTIONS.items()},
            "action": _pairs(ACTION),
            "disposition": _pairs(DISPOSITION),
        },
    }


def _pairs(table: Mapping[int, str]) -> list[list[Any]]:
    return [[k, v] for k, v in table.items()]


def _raw_fields(dataset: Dataset) -> list[dict[str, Any]]:
    """The raw schema's fields in order: ``plain``, ``json`` (a JSON text), ``map`` (of JSON
    texts) or ``extra`` (the unknown-fields map), as ``source.restore`` reads them."""
    out = []
    compiler = ShapeCompiler(named_types(dataset.raw_schema))
    for field in schemas.raw(dataset.raw_schema)["fields"]:
        name = field["name"]
        resolved = compiler.resolve(field["type"])
        kind = "plain"
        if name == EXTRA:
            kind = "extra"
        elif name in dataset.json_fields:
            kind = "json"
        elif isinstance(resolved, dict) and resolved.get("type") == "record":
            msg = "raw nested records"
            raise Unsupported(msg)
        elif isinstance(resolved, dict) and resolved.get("type") == "map":
            kind = "map"
        out.append({"name": name, "kind": kind})
    return out


def _shape(schema: str) -> dict[str, Any]:
    """The class schema as ``conform_reference`` walks it: per record its fields in order,
    each with ``default`` (when it has one) and ``kind``: ``value`` (kept as it is),
    ``record``/``records`` (a record or an array of records, with ``fields``), ``array``
    or ``map`` (of values kept as they are)."""
    compiler = ShapeCompiler(named_types(schema))
    seen: set[int] = set()

    def record(node: Mapping[str, Any]) -> dict[str, Any]:
        if id(node) in seen:
            msg = "recursive schema"
            raise Unsupported(msg)
        seen.add(id(node))
        fields = []
        for field in node["fields"]:
            out: dict[str, Any] = {"name": field["name"]}
            if "default" in field:
                out["default"] = field["default"]
            out.update(kind(field["type"]))
            fields.append(out)
        seen.discard(id(node))
        return {"fields": fields}

    def kind(avro_type: Any) -> dict[str, Any]:
        resolved = compiler.resolve(avro_type)
        if resolved is None:
            msg = "union of several types"
            raise Unsupported(msg)
        if not isinstance(resolved, dict):
            return {"kind": "value"}
        found = resolved.get("type")
        if found == "record":
            return {"kind": "record", **record(resolved)}
        if found == "array":
            items = compiler.resolve(resolved["items"])
            if isinstance(items, dict) and items.get("type") == "record":
                return {"kind": "records", **record(items)}
            if isinstance(items, dict) or items is None:
                msg = "array of complex items"
                raise Unsupported(msg)
            return {"kind": "array"}
        if found == "map":
            values = compiler.resolve(resolved["values"])
            if isinstance(values, dict) or values is None:
                msg = "map of complex values"
                raise Unsupported(msg)
            return {"kind": "map"}
        return {"kind": "value"}  # enum, fixed: kept as they are

    return record(schemas.raw(schema))
