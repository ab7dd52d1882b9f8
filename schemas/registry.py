"""Confluent Schema Registry wire format and subject registration.

Wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body
(https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format).
Works against Confluent Schema Registry and Apicurio's ``/apis/ccompat/v7`` API.

``Encoder`` and ``Decoder`` run each schema compiled into Python functions
(``compile_writer``, ``compile_reader``: 2-3x fastavro's speed on our records, see
bench/pipeline_bench.py); fastavro is the reference they are tested against and does every
record or message the compiled code does not take, so the results are fastavro's.
"""

from __future__ import annotations

import io
import json
import operator
import struct
from collections.abc import Callable, Mapping
from itertools import chain
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

MAGIC = 0
_HEADER = struct.Struct(">bI")


class WireFormatError(ValueError):
    """Bytes that are not a Confluent-framed Avro message, or an unknown schema id."""


def registry_client(url: str, conf: Mapping[str, Any] | None = None) -> SchemaRegistryClient:
    """Build a registry client for ``url`` (no trailing slash) with extra client ``conf``."""
    return SchemaRegistryClient({"url": url if url.startswith("mock:") else url.rstrip("/"),
                                 **(conf or {})})


def register(
    client: SchemaRegistryClient, subject: str, schema_text: str, compatibility: str = "BACKWARD"
) -> int:
    """Set ``compatibility`` on ``subject``, then register ``schema_text``; return its id.

    Raises ``SchemaRegistryError`` (with the registry's message) when the schema is incompatible.
    """
    try:
        client.set_compatibility(subject_name=subject, level=compatibility)
    except SchemaRegistryError:
        # Some registries refuse config on a subject that does not exist yet; set it after.
        schema_id = client.register_schema(subject, Schema(schema_text, "AVRO"))
        client.set_compatibility(subject_name=subject, level=compatibility)
        return int(schema_id)
    return int(client.register_schema(subject, Schema(schema_text, "AVRO")))


# -- compiled codecs -------------------------------------------------------------------------
#
# fastavro's ``schemaless_writer`` picks a union's branch by validating the value against each
# branch, so a record under ``["null", record]`` is validated in depth before it is written
# (a nested OCSF record is walked once per union above it), and its ``schemaless_reader``
# reads through a file object. ``compile_writer`` and ``compile_reader`` generate, once per
# schema, straight-line Python functions for the common case: exact Python types (``str``,
# ``int``, ``float``, ``bool``, ``None``, ``dict``, ``list``) and records holding exactly
# their schema's fields. Anything else (a field left out for its default, an extra field, a
# subclass, a tuple, an int beyond the Avro range, an unexpected byte) makes the compiled
# function give up and fastavro does the whole record, so the bytes, records and errors are
# fastavro's in every case. Schemas with types the compiler does not handle (enum, fixed,
# bytes, logical types, unions it cannot resolve by Python type) are fastavro's throughout.

#: ``write(record, append)``: appends the Avro body's pieces
Writer = Callable[[Any, Callable[[bytes], Any]], None]
#: ``read(data, offset) -> (record, end offset)``
Reader = Callable[[bytes, int], tuple[Any, int]]


class _GiveUp(Exception):
    """Raised by compiled code for a value it does not handle: fastavro does the record."""


class _Unsupported(Exception):
    """A schema (part) the compiler leaves to fastavro."""


_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string"})
_NUMBERS = frozenset({"int", "long", "float", "double"})
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_FLOAT = struct.Struct("<f").pack
_UNPACK_DOUBLE = struct.Struct("<d").unpack_from
_UNPACK_FLOAT = struct.Struct("<f").unpack_from


#: varint bytes of 14-bit chunks: the last chunk (1-2 bytes), a chunk with more to come (2)
_LAST14: tuple[bytes, ...] = tuple(
    bytes((n,)) if n < 128 else bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(1 << 14))
_MORE14: tuple[bytes, ...] = tuple(bytes(((m & 0x7F) | 0x80, ((m >> 7) & 0x7F) | 0x80))
                                   for m in range(1 << 14))


def _varint(n: int) -> bytes:
    """Unsigned LEB128 bytes of ``0 <= n < 2**70`` (14 bits per table lookup)."""
    if n < 16384:
        return _LAST14[n]
    more = _MORE14
    if n < 268435456:
        return more[n & 16383] + _LAST14[n >> 14]
    parts = []
    while n >= 16384:
        parts.append(more[n & 16383])
        n >>= 14
    parts.append(_LAST14[n])
    return b"".join(parts)


def _zigzag(value: int) -> bytes:
    """Avro ``long`` bytes of ``value`` (zig-zag varint; ``value`` in the 64-bit range)."""
    return _varint((value << 1) ^ (value >> 63))


def _long_bytes(value: int) -> bytes:
    """``_zigzag`` of an Avro ``long``; gives up beyond 64 bits (fastavro raises)."""
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise _GiveUp
    return _zigzag(value)


def _int_bytes(value: int) -> bytes:
    """``_zigzag`` of an Avro ``int``; gives up beyond 32 bits (fastavro decides)."""
    if not _INT_MIN <= value <= _INT_MAX:
        raise _GiveUp
    return _zigzag(value)


_TABLE = 8192
#: Avro long bytes of small values (also lengths and counts)
_SMALL: dict[int, bytes] = {v: _LAST14[(v << 1) ^ (v >> 63)] for v in range(-_TABLE, _TABLE)}
_ONLY_STR = frozenset({str})


class _LatinLengths(dict[int, str]):
    """Avro long bytes of a length as latin-1 text (one character per byte)."""

    def __missing__(self, n: int) -> str:
        return _zigzag(n).decode("latin-1")


_LATIN_LENGTHS = _LatinLengths({n: _SMALL[n].decode("latin-1") for n in range(_TABLE)})
#: a length below 64 -> its one Avro byte (2n); 64 and more -> 0x80 (not ASCII: look again)
_ONE_BYTE_LENGTHS = bytes(2 * n if n < 64 else 0x80 for n in range(256))


def _string_map(value: dict[Any, Any]) -> bytes:
    """The key/value pieces of one block of a non-empty ``map<string>`` (exact ``str`` keys
    and values, else ``_GiveUp``).

    ASCII keys and values (the usual JSON texts of ``unmapped``) are written with one
    ``encode``: their UTF-8 is their latin-1 and their length in bytes their length.
    """
    keys = [*value]
    values = [*value.values()]
    if {*map(type, keys), *map(type, values)} != _ONLY_STR:
        raise _GiveUp
    if "".join(keys).isascii() and "".join(values).isascii():
        parts: list[str] = [""] * (4 * len(keys))
        try:  # lengths below 64 are one byte each: all of them at once
            key_sizes = bytes(map(len, keys)).translate(_ONE_BYTE_LENGTHS)
            value_sizes = bytes(map(len, values)).translate(_ONE_BYTE_LENGTHS)
        except ValueError:  # a length of 256 or more
            key_sizes = value_sizes = b"\x80"
        if key_sizes.isascii() and value_sizes.isascii():
            parts[0::4] = key_sizes.decode("ascii")
            parts[2::4] = value_sizes.decode("ascii")
        else:
            parts[0::4] = map(_LATIN_LENGTHS.__getitem__, map(len, keys))
            parts[2::4] = map(_LATIN_LENGTHS.__getitem__, map(len, values))
        parts[1::4] = keys
        parts[3::4] = values
        return "".join(parts).encode("latin-1")
    out: list[bytes] = []
    for text in chain.from_iterable(zip(keys, values, strict=True)):
        data = text.encode()
        out.append(_SMALL.get(len(data)) or _long_bytes(len(data)))
        out.append(data)
    return b"".join(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """``(unsigned value, next offset)`` of the varint at ``pos`` (at most 64 bits)."""
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise _GiveUp
    if value >> 64:
        raise _GiveUp
    return value, pos


def _kind(schema: Any, named: Mapping[str, Any]) -> tuple[str, Any]:
    """``(kind, schema)`` of a parsed schema: a primitive, "record", "array", "map" or
    "union" (a named reference resolved); ``_Unsupported`` for anything else."""
    if isinstance(schema, list):
        return "union", schema
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema, schema
        found = named.get(schema)
        if isinstance(found, dict) and found.get("type") == "record":
            return "record", found
        raise _Unsupported(schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if "logicalType" in schema:
            raise _Unsupported(str(schema["logicalType"]))
        if kind in _PRIMITIVES:
            return str(kind), kind
        if kind in ("record", "array", "map"):
            return str(kind), schema
        if isinstance(kind, (str, list, dict)) and len(schema) == 1:
            return _kind(kind, named)
    raise _Unsupported(repr(schema)[:80])


def _named_records(schema: Any, named: dict[str, Any]) -> None:
    """Collect the records defined in ``schema`` by full name (fastavro's parsed form)."""
    if isinstance(schema, list):
        for branch in schema:
            _named_records(branch, named)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record" and isinstance(schema.get("name"), str):
            if schema["name"] in named:
                return
            named[schema["name"]] = schema
            for fld in schema["fields"]:
                _named_records(fld["type"], named)
        elif kind == "array":
            _named_records(schema["items"], named)
        elif kind == "map":
            _named_records(schema["values"], named)
        elif isinstance(kind, (list, dict)):
            _named_records(kind, named)


def _branches(union: list[Any], named: Mapping[str, Any]) -> dict[type, tuple[int, str, Any]]:
    """The branch fastavro writes a value of each exact Python type to:
    ``{type: (index, kind, schema)}``; a type left out is fastavro's to resolve.

    fastavro takes the first branch that validates the value (a float prefers a later
    ``double`` to a ``float``): ``None`` -> null, ``str`` -> string, ``bool`` -> boolean
    (ints and floats refuse bools), ``float`` -> double (else float), ``int`` -> the first
    numeric branch when it is int or long (its range is checked: outside it fastavro looks
    further), ``dict`` -> the one record or the one map, ``list`` -> the one array.
    """
    kinds = [(index, *_kind(branch, named)) for index, branch in enumerate(union)]
    if any(kind == "union" for _, kind, _ in kinds):
        msg = "a union in a union"
        raise _Unsupported(msg)

    def first(*wanted: str) -> tuple[int, str, Any] | None:
        return next((k for k in kinds if k[1] in wanted), None)

    def only(wanted: str) -> tuple[int, str, Any] | None:
        found = [k for k in kinds if k[1] == wanted]
        return found[0] if len(found) == 1 else None

    out: dict[type, tuple[int, str, Any]] = {}
    for pytype, found in (
        (type(None), first("null")), (str, first("string")), (bool, first("boolean")),
        (float, first("double") or first("float")), (list, only("array")),
    ):
        if found is not None:
            out[pytype] = found
    number = first(*_NUMBERS)
    if number is not None and number[1] in ("int", "long"):
        out[int] = number
    records, maps = only("record"), only("map")
    if [k for k in kinds if k[1] in ("record", "map")] == [k for k in (records, maps) if k]:
        dict_branch = records or maps
        if dict_branch is not None and not (records and maps):
            out[dict] = dict_branch
    return out


class _Codegen:
    """One generated module: a function per record type, reached from the top record."""

    def __init__(self, schema: Any) -> None:
        if not isinstance(schema, dict) or schema.get("type") != "record":
            msg = "the top level is not a record"
            raise _Unsupported(msg)
        self.named: dict[str, Any] = dict(schema.get("__named_schemas") or {})
        _named_records(schema, self.named)
        self.top = schema
        self.functions: dict[str, str] = {}
        self.pending: list[Mapping[str, Any]] = []
        self.env: dict[str, Any] = {"_GiveUp": _GiveUp}
        self.lines: list[str] = []
        self.count = 0

    def local(self, prefix: str) -> str:
        """A fresh local name."""
        self.count += 1
        return f"{prefix}{self.count}"

    def bind(self, prefix: str, value: Any) -> str:
        """A fresh global holding ``value``."""
        name = self.local(prefix)
        self.env[name] = value
        return name

    def emit(self, line: str, indent: int) -> None:
        """One line of generated source."""
        self.lines.append("    " * indent + line)

    def function(self, record: Mapping[str, Any]) -> str:
        """The generated function of ``record`` (queued for generation on first use)."""
        key = str(record["name"])
        if key not in self.functions:
            self.functions[key] = f"_record{len(self.functions)}"
            self.pending.append(record)
        return self.functions[key]

    def record(self, record: Mapping[str, Any]) -> None:
        """Emit the function of one record."""
        raise NotImplementedError

    def build(self, label: str) -> Any:
        """Generate every function, compile them; the top record's function."""
        entry = self.function(self.top)
        while self.pending:
            self.record(self.pending.pop())
        code = compile("\n".join(self.lines), f"<avro {label} {self.top['name']}>", "exec")
        exec(code, self.env)  # noqa: S102 - our own generated source
        return self.env[entry]


#: union branch bytes + long bytes of small values, by (branch, "string"/"number")
_PREFIXED: dict[tuple[int, str], dict[int, bytes]] = {}


class _WriterGen(_Codegen):
    """``write(record, append)`` source: the record's pieces appended, or ``_GiveUp``."""

    def __init__(self, schema: Any) -> None:
        super().__init__(schema)
        self.env.update({"_SMALL": _SMALL, "_long": _long_bytes, "_int": _int_bytes,
                         "_string_map": _string_map,
                         "_pack_double": _PACK_DOUBLE, "_pack_float": _PACK_FLOAT})
        self.prefixed: dict[tuple[int, str], str] = {}

    def prefix_table(self, index: int, kind: str) -> str:
        """A global ``{small value: union branch bytes + long bytes}`` for branch ``index``
        (lengths for strings, values for int and long; shared by every writer)."""
        key = (index, kind if kind == "string" else "number")
        if key not in self.prefixed:
            table = _PREFIXED.get(key)
            if table is None:
                branch = _zigzag(index)
                values = range(_TABLE) if kind == "string" else range(-_TABLE, _TABLE)
                table = _PREFIXED[key] = {v: branch + _SMALL[v] for v in values}
            self.prefixed[key] = self.bind("_u", table)
        return self.prefixed[key]

    def record(self, record: Mapping[str, Any]) -> None:
        fields = record["fields"]
        names = tuple(str(f["name"]) for f in fields)
        self.emit(f"def {self.functions[str(record['name'])]}(d, w):", 0)
        if not names:
            self.emit("if type(d) is not dict or d:", 1)
            self.emit("raise _GiveUp", 2)
            self.emit("return", 1)
            return
        self.emit(f"if type(d) is not dict or len(d) != {len(names)}:", 1)
        self.emit("raise _GiveUp", 2)
        values = [self.local("v") for _ in names]
        if len(names) == 1:
            self.emit(f"{values[0]} = d[{names[0]!r}]", 1)
        else:
            getter = self.bind("_get", operator.itemgetter(*names))
            self.emit(f"{', '.join(values)} = {getter}(d)", 1)
        for value, fld in zip(values, fields, strict=True):
            self.value(value, fld["type"], 1)

    def value(self, var: str, schema: Any, indent: int, checked: bool = False,
              prefix: bytes = b"") -> None:
        """Emit the writing of local ``var`` of ``schema`` (``checked``: its exact type is
        known; ``prefix``: union branch bytes to write first)."""
        kind, resolved = _kind(schema, self.named)
        if kind == "union":
            self.union(var, resolved, indent)
            return
        check = {"string": "str", "int": "int", "long": "int", "double": "float",
                 "float": "float", "array": "list", "map": "dict"}.get(kind)
        if check is not None and not checked:
            self.emit(f"if type({var}) is not {check}:", indent)
            self.emit("raise _GiveUp", indent + 1)
        if prefix and kind not in ("string", "int", "long"):
            self.emit(f"w({prefix!r})", indent)
        if kind == "null":
            if not checked:
                self.emit(f"if {var} is not None:", indent)
                self.emit("raise _GiveUp", indent + 1)
        elif kind == "boolean":
            if checked:
                self.emit(f"w(b'\\x01' if {var} else b'\\x00')", indent)
            else:
                self.emit(f"if {var} is True:", indent)
                self.emit("w(b'\\x01')", indent + 1)
                self.emit(f"elif {var} is False:", indent)
                self.emit("w(b'\\x00')", indent + 1)
                self.emit("else:", indent)
                self.emit("raise _GiveUp", indent + 1)
        elif kind in ("int", "long"):
            table = self.prefix_table(prefix[0] >> 1, kind) if prefix else "_SMALL"
            big = "_int" if kind == "int" else "_long"
            tail = f"{prefix!r} + " if prefix else ""
            self.emit(f"w({table}.get({var}) or {tail}{big}({var}))", indent)
        elif kind == "double":
            self.emit(f"w(_pack_double({var}))", indent)
        elif kind == "float":
            self.emit(f"w(_pack_float({var}))", indent)
        elif kind == "string":
            data = self.local("b")
            table = self.prefix_table(prefix[0] >> 1, kind) if prefix else "_SMALL"
            tail = f"{prefix!r} + " if prefix else ""
            self.emit(f"{data} = {var}.encode()", indent)
            self.emit(f"w({table}.get(len({data})) or {tail}_long(len({data})))", indent)
            self.emit(f"w({data})", indent)
        elif kind == "record":
            self.emit(f"{self.function(resolved)}({var}, w)", indent)
        elif kind == "array":
            item = self.local("i")
            self.emit(f"if {var}:", indent)
            self.emit(f"w(_SMALL.get(len({var})) or _long(len({var})))", indent + 1)
            self.emit(f"for {item} in {var}:", indent + 1)
            self.value(item, resolved["items"], indent + 2)
            self.emit("w(b'\\x00')", indent)
        elif kind == "map" and _kind(resolved["values"], self.named)[0] == "string":
            self.emit(f"if {var}:", indent)
            self.emit(f"w(_SMALL.get(len({var})) or _long(len({var})))", indent + 1)
            self.emit(f"w(_string_map({var}))", indent + 1)
            self.emit("w(b'\\x00')", indent)
        elif kind == "map":
            key, item, data = self.local("k"), self.local("i"), self.local("b")
            self.emit(f"if {var}:", indent)
            self.emit(f"w(_SMALL.get(len({var})) or _long(len({var})))", indent + 1)
            self.emit(f"for {key}, {item} in {var}.items():", indent + 1)
            self.emit(f"if type({key}) is not str:", indent + 2)
            self.emit("raise _GiveUp", indent + 3)
            self.emit(f"{data} = {key}.encode()", indent + 2)
            self.emit(f"w(_SMALL.get(len({data})) or _long(len({data})))", indent + 2)
            self.emit(f"w({data})", indent + 2)
            self.value(item, resolved["values"], indent + 2)
            self.emit("w(b'\\x00')", indent)
        else:  # pragma: no cover - _kind returns nothing else
            raise _Unsupported(kind)

    def union(self, var: str, union: list[Any], indent: int) -> None:
        branches = _branches(union, self.named)
        keyword = "if"
        # None first (the common case of an optional field), then the rest in a fixed order
        order = [type(None), str, int, bool, float, dict, list]
        for pytype in order:
            if pytype not in branches:
                continue
            index, _, schema = branches[pytype]
            if index >= 64:
                msg = "a union of more than 64 branches"
                raise _Unsupported(msg)
            test = (f"{var} is None" if pytype is type(None)
                    else f"type({var}) is {pytype.__name__}")
            self.emit(f"{keyword} {test}:", indent)
            keyword = "elif"
            if pytype is type(None):
                self.emit(f"w({_zigzag(index)!r})", indent + 1)
            else:
                self.value(var, schema, indent + 1, checked=True, prefix=_zigzag(index))
        if keyword == "if":
            self.emit("raise _GiveUp", indent)
        else:
            self.emit("else:", indent)
            self.emit("raise _GiveUp", indent + 1)


class _ReaderGen(_Codegen):
    """``read(data, pos) -> (record, pos)`` source; ``_GiveUp`` (or any error) for bytes it
    does not read as fastavro would."""

    def __init__(self, schema: Any) -> None:
        super().__init__(schema)
        self.env.update({"_varint": _read_varint, "_double": _UNPACK_DOUBLE,
                         "_float": _UNPACK_FLOAT})

    def record(self, record: Mapping[str, Any]) -> None:
        fields = record["fields"]
        self.emit(f"def {self.functions[str(record['name'])]}(data, pos):", 0)
        values = []
        for fld in fields:
            var = self.local("v")
            values.append(var)
            self.value(var, fld["type"], 1)
        items = ", ".join(f"{str(f['name'])!r}: {v}" for f, v in zip(fields, values,
                                                                        strict=True))
        self.emit(f"return {{{items}}}, pos", 1)

    def varint(self, var: str, indent: int) -> None:
        """Emit: ``var`` = the unsigned varint at ``pos``; ``pos`` after it (one and two
        bytes inline: values below 8192, lengths below 8192 bytes)."""
        second = self.local("x")
        self.emit(f"{var} = data[pos]", indent)
        self.emit(f"if {var} < 128:", indent)
        self.emit("pos += 1", indent + 1)
        self.emit("else:", indent)
        self.emit(f"{second} = data[pos + 1]", indent + 1)
        self.emit(f"if {second} < 128:", indent + 1)
        self.emit(f"{var} = ({var} & 127) | ({second} << 7)", indent + 2)
        self.emit("pos += 2", indent + 2)
        self.emit("else:", indent + 1)
        self.emit(f"{var}, pos = _varint(data, pos)", indent + 2)

    def value(self, var: str, schema: Any, indent: int) -> None:
        """Emit the reading of ``schema`` into local ``var``."""
        kind, resolved = _kind(schema, self.named)
        if kind == "union":
            self.union(var, resolved, indent)
        elif kind == "null":
            self.emit(f"{var} = None", indent)
        elif kind == "boolean":
            self.emit(f"{var} = data[pos]", indent)
            self.emit("pos += 1", indent)
            self.emit(f"if {var} > 1:", indent)
            self.emit("raise _GiveUp", indent + 1)
            self.emit(f"{var} = {var} == 1", indent)
        elif kind in ("int", "long"):
            self.varint(var, indent)
            self.emit(f"{var} = ({var} >> 1) ^ -({var} & 1)", indent)
        elif kind == "double":
            self.emit(f"{var} = _double(data, pos)[0]", indent)
            self.emit("pos += 8", indent)
        elif kind == "float":
            self.emit(f"{var} = _float(data, pos)[0]", indent)
            self.emit("pos += 4", indent)
        elif kind == "string":
            self.string(var, indent)
        elif kind == "record":
            self.emit(f"{var}, pos = {self.function(resolved)}(data, pos)", indent)
        elif kind in ("array", "map"):
            count, item = self.local("n"), self.local("i")
            self.emit(f"{var} = {{}}" if kind == "map" else f"{var} = []", indent)
            self.emit("while True:", indent)
            self.varint(count, indent + 1)
            self.emit(f"if not {count}:", indent + 1)
            self.emit("break", indent + 2)
            # a negative count (a block with its size) or more items than bytes: fastavro's
            self.emit(f"if {count} & 1 or {count} >> 1 > len(data):", indent + 1)
            self.emit("raise _GiveUp", indent + 2)
            self.emit(f"for _ in range({count} >> 1):", indent + 1)
            if kind == "map":
                key = self.local("k")
                self.string(key, indent + 2)
                self.value(item, resolved["values"], indent + 2)
                self.emit(f"{var}[{key}] = {item}", indent + 2)
            else:
                self.value(item, resolved["items"], indent + 2)
                self.emit(f"{var}.append({item})", indent + 2)
        else:  # pragma: no cover - _kind returns nothing else
            raise _Unsupported(kind)

    def string(self, var: str, indent: int) -> None:
        """Emit the reading of a string into ``var``."""
        size, end = self.local("n"), self.local("e")
        self.varint(size, indent)
        self.emit(f"if {size} & 1:", indent)
        self.emit("raise _GiveUp", indent + 1)
        self.emit(f"{end} = pos + ({size} >> 1)", indent)
        self.emit(f"{var} = data[pos:{end}].decode()", indent)  # strict UTF-8
        self.emit(f"pos = {end}", indent)

    def union(self, var: str, union: list[Any], indent: int) -> None:
        branches = [_kind(b, self.named) for b in union]
        if any(kind == "union" for kind, _ in branches):
            msg = "a union in a union"
            raise _Unsupported(msg)
        index = self.local("u")
        self.emit(f"{index} = data[pos]", indent)
        self.emit("pos += 1", indent)
        keyword = "if"
        # null first: the common case of an optional field
        order = sorted(range(len(union)), key=lambda i: branches[i][0] != "null")
        for i in order:
            if i >= 64:
                continue  # a branch index of two varint bytes: fastavro's
            self.emit(f"{keyword} {index} == {2 * i}:", indent)
            keyword = "elif"
            self.value(var, union[i], indent + 1)
        self.emit("else:", indent)
        self.emit("raise _GiveUp", indent + 1)


#: compiled functions by ``(id(schema), "writer"/"reader")``, with the schema object (so
#: its id is not reused while cached): ``schemas.load`` is cached and encoders are made per
#: job, so each schema compiles once
_COMPILED: dict[tuple[int, str], tuple[Any, Any]] = {}
_COMPILED_LIMIT = 256


def _compiled(schema: Any, kind: str, gen: Callable[[Any], _Codegen]) -> Any:
    key = (id(schema), kind)
    found = _COMPILED.get(key)
    if found is not None and found[0] is schema:
        return found[1]
    try:
        made = gen(schema).build(kind)
    except _Unsupported:
        made = None
    if len(_COMPILED) < _COMPILED_LIMIT:
        _COMPILED[key] = (schema, made)
    return made


def compile_writer(schema: Any) -> Writer | None:
    """A compiled writer of the fastavro-parsed record ``schema``, or None when the schema
    has parts the compiler leaves to fastavro (cached per schema object).

    ``write(record, append)`` appends the pieces of the Avro body of ``record``; it raises
    (``_GiveUp`` or another error) for any record it does not write exactly as
    ``fastavro.schemaless_writer(..., strict_allow_default=True)`` does: then use that.
    """
    found: Writer | None = _compiled(schema, "writer", _WriterGen)
    return found


def compile_reader(schema: Any) -> Reader | None:
    """A compiled reader of the fastavro-parsed record ``schema`` (the writer's), or None
    when the schema has parts the compiler leaves to fastavro (cached per schema object).

    ``read(data, pos)`` returns the record whose Avro body starts at ``pos`` and the offset
    after it (which may be beyond ``len(data)`` for truncated bytes: check it); it raises
    for bytes it does not read exactly as ``fastavro.schemaless_reader``: then use that.
    """
    found: Reader | None = _compiled(schema, "reader", _ReaderGen)
    return found


class Encoder:
    """Encode dicts with one parsed schema into Confluent-framed Avro.

    The schema's compiled writer (``compile_writer``) writes the records it can;
    ``fastavro.schemaless_writer`` the others, with the same bytes.
    """

    def __init__(self, schema_id: int, parsed_schema: Any) -> None:
        """Bind the encoder to a registered ``schema_id`` and its fastavro-parsed schema."""
        self.schema_id = schema_id
        self.schema = parsed_schema
        self.header = _HEADER.pack(MAGIC, schema_id)
        self._write = compile_writer(parsed_schema)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return the framed bytes; raise ``ValueError``/``TypeError`` if ``record`` misfits."""
        write = self._write
        if write is not None:
            pieces = [self.header]
            try:
                write(record, pieces.append)
            except Exception:  # noqa: BLE001 - fastavro writes it or raises its error
                pass
            else:
                return b"".join(pieces)
        return self.encode_fastavro(record)

    def encode_fastavro(self, record: Mapping[str, Any]) -> bytes:
        """``encode`` by ``fastavro.schemaless_writer`` alone (the reference)."""
        buf = io.BytesIO()
        buf.write(self.header)
        fastavro.schemaless_writer(buf, self.schema, record, strict_allow_default=True)
        return buf.getvalue()


def _framed(data: bytes | None) -> tuple[bytes, int]:
    """``(data, schema id)`` of a Confluent-framed message; ``WireFormatError`` if it is not."""
    if data is None or len(data) < _HEADER.size:
        msg = "message too short for the Confluent wire format"
        raise WireFormatError(msg)
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        msg = f"unknown magic byte {magic}"
        raise WireFormatError(msg)
    return data, int(schema_id)


class Decoder:
    """Decode Confluent-framed Avro, fetching writer schemas by id from the registry (cached)."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        """Use ``client`` to look up writer schemas."""
        self._client = client
        self._schemas: dict[int, Any] = {}
        self._readers: dict[int, Reader | None] = {}

    def schema(self, schema_id: int) -> Any:
        """Return the parsed writer schema for ``schema_id``."""
        parsed = self._schemas.get(schema_id)
        if parsed is None:
            try:
                registered = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                msg = f"unknown schema id {schema_id}: {exc}"
                raise WireFormatError(msg) from exc
            parsed = fastavro.parse_schema(json.loads(registered.schema_str or "null"))
            self._readers[schema_id] = compile_reader(parsed)
            self._schemas[schema_id] = parsed
        return parsed

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Return the record in ``data``; raises ``WireFormatError`` if it cannot be decoded.

        The writer schema's compiled reader (``compile_reader``) reads the records it can;
        ``fastavro.schemaless_reader`` the others (and gives the errors)."""
        data, schema_id = _framed(data)
        parsed = self.schema(schema_id)
        read = self._readers.get(schema_id)
        if read is not None:
            try:
                found, end = read(data, _HEADER.size)
            except Exception:  # noqa: BLE001 - fastavro reads it or raises its error
                pass
            else:
                if end <= len(data):
                    return found  # type: ignore[no-any-return]
        return self._decode_fastavro(data, schema_id, parsed)

    def decode_fastavro(self, data: bytes | None) -> dict[str, Any]:
        """``decode`` by ``fastavro.schemaless_reader`` alone (the reference)."""
        data, schema_id = _framed(data)
        return self._decode_fastavro(data, schema_id, self.schema(schema_id))

    def _decode_fastavro(self, data: bytes, schema_id: int, parsed: Any) -> dict[str, Any]:
        try:
            record = fastavro.schemaless_reader(io.BytesIO(data[_HEADER.size :]), parsed, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
            msg = f"Avro body does not match schema {schema_id}: {exc}"
            raise WireFormatError(msg) from exc
        if not isinstance(record, dict):
            msg = f"schema {schema_id} is not a record schema"
            raise WireFormatError(msg)
        return record

