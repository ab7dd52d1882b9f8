"""Fast Avro encoding of flat Cloudflare log records, compiled once per schema.

``compile_encoder(schema)`` generates and ``exec``s one straight-line Python function per
schema that turns a parsed JSON record (a dict) into the Avro binary body, with the same
semantics as ``connector.convert.to_record`` followed by ``fastavro.schemaless_writer``:

- a known field whose value has the wrong type is kept in ``extra[field]`` as JSON and
  written as null; if the field is required, ``RecordError`` is raised;
- fields the schema does not know go to ``extra`` (schema order for mistyped fields first,
  then unknown fields in source order, exactly as ``to_record`` builds the dict);
- missing nullable fields are null; ``json_fields`` are stored JSON-encoded;
- ints that do not fit the Avro type (long: 64 bits, int: 32 bits), floats that do not fit
  a 32-bit float and strings that are not valid UTF-8 raise ``RecordError`` (fastavro raises
  ``ValueError``/``OverflowError`` for those).

One extension: unions with several non-null branches (``["null", "long", "string"]`` for
timestamps that are ints or RFC3339 strings depending on the ``timestamps`` option) pick the
first branch whose type check accepts the value, as fastavro does. ``convert.to_record``
supports one non-null branch only.

Supported field types: null, boolean, int, long, float, double, string, arrays of those
primitives, map<string>, and unions of them (no logical types, as in ``to_record``).
Anything else raises ``ValueError`` at compile time (use ``convert.to_record`` + fastavro for
nested records).

Why it is fast (see docs/benchmarks.md): the expected fields are fetched with one
``operator.itemgetter`` call; the common Python classes (exact ``str``/``int``/``float``/
``bool``/``list``) take inline fast paths; small ints and short string lengths are looked up
in precomputed tables that already contain the union branch byte; big varints are built from
14-bit chunk tables; absent fields are constant bytes folded at compile time; the output is
one ``b"".join`` of a tuple of locals. Everything unusual falls back to a per-field slow path
that implements the full semantics.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connector.errors import RecordError

EXTRA = "extra"
Encode = Callable[[Mapping[str, Any]], bytes]

_PRIMITIVES = ("boolean", "int", "long", "float", "double", "string")
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT64 = (-(1 << 63), (1 << 63) - 1)
_SMALL_LONG_MIN = -64
_SMALL_LONG_MAX = 1 << 16  # exclusive; status codes, ports, most byte counts and durations
_STR_TABLE = 2048  # string lengths with a precomputed (branch byte + length) prefix

# JSON text identical to convert._dumps (json.dumps(..., separators=(",", ":"),
# ensure_ascii=False)) without building a JSONEncoder per call.
_dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# --------------------------------------------------------------------------- varints


def _varint_slow(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_F14: tuple[bytes, ...] = tuple(_varint_slow(n) for n in range(1 << 14))
_C14: tuple[bytes, ...] = tuple(bytes(((m & 0x7F) | 0x80, ((m >> 7) & 0x7F) | 0x80))
                                for m in range(1 << 14))


def varint(n: int) -> bytes:
    """Unsigned LEB128 varint of ``0 <= n < 2**70`` from 14-bit chunk tables."""
    if n < 16384:
        return _F14[n]
    c = _C14
    if n < 268435456:
        return c[n & 16383] + _F14[n >> 14]
    if n < 4398046511104:
        return c[n & 16383] + c[(n >> 14) & 16383] + _F14[n >> 28]
    if n < 72057594037927936:
        return b"".join((c[n & 16383], c[(n >> 14) & 16383], c[(n >> 28) & 16383],
                         _F14[n >> 42]))
    return b"".join((c[n & 16383], c[(n >> 14) & 16383], c[(n >> 28) & 16383],
                     c[(n >> 42) & 16383], _F14[n >> 56]))


def zigzag_long(value: int) -> bytes:
    """Avro ``long`` encoding of ``value``; ``RecordError`` outside the signed 64-bit range."""
    if not _INT64[0] <= value <= _INT64[1]:
        msg = f"{value} does not fit an Avro long"
        raise RecordError(msg)
    return varint((value << 1) ^ (value >> 63))


def _zigzag_int(value: int) -> bytes:
    if not _INT32[0] <= value <= _INT32[1]:
        msg = f"{value} does not fit an Avro int"
        raise RecordError(msg)
    return varint((value << 1) ^ (value >> 63))


def _string(value: str) -> bytes:
    data = value.encode()
    return varint(len(data) << 1) + data


_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_F32 = struct.Struct("<f").pack


def _PACK_FLOAT(v: float) -> bytes:  # noqa: N802
    """32-bit float like fastavro's C cast: out-of-range values become +-inf."""
    try:
        return _PACK_F32(v)
    except OverflowError:
        return _PACK_F32(math.copysign(math.inf, v))


# --------------------------------------------------------------------------- type model


def _is_long(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_double(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "int": _is_long,
    "long": _is_long,
    "float": _is_double,
    "double": _is_double,
}


def _write_primitive(name: str, v: Any) -> bytes:
    """Encode a value that passed ``_CHECKS[name]`` (after to_record's conversion)."""
    if name == "string":
        return _string(v)
    if name == "boolean":
        return b"\x01" if v else b"\x00"
    if name == "long":
        return zigzag_long(int(v))
    if name == "int":
        return _zigzag_int(int(v))
    if name == "double":
        return _PACK_DOUBLE(float(v))
    return _PACK_FLOAT(float(v))


def _primitive_name(avro_type: Any) -> str | None:
    """``"long"`` for ``"long"``; None for anything else (to_record does not type-check the
    ``{"type": "long", "logicalType": ...}`` form: it would always go to ``extra``)."""
    return avro_type if isinstance(avro_type, str) and avro_type in _PRIMITIVES else None


class _Branch:
    """One non-null branch of a field's type, with its union prefix bytes."""

    def __init__(self, avro_type: Any, prefix: bytes) -> None:
        self.prefix = prefix
        self.kind: str  # "primitive", "array" or "map"
        self.name: str  # the primitive (or the array's items)
        prim = _primitive_name(avro_type)
        if prim is not None:
            self.kind, self.name = "primitive", prim
            return
        if isinstance(avro_type, dict) and avro_type.get("type") == "array":
            items = _primitive_name(avro_type.get("items"))
            if items is not None:
                self.kind, self.name = "array", items
                return
        if isinstance(avro_type, dict) and avro_type.get("type") == "map":
            if avro_type.get("values") == "string":
                self.kind, self.name = "map", "string"
                return
        msg = f"fastencode does not support the Avro type {avro_type!r}"
        raise ValueError(msg)

    def check(self, v: Any) -> bool:
        """to_record's type check for this branch."""
        if self.kind == "primitive":
            return _CHECKS[self.name](v)
        if self.kind == "array":
            check = _CHECKS[self.name]
            return isinstance(v, list) and all(check(i) for i in v)
        return isinstance(v, Mapping)

    def write(self, v: Any) -> bytes:
        """Prefix + body for a value that passed ``check`` (to_record's conversion applied)."""
        if self.kind == "primitive":
            return self.prefix + _write_primitive(self.name, v)
        if self.kind == "array":
            return self.prefix + _array(self.name, v)
        return self.prefix + _map_pairs([(str(k), _dumps(i)) for k, i in v.items()])


def _array(items: str, values: Sequence[Any]) -> bytes:
    if not values:
        return b"\x00"
    parts = [varint(len(values) << 1)]
    parts.extend(_write_primitive(items, i) for i in values)
    parts.append(b"\x00")
    return b"".join(parts)


def _map_pairs(pairs: Sequence[tuple[str, str]]) -> bytes:
    """Avro map<string> body from (key, value) pairs in order (a dict's iteration order)."""
    if not pairs:
        return b"\x00"
    if len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
        pairs = list(dict(pairs).items())  # same as building the dict first
    parts = [varint(len(pairs) << 1)]
    for key, text in pairs:
        parts.append(_string(key))
        parts.append(_string(text))
    parts.append(b"\x00")
    return b"".join(parts)


class _Field:
    """A schema field: branches, null prefix (None if required), json flag."""

    def __init__(self, index: int, spec: Mapping[str, Any], json_field: bool) -> None:
        self.index = index
        self.name: str = spec["name"]
        avro_type = spec["type"]
        union = avro_type if isinstance(avro_type, list) else None
        if union is None:
            self.null: bytes | None = None
            self.branches = [_Branch(avro_type, b"")]
        else:
            if len(union) > 63:
                msg = f"union of field {self.name!r} too large"
                raise ValueError(msg)
            self.null = bytes((2 * union.index("null"),)) if "null" in union else None
            self.branches = [_Branch(t, bytes((2 * i,))) for i, t in enumerate(union)
                             if t != "null"]
        if not self.branches:
            msg = f"field {self.name!r} has no non-null type"
            raise ValueError(msg)
        self.json = json_field
        if json_field:
            strings = [b for b in self.branches if b.kind == "primitive" and b.name == "string"]
            if not strings:
                msg = f"json field {self.name!r} must have a string type"
                raise ValueError(msg)
            self.json_branch = strings[0]
        self.type_text = json.dumps(avro_type)
        # string values are written as two chunks (prefix, encoded text): a<i> and b<i>
        self.multi = json_field or any(
            b.kind == "primitive" and b.name == "string" for b in self.branches)

    def slow(self, v: Any, mistyped: list[tuple[str, str]], present: bool = True) -> bytes:
        """Full to_record + fastavro semantics for one value (never the exact fast paths)."""
        if v is not None:
            if self.json:
                return self.json_branch.prefix + _string(_dumps(v))
            for branch in self.branches:
                if branch.check(v):
                    return branch.write(v)
            mistyped.append((self.name, _dumps(v)))
        if self.null is not None:
            return self.null
        reason = "missing" if not present else f"not a valid {self.type_text}: {v!r}"
        msg = f"required field {self.name!r} is {reason}"
        raise RecordError(msg)

    def first_branch_for(self, cls: type) -> _Branch | None:
        """The branch fastavro/to_record pick for an exact ``cls`` value, if any."""
        for branch in self.branches:
            ok = branch.kind == "primitive" and (
                (cls is str and branch.name == "string")
                or (cls is bool and branch.name == "boolean")
                or (cls is int and branch.name in ("int", "long", "float", "double"))
                or (cls is float and branch.name in ("float", "double"))
            ) or (branch.kind == "array" and cls is list)
            if ok:
                return branch
        return None


# --------------------------------------------------------------------------- codegen


class _Gen:
    """Source and namespace of one compiled encoder."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {
            "RecordError": RecordError, "_varint": varint, "_zz": zigzag_long,
            "_zz32": _zigzag_int, "_dumps": _dumps, "_map_pairs": _map_pairs,
            "_array": _array, "_E": b"", "struct_error": struct.error,
        }
        self._consts: dict[Any, str] = {}

    def const(self, value: Any, hint: str) -> str:
        """A global name bound to ``value`` (deduplicated by identity of the key)."""
        key = (hint, value) if isinstance(value, bytes | str | int) else (hint, id(value))
        name = self._consts.get(key)
        if name is None:
            name = f"_{hint}{len(self._consts)}"
            self._consts[key] = name
            self.ns[name] = value
        return name

    def str_table(self, prefix: bytes) -> str:
        """Name of the table: byte length -> prefix + zigzag length."""
        return self.const(_str_table(prefix), "S")

    def long_table(self, prefix: bytes) -> str:
        """Name of the table: small int v -> prefix + zigzag varint (negative v from the end)."""
        return self.const(_long_table(prefix), "L")


@functools.cache
def _str_table(prefix: bytes) -> tuple[bytes, ...]:
    return tuple(prefix + varint(n << 1) for n in range(_STR_TABLE))


@functools.cache
def _long_table(prefix: bytes) -> tuple[bytes, ...]:
    """Shared by every encoder (about 3 MB per distinct union prefix)."""
    table = [b""] * (_SMALL_LONG_MAX - _SMALL_LONG_MIN)
    for v in range(_SMALL_LONG_MIN, _SMALL_LONG_MAX):
        table[v] = prefix + varint((v << 1) ^ (v >> 63))
    return tuple(table)


def _field_code(gen: _Gen, f: _Field, v: str) -> list[str]:
    """Statements that set ``a<i>`` (and ``b<i>``) from the value in local ``v``."""
    i = f.index
    a, b = f"a{i}", f"b{i}"
    slow = gen.const(f.slow, "slow")
    lines: list[str] = []
    cond = "if"

    def string_into(prefix: bytes, expr: str) -> None:
        table = gen.str_table(prefix)
        lines.extend([
            f"    {b} = {expr}.encode()",
            "    try:",
            f"        {a} = {table}[len({b})]",
            "    except IndexError:",
            f"        {a} = {prefix!r} + _varint(len({b}) << 1)",
        ])

    if f.json:
        lines.append(f"if {v} is None:")
        null = repr(f.null) if f.null is not None else f"{slow}(None, x)"
        lines.append(f"    {a} = {null}")
        lines.append(f"    {b} = _E")
        lines.append("else:")
        string_into(f.json_branch.prefix, f"_dumps({v})")
        return lines

    for cls in (str, int, float, bool, list):
        branch = f.first_branch_for(cls)
        if branch is None:
            continue
        p = branch.prefix
        lines.append(f"{cond} {v}.__class__ is {cls.__name__}:")
        cond = "elif"
        if cls is str:
            string_into(p, v)
            continue
        if cls is int and branch.name in ("int", "long"):
            table = gen.long_table(p)
            big = "_zz" if branch.name == "long" else "_zz32"
            lines.extend([
                f"    if {_SMALL_LONG_MIN} <= {v} < {_SMALL_LONG_MAX}:",
                f"        {a} = {table}[{v}]",
                "    else:",
                f"        {a} = {p!r} + {big}({v})",
            ])
        elif cls in (int, float):
            pack = gen.const(_PACK_DOUBLE if branch.name == "double" else _PACK_FLOAT, "pack")
            conv = f"float({v})" if cls is int else v
            lines.append(f"    {a} = {p!r} + {pack}({conv})")
        elif cls is bool:
            true, false = p + b"\x01", p + b"\x00"
            lines.append(f"    {a} = {true!r} if {v} else {false!r}")
        else:  # list: non-empty lists take the checked slow path
            empty = p + b"\x00"
            lines.extend([
                f"    if not {v}:",
                f"        {a} = {empty!r}",
                "    else:",
                f"        {a} = {slow}({v}, x)",
            ])
        lines.append(f"    {b} = _E")
    if f.null is not None:
        lines.extend([f"{cond} {v} is None:", f"    {a} = {f.null!r}", f"    {b} = _E"])
        cond = "elif"
    lines.extend([
        "else:" if cond == "elif" else "if True:",
        f"    {a} = {slow}({v}, x)",
        f"    {b} = _E",
    ])
    if not f.multi:
        lines = [line for line in lines if line.strip() != f"{b} = _E"]
    return lines


def _join_items(items: list[str | bytes]) -> str:
    """``b"".join((...))`` of locals and constants, adjacent constants merged."""
    merged: list[str | bytes] = []
    for item in items:
        if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + item
        else:
            merged.append(item)
    parts = [repr(m) if isinstance(m, bytes) else m for m in merged if m != b""]
    return "b''.join((" + ", ".join(parts) + ",))"


def _indent(lines: list[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def compile_encoder(
    schema_json: Mapping[str, Any],
    json_fields: frozenset[str] = frozenset(),
    *,
    expected: Iterable[str] | None = None,
    prefix: bytes = b"",
) -> Encode:
    """Compile ``schema_json`` (a flat Avro record, unparsed JSON) into an encoder.

    The returned function maps a source record to ``prefix`` + the Avro binary body of
    ``to_record(schema_json, source, json_fields)``; it raises ``RecordError`` when the record
    cannot be encoded. ``expected`` is the set of source fields the feed normally sends (the
    Logpull ``fields`` parameter; default: every schema field): records with exactly those
    keys take the fastest path, any other record the general one (same result). ``prefix``
    is written first, e.g. the Confluent wire header of ``schemas.registry.Encoder``.
    """
    if schema_json.get("type") != "record":
        msg = "compile_encoder needs a record schema"
        raise ValueError(msg)
    specs = list(schema_json["fields"])
    has_extra = any(s["name"] == EXTRA for s in specs)
    extra_prefix = b""
    if has_extra:
        extra_spec = next(s for s in specs if s["name"] == EXTRA)
        extra_type = extra_spec["type"]
        map_type = {"type": "map", "values": "string"}
        if extra_type == map_type:
            pass
        elif isinstance(extra_type, list) and map_type in extra_type:
            extra_prefix = bytes((2 * extra_type.index(map_type),))
        else:
            msg = f"field {EXTRA!r} must be a map<string>"
            raise ValueError(msg)
    fields = [_Field(i, s, s["name"] in json_fields)
              for i, s in enumerate(specs) if s["name"] != EXTRA]
    unknown_json = set(json_fields) - {f.name for f in fields}
    if unknown_json:
        msg = f"json_fields not in the schema (or nested): {sorted(unknown_json)}"
        raise ValueError(msg)
    known = frozenset(f.name for f in fields)
    expected_set = known if expected is None else frozenset(expected) & known
    wanted = [f for f in fields if f.name in expected_set]

    gen = _Gen()
    gen.ns.update({"_KNOWN": known, "_PREFIX": prefix, "_EXTRA_PREFIX": extra_prefix,
                   "_HAS_EXTRA": has_extra})

    def join(present: set[str] | None) -> str:
        """The output expression; fields not in ``present`` are null constants."""
        items: list[str | bytes] = [prefix]
        for spec in specs:
            name = spec["name"]
            if name == EXTRA:
                items.append("ext")
                continue
            f = next(x for x in fields if x.name == name)
            if present is not None and name not in present:
                assert f.null is not None  # checked when building the fast path
                items.append(f.null)
            else:
                items.append(f"a{f.index}")
                if f.multi:
                    items.append(f"b{f.index}")
        return _join_items(items)

    src: list[str] = []
    # general path: any Mapping
    src.append("def _general(src):")
    src.append("    g = src.get")
    src.append("    x = []")
    for f in fields:
        src.append(f"    v = g({f.name!r})")
        if f.null is None:
            src.append(f"    if v is None and {f.name!r} not in src:")
            src.append(f"        {gen.const(f.slow, 'slow')}(None, x, False)")
        src.extend(_indent(_field_code(gen, f, "v"), 4))
    src.append("    if not (src.keys() <= _KNOWN):")
    src.append("        x.extend([(k, _dumps(w)) for k, w in src.items() if k not in _KNOWN])")
    src.extend(_extra_code(has_extra))
    src.append(f"    return {join(None)}")

    # fast path: the record has exactly the expected keys
    fast_ok = bool(wanted) and all(f.null is not None for f in fields if f not in wanted)
    src.append("def encode(src):")
    src.append("    try:")
    if fast_ok:
        getter = gen.const(operator.itemgetter(*[f.name for f in wanted]), "get")
        names = ", ".join(f"v{f.index}" for f in wanted) + ("," if len(wanted) == 1 else "")
        call = f"({getter}(src),)" if len(wanted) == 1 else f"{getter}(src)"
        src.append(f"        if len(src) != {len(wanted)}:")
        src.append("            return _general(src)")
        src.append("        try:")
        src.append(f"            {names} = {call}")
        src.append("        except KeyError:")
        src.append("            return _general(src)")
        src.append("        x = []")
        for f in wanted:
            src.extend(_indent(_field_code(gen, f, f"v{f.index}"), 8))
        src.extend(_indent(_extra_code(has_extra), 4))
        src.append(f"        return {join({f.name for f in wanted})}")
    else:
        src.append("        return _general(src)")
    src.append("    except (ValueError, TypeError, OverflowError, struct_error) as exc:")
    src.append("        msg = f'record cannot be encoded: {exc}'")
    src.append("        raise RecordError(msg) from exc")
    code = "\n".join(src) + "\n"
    gen.ns["__name__"] = f"fastencode_{schema_json.get('name', 'record')}"
    exec(compile(code, f"<fastencode {schema_json.get('name')}>", "exec"), gen.ns)  # noqa: S102
    encode: Encode = gen.ns["encode"]
    encode.__doc__ = f"Encode one {schema_json.get('name')} record (generated by fastencode)."
    setattr(encode, "source", code)  # noqa: B010  # for debugging and the profile
    return encode


#: One field for ``cfkafka_native.Codec``: (name, null bytes or None if required,
#: [(union prefix, kind, array items or None)], JSON string prefix or None).
NativeField = tuple[str, bytes | None, list[tuple[bytes, str, str | None]], bytes | None]


def native_spec(
    schema_json: Mapping[str, Any], json_fields: frozenset[str] = frozenset()
) -> tuple[list[NativeField], tuple[int, bytes] | None]:
    """The schema as ``cfkafka_native.Codec`` takes it: (fields, extra).

    Built from the same ``_Field``/``_Branch`` model as ``compile_encoder`` (so both paths
    read the schema one way); ``extra`` is (its position among the fields, the bytes of an
    empty ``extra`` map) or None. Raises ``ValueError`` where ``compile_encoder`` does.
    """
    if schema_json.get("type") != "record":
        msg = "native_spec needs a record schema"
        raise ValueError(msg)
    out: list[NativeField] = []
    extra: tuple[int, bytes] | None = None
    for spec in schema_json["fields"]:
        if spec["name"] == EXTRA:
            map_type = {"type": "map", "values": "string"}
            extra_type = spec["type"]
            if extra_type == map_type:
                extra = (len(out), b"\x00")
            elif isinstance(extra_type, list) and map_type in extra_type:
                extra = (len(out), bytes((2 * extra_type.index(map_type), 0)))
            else:
                msg = f"field {EXTRA!r} must be a map<string>"
                raise ValueError(msg)
            continue
        f = _Field(len(out), spec, spec["name"] in json_fields)
        branches = [(b.prefix, b.name if b.kind == "primitive" else b.kind,
                     b.name if b.kind == "array" else None) for b in f.branches]
        out.append((f.name, f.null, branches, f.json_branch.prefix if f.json else None))
    unknown_json = set(json_fields) - {f[0] for f in out}
    if unknown_json:
        msg = f"json_fields not in the schema (or nested): {sorted(unknown_json)}"
        raise ValueError(msg)
    return out, extra


def _extra_code(has_extra: bool) -> list[str]:
    if has_extra:
        return ["    ext = _EXTRA_PREFIX + _map_pairs(x) if x else _EXTRA_PREFIX + b'\\x00'"]
    return [
        "    if x:",
        "        msg = 'fields unknown to the schema: ' + str(sorted(k for k, _ in x))",
        "        raise RecordError(msg)",
    ]


def encode_many(
    encode: Encode, records: Iterable[Mapping[str, Any]]
) -> list[bytes | RecordError]:
    """Encode ``records`` in order; a record that cannot be encoded yields its RecordError."""
    out: list[bytes | RecordError] = []
    append = out.append
    for record in records:
        try:
            append(encode(record))
        except RecordError as exc:
            append(exc)
    return out


# --------------------------------------------------------------------------- parsing

_orjson: Any
try:  # orjson is optional: about 2x faster than json.loads on log lines
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when orjson is not installed
    _orjson = None

HAVE_ORJSON = _orjson is not None
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_DIGITS = b"0" * 20


def loads_line(line: bytes) -> Any:
    """Parse one NDJSON line exactly like ``json.loads``, with orjson when that is safe.

    orjson rejects NaN/Infinity and lone surrogates (we fall back to json) and turns
    integers beyond 64 bits into floats (lines with a 20-digit run go to json).
    """
    if _orjson is not None and _TWENTY_DIGITS not in line.translate(_DIGITS_TO_ZERO):
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(line)


__all__ = ["HAVE_ORJSON", "Encode", "NativeField", "compile_encoder", "encode_many", "loads_line",
           "native_spec", "varint", "zigzag_long"]
