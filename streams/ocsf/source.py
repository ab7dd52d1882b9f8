"""The raw record as Cloudflare sent it: rebuilt from a decoded raw-topic value, then read.

A raw topic's Avro value keeps Cloudflare's field names, JSON-encodes free-form objects
(``json_fields``, map values) and parks unknown fields in ``extra`` (dotted path -> JSON).
``restore`` undoes all of that, so the mappings read plain Cloudflare JSON by dotted path,
and ``raw_data`` is the record as Cloudflare sent it (nulls and absent fields are the same).

``dumps`` is ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` with a fast
path for scalars; ``dumps_record`` the same text for a whole record, written by orjson when
its text is provably identical. ``Restorer`` is ``restore`` compiled for one raw schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from json.encoder import encode_basestring
from typing import Any

import orjson

EXTRA = "extra"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_encode = _ENCODER.encode
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_SUBCLASS)
_decode_json = json.loads
_isfinite = math.isfinite


def _float(value: float) -> str:
    return float.__repr__(value) if _isfinite(value) else _encode(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring, int: int.__repr__, bool: _bool, float: _float,
}


def dumps(value: Any) -> str:
    """Compact JSON text (the encoding of ``unmapped`` values and ``raw_data``)."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    if type(value) is list and not value:
        return "[]"
    return _encode(value)


def dumps_record(value: Any) -> str:
    """``dumps(value)`` of a whole record: orjson's text when it is the same (see
    ``orjson_text``), else json's."""
    found = orjson_text(value)
    return _encode(value) if found is None else found


def orjson_text(value: Any) -> str | None:
    """orjson's text of ``value`` when it is provably ``dumps(value)``, else None.

    orjson writes every value as ``json.dumps`` does except floats below 1e-4
    (``0.00001``, ``1e-7``; json ``1e-05``, ``1e-07``) and NaN/Infinity (``null``), and
    refuses what json cannot write or writes differently (integers beyond 64 bits, lone
    surrogates, non-string keys, subclasses, dataclasses, datetimes). So a text without
    ``null``, ``0.0000`` and ``<digit>e-<digit>`` is json's text.
    """
    try:
        data = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return None
    return data.decode() if _same_as_json(data) else None


_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19  # orjson reads integers beyond 64 bits as floats: json does those
_orjson_loads = orjson.loads
_OrjsonDecodeError = orjson.JSONDecodeError


def loads(text: Any) -> Any:
    """``json.loads(text)``: by orjson when that gives the same value, else by json.

    orjson refuses NaN/Infinity, overflowing floats and lone surrogates (json reads them)
    and reads integers beyond 64 bits as floats (texts with a 19-digit run go to json).
    """
    if type(text) is str:
        try:
            if _LONG_NUMBER not in text.encode().translate(_DIGITS_TO_ZERO):
                return _orjson_loads(text)
        except (_OrjsonDecodeError, UnicodeEncodeError):
            pass
    return _decode_json(text)


#: a separator no encoded value can hold (checked by counting the pieces)
_SENTINEL = "\x00"
_SPLIT = ',"\\u0000",'


def value_texts(values: list[Any] | tuple[Any, ...]) -> list[str] | None:
    """``[dumps(v) for v in values]`` in one orjson call, or None when that is not provably
    the same (see ``orjson_text``; also for a None among ``values``, written ``null``)."""
    count = len(values)
    if count == 0:
        return []
    spaced = [_SENTINEL] * (2 * count - 1)
    spaced[::2] = values
    try:
        data = orjson.dumps(spaced, option=_ORJSON_OPTIONS)
    except TypeError:
        return None
    if not _same_as_json(data):
        return None
    texts = data.decode()[1:-1].split(_SPLIT)
    return texts if len(texts) == count else None


def _same_as_json(data: bytes) -> bool:
    if b"null" in data or b"0.0000" in data:
        return False
    at = data.find(b"e-")
    while at > 0:
        if 48 <= data[at - 1] <= 57 and at + 2 < len(data) and 48 <= data[at + 2] <= 57:
            return False
        at = data.find(b"e-", at + 2)
    return True


def restore(
    schema: Mapping[str, Any], value: Mapping[str, Any], json_fields: frozenset[str]
) -> dict[str, Any]:
    """The Cloudflare record a decoded raw-topic ``value`` of ``schema`` was made from.

    Raises ``ValueError`` when a JSON-encoded part is not JSON.
    """
    out = _restore(schema, value, "", json_fields)
    _apply_extra(out, value.get(EXTRA))
    return out


def _apply_extra(out: dict[str, Any], extra: Any) -> None:
    for path, text in (extra or {}).items():
        target = out
        *parents, leaf = path.split(".")
        for parent in parents:
            node = target.get(parent)
            if not isinstance(node, dict):
                node = target[parent] = {}
            target = node
        target[leaf] = json.loads(text)


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


# -- restore, compiled ----------------------------------------------------------------------

_PLAIN, _JSON, _RECORD, _MAP = range(4)
Plan = tuple[tuple[str, int, Any], ...]


class Restorer:
    """``restore`` for one raw schema, planned once.

    ``fast(value)`` returns the restored record with one difference that no reader of it
    sees: top-level fields the topic value has as null are there as None (lookups, leaves
    and the scope check treat None as absent; ``exact`` drops them for ``raw_data``). It
    returns None when ``value`` is not a plain decoded value (fields in schema order, no
    ``extra``): then use ``restore``, which ``slow`` is.
    """

    def __init__(self, schema: Mapping[str, Any], json_fields: frozenset[str]) -> None:
        self.schema = schema
        self.json_fields = json_fields
        self.plan = self._plan(schema, "")
        self.names = [f["name"] for f in schema["fields"]]
        self.has_extra = EXTRA in self.names
        top = [(n, kind, sub) for n, kind, sub in self.plan if kind != _PLAIN]
        self.top_json = tuple(n for n, kind, _ in top if kind == _JSON)
        self.top_records = tuple((n, sub) for n, kind, sub in top if kind == _RECORD)
        self.top_maps = tuple(n for n, kind, _ in top if kind == _MAP)

    def _plan(self, schema: Mapping[str, Any], prefix: str) -> Plan:
        plan = []
        for field in schema["fields"]:
            name = field["name"]
            if not prefix and name == EXTRA:
                continue
            avro_type = _non_null(field["type"])
            kind = _PLAIN
            sub: Any = None
            if prefix + name in self.json_fields:
                kind = _JSON
            elif isinstance(avro_type, dict) and avro_type.get("type") == "record":
                kind, sub = _RECORD, self._plan(avro_type, prefix + name + ".")
            elif isinstance(avro_type, dict) and avro_type.get("type") == "map":
                kind = _MAP
            plan.append((name, kind, sub))
        return tuple(plan)

    def slow(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """``restore(schema, value, json_fields)``."""
        out = self._nested(self.plan, value)
        _apply_extra(out, value.get(EXTRA))
        return out

    def _nested(self, plan: Plan, value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        get = value.get
        for name, kind, sub in plan:
            item = get(name)
            if item is None:
                continue
            if kind == _PLAIN:
                out[name] = item
            elif kind == _JSON:
                out[name] = loads(item)
            elif kind == _RECORD:
                out[name] = self._nested(sub, item)
            else:
                out[name] = {k: loads(v) for k, v in item.items()}
        return out

    def fast(self, value: Mapping[str, Any]) -> dict[str, Any] | None:
        """The restored record with null top-level fields kept as None, or None (above)."""
        if type(value) is not dict or list(value) != self.names:
            return None
        out = value.copy()
        if self.has_extra:
            if out.pop(EXTRA):
                return None
        for name in self.top_json:
            item = out[name]
            if item is not None:
                out[name] = loads(item)
        for name, sub in self.top_records:
            item = out[name]
            if item is not None:
                out[name] = self._nested(sub, item)
        for name in self.top_maps:
            item = out[name]
            if item is not None:
                out[name] = {k: loads(v) for k, v in item.items()}
        return out

    @staticmethod
    def exact(fast: dict[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
        """``fast``'s record without the top-level fields that are null on the topic."""
        return {k: v for k, v in fast.items() if value[k] is not None}


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
