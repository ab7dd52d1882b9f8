"""connector.fastencode writes exactly what convert.to_record + fastavro write."""

from __future__ import annotations

import copy
import io
import json
import random
import struct
from typing import Any

import fastavro
import pytest

import schemas
from connector import convert, fastencode
from connector.errors import RecordError

HTTP = "cloudflare.http_requests"
HTTP_JSON = frozenset({"JA4Signals", "Cookies", "RequestHeaders", "ResponseHeaders"})

# A small schema with every supported shape that the http_requests schema lacks.
MIXED: dict[str, Any] = {
    "type": "record", "name": "Mixed", "namespace": "test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "long"},
        {"name": "i32", "type": ["null", "int"], "default": None},
        {"name": "f32", "type": ["null", "float"], "default": None},
        {"name": "flag", "type": "boolean"},
        {"name": "late", "type": ["long", "null"]},
        {"name": "ratio", "type": "double"},
        {"name": "doubles", "type": ["null", {"type": "array", "items": "double"}],
         "default": None},
        {"name": "labels", "type": ["null", {"type": "map", "values": "string"}], "default": None},
        {"name": "obj", "type": ["null", "string"], "default": None},
        {"name": "extra", "type": ["null", {"type": "map", "values": "string"}], "default": None},
    ],
}
MIXED_JSON = frozenset({"obj"})


def _to_record_schema(schema: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """convert.to_record handles one non-null union branch; pick the one fastavro would."""
    out = copy.deepcopy(schema)
    for field in out["fields"]:
        t = field["type"]
        if isinstance(t, list) and len([b for b in t if b != "null"]) > 1:
            v = source.get(field["name"])
            branch = "string" if isinstance(v, str) else "long"
            field["type"] = ["null", branch]
    return out


def reference(schema: dict[str, Any], source: dict[str, Any], json_fields: frozenset[str]) -> bytes:
    """The naive path: to_record, then fastavro. Raises what they raise."""
    record = convert.to_record(_to_record_schema(schema, source), source, json_fields)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def assert_same(encode: fastencode.Encode, schema: dict[str, Any], source: dict[str, Any],
                json_fields: frozenset[str]) -> bytes | None:
    """Byte-equal output, or both refuse the record (ours with RecordError)."""
    try:
        expected = reference(schema, source, json_fields)
    except (RecordError, ValueError, TypeError, OverflowError, struct.error):
        with pytest.raises(RecordError):
            encode(source)
        return None
    got = encode(source)
    assert got == expected, source
    return got


# ---------------------------------------------------------------- random records

UNICODE = ("", "a", "Zürich", "東京", "São Paulo", "emoji 🚀", "tab\tnew\nline", "\x00\x7f",
           "x" * 70, "y" * 3000, "ß" * 1100, "\u2028", "quote\"back\\slash")
INTS = (0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 65535, 65536, 2**31 - 1, 2**31,
        -(2**31), -(2**31) - 1, 2**53 + 1, 1_717_200_000_123_456_789, 2**63 - 1, -(2**63),
        2**63, -(2**63) - 1, 2**64, 10**30)
FLOATS = (0.0, -0.0, 1.5, -2.25, 1e-7, 1e16, 3.4e38, 1e300, float("inf"), float("-inf"),
          float("nan"))


def _scalar(rng: random.Random) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(UNICODE)
    if kind == 1:
        return rng.choice(INTS)
    if kind == 2:
        return rng.choice(FLOATS)
    if kind == 3:
        return rng.choice((True, False))
    if kind == 4:
        return None
    if kind == 5:
        return [rng.choice((1, "a", 2.5, None, True)) for _ in range(rng.randrange(3))]
    return {"k": rng.choice(UNICODE), "n": rng.choice(INTS[:12]), "nested": {"x": [1, 2.5]}}


def _good(rng: random.Random, avro_type: Any) -> Any:
    """A value of the right type for ``avro_type`` (a branch)."""
    name = avro_type.get("type") if isinstance(avro_type, dict) else avro_type
    if isinstance(avro_type, dict) and name == "array":
        return [_good(rng, avro_type["items"]) for _ in range(rng.choice((0, 0, 1, 2, 5)))]
    if isinstance(avro_type, dict) and name == "map":
        return {f"k{i}": _scalar(rng) for i in range(rng.randrange(3))}
    if name == "string":
        return rng.choice(UNICODE) + str(rng.randrange(1000))
    if name == "boolean":
        return rng.random() < 0.5
    if name in ("long", "int"):
        limit = 2**31 if name == "int" else 2**63
        return rng.choice((rng.randrange(-100, 70_000), rng.randrange(-limit, limit),
                           rng.choice(INTS[:22 if name == "long" else 18])))
    if name in ("double", "float"):
        return rng.choice((rng.uniform(-1e6, 1e6), rng.randrange(-1000, 1000), 0.5))
    raise AssertionError(avro_type)


def make_source(rng: random.Random, schema: dict[str, Any], json_fields: frozenset[str],
                p_bad: float) -> dict[str, Any]:
    """A record with mostly well-typed values, some missing/None/mistyped, some unknown."""
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        name = field["name"]
        if name == "extra" and rng.random() < 0.9:
            continue
        roll = rng.random()
        if roll < 0.1:
            continue  # absent
        if roll < 0.15:
            out[name] = None
        elif roll < 0.15 + p_bad or name == "extra":
            out[name] = _scalar(rng)
        elif name in json_fields:
            out[name] = _scalar(rng)
        else:
            t = field["type"]
            branches = [b for b in t if b != "null"] if isinstance(t, list) else [t]
            out[name] = _good(rng, rng.choice(branches))
    for i in range(rng.choice((0, 0, 0, 1, 3))):
        out[rng.choice(("Unknown", "WAFAction", "ZoneID", "É")) + str(i)] = _scalar(rng)
    if rng.random() < 0.5:
        items = list(out.items())
        rng.shuffle(items)
        out = dict(items)
    return out


@pytest.fixture(scope="module")
def http_schema() -> dict[str, Any]:
    return schemas.raw(HTTP)


def test_http_requests_schema_lists_every_field(http_schema: dict[str, Any]) -> None:
    names = [f["name"] for f in http_schema["fields"]]
    assert len(names) == len(set(names)) > 100
    assert http_schema["name"] == "HttpRequest"
    assert http_schema["namespace"] == "com.cloudflare.http_requests"
    by_name = {f["name"]: f for f in http_schema["fields"]}
    assert by_name["RayID"]["type"] == "string"
    assert by_name["EdgeStartTimestamp"]["type"] == ["null", "long", "string"]
    assert by_name["BotDetectionIDs"]["type"][1] == {"type": "array", "items": "long"}
    assert by_name["EdgeResponseCompressionRatio"]["type"] == ["null", "double"]
    assert by_name["extra"]["type"] == {"type": "map", "values": "string"}
    for field in http_schema["fields"]:
        if field["name"] not in ("RayID", "extra"):
            assert field["type"][0] == "null"
            assert field["default"] is None
    fastavro.parse_schema(http_schema)


@pytest.mark.parametrize("p_bad", [0.0, 0.05, 0.4])
def test_http_requests_random_records_match_fastavro(http_schema: dict[str, Any],
                                                     p_bad: float) -> None:
    rng = random.Random(1000 + int(p_bad * 100))
    encoders = [fastencode.compile_encoder(http_schema, HTTP_JSON)]
    encoded = refused = 0
    for n in range(1500):
        source = make_source(rng, http_schema, HTTP_JSON, p_bad)
        if n % 50 == 0:  # the fast path: a field list that matches the record exactly
            expected = [k for k in source if k != "extra"]
            encoders.append(fastencode.compile_encoder(http_schema, HTTP_JSON, expected=expected))
        got = assert_same(encoders[-1], http_schema, source, HTTP_JSON)
        if n % 50 == 0:
            assert_same(encoders[0], http_schema, source, HTTP_JSON)
            encoders.pop()
        if got is None:
            refused += 1
            continue
        encoded += 1
        decoded = fastavro.schemaless_reader(io.BytesIO(got), schemas.load(HTTP), None)
        assert decoded["RayID"] == source["RayID"]
    assert encoded > 300
    if p_bad:
        assert refused > 10


@pytest.mark.parametrize("p_bad", [0.0, 0.2])
def test_mixed_schema_random_records_match_fastavro(p_bad: float) -> None:
    rng = random.Random(7 + int(p_bad * 10))
    general = fastencode.compile_encoder(MIXED, MIXED_JSON)
    names = [f["name"] for f in MIXED["fields"] if f["name"] != "extra"]
    fast = fastencode.compile_encoder(MIXED, MIXED_JSON, expected=names)
    encoded = 0
    for _ in range(2000):
        source = make_source(rng, MIXED, MIXED_JSON, p_bad)
        got = assert_same(general, MIXED, source, MIXED_JSON)
        assert_same(fast, MIXED, source, MIXED_JSON)
        encoded += got is not None
    assert encoded > 100


EDGE_CASES: list[dict[str, Any]] = [
    {"RayID": "a"},
    {"RayID": "a", "EdgeStartTimestamp": 1_717_200_000_123_456_789,
     "EdgeEndTimestamp": "2024-06-01T00:00:00Z"},
    {"RayID": "a", "EdgeStartTimestamp": 1_717_200_000, "EdgeEndTimestamp": 2**63 - 1},
    {"RayID": "a", "EdgeStartTimestamp": 2**63},
    {"RayID": "a", "EdgeStartTimestamp": True},
    {"RayID": "a", "EdgeStartTimestamp": 1.5},
    {"RayID": "a", "ClientASN": -(2**63)},
    {"RayID": "a", "ClientASN": 2**64},
    {"RayID": "a", "ClientASN": "13335", "ClientIP": 1},
    {"RayID": "a", "ClientSrcPort": False},
    {"RayID": "a", "EdgeResponseCompressionRatio": 3},
    {"RayID": "a", "EdgeResponseCompressionRatio": 10**400},
    {"RayID": "a", "EdgeResponseCompressionRatio": float("nan")},
    {"RayID": "a", "CacheTieredFill": 1},
    {"RayID": "a", "BotDetectionIDs": [1, -1, 2**40], "BotTags": ["x", "ü"]},
    {"RayID": "a", "BotDetectionIDs": [1, "2"], "BotTags": ["x", None]},
    {"RayID": "a", "BotDetectionIDs": [True], "BotTags": "x"},
    {"RayID": "a", "BotDetectionIDs": [2**63]},
    {"RayID": "a", "JA4Signals": {"a": 1.5, "b": [1, None], "c": "é"}, "Cookies": "plain",
     "RequestHeaders": None, "ResponseHeaders": 12},
    {"RayID": "a", "extra": {"x": 1}, "Zzz": None, "Ünknown": [1]},
    {"RayID": "a", "ClientRequestPath": "\ud800"},
    {"RayID": "a", "Weird": "\ud800"},
    {"RayID": "a" * 5000, "ClientRequestUserAgent": "é" * 3000},
    {"RayID": ""},
    {"RayID": None},
    {"RayID": 5},
    {"ClientIP": "1.2.3.4"},
    {},
]


@pytest.mark.parametrize("source", EDGE_CASES)
def test_edge_cases_match(http_schema: dict[str, Any], source: dict[str, Any]) -> None:
    general = fastencode.compile_encoder(http_schema, HTTP_JSON)
    assert_same(general, http_schema, source, HTTP_JSON)
    keys = [k for k in source if k != "extra"]
    if "RayID" in keys:
        fast = fastencode.compile_encoder(http_schema, HTTP_JSON, expected=keys)
        assert_same(fast, http_schema, source, HTTP_JSON)


def test_required_field_errors_name_the_field(http_schema: dict[str, Any]) -> None:
    encode = fastencode.compile_encoder(http_schema, HTTP_JSON)
    with pytest.raises(RecordError, match="required field 'RayID' is missing"):
        encode({"ClientIP": "x"})
    with pytest.raises(RecordError, match="required field 'RayID' is not a valid"):
        encode({"RayID": 7})
    with pytest.raises(RecordError, match="does not fit an Avro long"):
        encode({"RayID": "r", "ClientASN": 2**63})


def test_extra_keeps_mistyped_then_unknown_in_order(http_schema: dict[str, Any]) -> None:
    encode = fastencode.compile_encoder(http_schema, HTTP_JSON)
    source = {"Zeta": 1, "RayID": "r", "ClientIP": 4, "Alpha": {"b": "ü"}, "BotScore": "9"}
    record = fastavro.schemaless_reader(io.BytesIO(encode(source)), schemas.load(HTTP), None)
    assert list(record["extra"].items()) == [
        ("BotScore", '"9"'), ("ClientIP", "4"), ("Zeta", "1"), ("Alpha", '{"b":"ü"}')]
    assert record["ClientIP"] is None and record["BotScore"] is None
    assert convert.restore(http_schema, record, HTTP_JSON) == source


def test_schema_without_extra_refuses_unknown_fields() -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "id", "type": "string"}, {"name": "n", "type": ["null", "long"]}]}
    encode = fastencode.compile_encoder(schema)
    assert encode({"id": "x", "n": 5}) == reference(schema, {"id": "x", "n": 5}, frozenset())
    with pytest.raises(RecordError, match="unknown"):
        encode({"id": "x", "other": 1})
    with pytest.raises(RecordError, match="unknown"):
        encode({"id": "x", "n": "5"})


def test_prefix_and_encode_many(http_schema: dict[str, Any]) -> None:
    header = b"\x00\x00\x00\x00\x07"
    plain = fastencode.compile_encoder(http_schema, HTTP_JSON)
    framed = fastencode.compile_encoder(http_schema, HTTP_JSON, prefix=header)
    records = [{"RayID": "a", "ClientASN": 1}, {"RayID": 3}, {"RayID": "b", "Foo": "bar"}]
    out = fastencode.encode_many(framed, records)
    assert out[0] == header + plain(records[0])
    assert isinstance(out[1], RecordError)
    assert out[2] == header + plain(records[2])


def test_matches_registry_encoder_framing(http_schema: dict[str, Any]) -> None:
    from schemas.registry import Encoder

    source = {"RayID": "r1", "EdgeStartTimestamp": 1_717_200_000_000_000_000, "ClientASN": 13335,
              "ClientIP": "2001:db8::1", "BotTags": ["api"], "JA4Signals": {"x": 0.5}}
    record = convert.to_record(_to_record_schema(http_schema, source), source, HTTP_JSON)
    framed = fastencode.compile_encoder(http_schema, HTTP_JSON, prefix=b"\x00\x00\x00\x00\x2a")
    assert framed(source) == Encoder(42, schemas.load(HTTP)).encode(record)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 127, 128, 16383, 16384, 2**21, 2**28 - 1, 2**28,
                               2**35, 2**42 - 1, 2**42, 2**49, 2**56 - 1, 2**56, 2**63, 2**64 - 1])
def test_varint_matches_loop(n: int) -> None:
    assert fastencode.varint(n) == fastencode._varint_slow(n)


def test_zigzag_long_matches_fastavro() -> None:
    schema = fastavro.parse_schema("long")
    for v in (*INTS[:21], *range(-300, 300)):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, v)
        assert fastencode.zigzag_long(v) == buf.getvalue()


@pytest.mark.parametrize("bad", [
    {"type": "record", "name": "R", "fields": [{"name": "r", "type": {
        "type": "record", "name": "S", "fields": []}}]},
    {"type": "record", "name": "R", "fields": [{"name": "b", "type": "bytes"}]},
    {"type": "record", "name": "R", "fields": [{"name": "m", "type": {
        "type": "map", "values": "long"}}]},
    {"type": "record", "name": "R", "fields": [{"name": "extra", "type": "string"}]},
    {"type": "record", "name": "R", "fields": [{"name": "t", "type": {
        "type": "long", "logicalType": "timestamp-micros"}}]},
    {"type": "enum", "name": "E", "symbols": ["A"]},
])
def test_unsupported_schemas_fail_at_compile_time(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="support|must|record"):
        fastencode.compile_encoder(bad)


def test_json_fields_must_be_strings_in_the_schema(http_schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="json field"):
        fastencode.compile_encoder(http_schema, frozenset({"ClientASN"}))
    with pytest.raises(ValueError, match="json_fields"):
        fastencode.compile_encoder(http_schema, frozenset({"Nope"}))


LINES = [
    b'{"RayID":"a","n":1}',
    b'{"RayID":"a","big":123456789012345678901234567890}',
    b'{"RayID":"a","x":NaN,"y":-Infinity}',
    b'{"RayID":"\\ud800"}',
    '{"RayID":"ü","a":[1,2.5e-7,true,null]}'.encode(),
    b'{"a":1,"a":2}',
    b'{"t":18446744073709551615,"u":-9223372036854775808}',
]


@pytest.mark.parametrize("line", LINES)
def test_loads_line_equals_json_loads(line: bytes) -> None:
    got, want = fastencode.loads_line(line), json.loads(line)
    assert json.dumps(got) == json.dumps(want)
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


def test_loads_line_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastencode, "_orjson", None)
    assert fastencode.loads_line(b'{"a":1}') == {"a": 1}


def test_invalid_line_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting|Extra|Invalid"):
        fastencode.loads_line(b"Error streaming data")
