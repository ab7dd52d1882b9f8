"""Codecs and the per-record pipeline against an in-memory schema registry (no network).

confluent-kafka 2.16: ``SchemaRegistryClient({"url": "mock://"})`` is a *real* HTTP client
(only ``SchemaRegistryClient.new_client`` returns the mock), and the mock does not
implement ``set_compatibility``; ``MockRegistry`` adds it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import (
    MockSchemaRegistryClient,
)

import schemas
from schemas.registry import Encoder
from streams.codecs import SIEM_AUDIT_SUBJECT, connect
from streams.dlq import DeadLetter
from streams.normalize import normalize
from streams.pipeline import Duplicate, Output, process
from streams.routing import ROUTES

RAW = {"id": "evt-1", "when": "2024-05-01T12:34:56Z", "action": {"type": "login", "result": True}}


class MockRegistry(MockSchemaRegistryClient):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__({"url": "mock://"})
        self.compatibility: dict[str, str] = {}

    def set_compatibility(self, subject_name: str | None = None, level: str | None = None):
        self.compatibility[str(subject_name)] = str(level)
        return {"compatibility": level}


@pytest.fixture
def registry() -> MockRegistry:
    return MockRegistry()


@pytest.fixture
def raw_encoder(registry: MockRegistry) -> Encoder:
    schema_id = registry.register_schema(
        "cloudflare.audit_logs.v1-value", Schema(schemas.text("cloudflare.audit_logs"), "AVRO")
    )
    return Encoder(schema_id, schemas.load("cloudflare.audit_logs"))


def test_connect_registers_every_siem_schema_backward(registry):
    codecs = connect(registry)
    subjects = {f"{r.topic}-value" for r in ROUTES} | {"siem.alerts.v1-value"}
    assert registry.compatibility == dict.fromkeys({SIEM_AUDIT_SUBJECT, *subjects}, "BACKWARD")
    assert codecs.alerts is not None
    assert registry.get_latest_version("siem.alerts.v1-value").schema_id == (
        codecs.alerts.schema_id)
    assert registry.get_latest_version(SIEM_AUDIT_SUBJECT).schema_id == codecs.siem.schema_id
    for route in ROUTES:
        latest = registry.get_latest_version(f"{route.topic}-value")
        assert latest.schema_id == codecs.ocsf[route.schema].schema_id


def test_siem_round_trip(registry):
    codecs = connect(registry)
    record = normalize(RAW, "account:acc-1")
    decoded = codecs.raw.decode(codecs.encode_siem(record))
    assert decoded == {**record, "time": datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)}


def test_process_outputs_new_events(registry, raw_encoder):
    codecs = connect(registry)
    outcome = process(b"evt-1", raw_encoder.encode(RAW), {"cf.scope": b"account:a"}, {}, codecs)
    assert isinstance(outcome, Output)
    assert outcome.key == b"evt-1"
    auth, legacy = outcome.sends
    assert (auth.topic, legacy.topic) == ("siem.authentication.v1", "siem.audit.v1")
    assert codecs.raw.decode(auth.value)["cloud"]["account"]["uid"] == "a"
    assert codecs.raw.decode(legacy.value)["account_uid"] == "a"


def test_process_drops_seen_keys_without_decoding(registry):
    assert process(b"evt-1", b"garbage", None, {b"evt-1": 1}, connect(registry)) == Duplicate(
        b"evt-1"
    )


def test_process_uses_the_record_id_when_the_key_is_missing(registry, raw_encoder):
    codecs = connect(registry)
    value = raw_encoder.encode(RAW)
    assert process(None, value, None, {b"evt-1": 1}, codecs) == Duplicate(b"evt-1")
    outcome = process(None, value, None, {}, codecs)
    assert isinstance(outcome, Output)
    assert outcome.key == b"evt-1"


@pytest.mark.parametrize("value", [None, b"", b"\x00\x01", b"\x01\x00\x00\x00\x01xx", b"{}"])
def test_process_dead_letters_undecodable_values(registry, value):
    outcome = process(b"k", value, None, {}, connect(registry))
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "decode"


def test_process_dead_letters_unnormalizable_records(registry, raw_encoder):
    value = raw_encoder.encode({**RAW, "when": "not a time"})
    outcome = process(b"evt-1", value, None, {}, connect(registry))
    assert isinstance(outcome, DeadLetter)
    assert outcome.stage == "normalize"
    assert "not a time" in outcome.reason


# -- compiled writers and readers (schemas.registry.compile_writer / compile_reader) ---------
#
# The contract: ``Encoder.encode`` gives ``Encoder.encode_fastavro``'s bytes (or its error)
# for every record, ``Decoder.decode`` gives ``Decoder.decode_fastavro``'s record (or its
# error) for every message; and for the records the worker writes the compiled code does
# the work (it does not give up and leave it to fastavro).

import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402
from types import MappingProxyType  # noqa: E402
from typing import Any  # noqa: E402

import fastavro  # noqa: E402

from schemas.registry import Decoder, compile_reader, compile_writer, register  # noqa: E402
from streams.ocsf import DATASETS as OCSF_DATASETS  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import normalize_raw, samples, topic_value  # noqa: E402

SCHEMAS = sorted(p.stem for p in Path(schemas.__file__).parent.glob("*.avsc"))


_WRITERS: dict[int, Any] = {}


def _written(schema: Any, record: Any) -> bytes:
    """The compiled writer's body of ``record`` (it must not give up)."""
    write = _WRITERS.get(id(schema))
    if write is None:
        write = _WRITERS[id(schema)] = compile_writer(schema)
    assert write is not None
    pieces: list[bytes] = []
    write(record, pieces.append)
    return b"".join(pieces)


def _fastavro_body(schema: Any, record: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record, strict_allow_default=True)
    return buf.getvalue()


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", (type, message))`` of ``fn(*args)``."""
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return "error", (type(exc), re.sub(r" at 0x[0-9a-f]+", "", str(exc)))


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (and -0.0 told from 0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_every_schema_but_logical_types_compiles():
    compiled = {name for name in SCHEMAS
                if compile_writer(schemas.load(name)) and compile_reader(schemas.load(name))}
    # siem.audit's time is a timestamp-millis: logical types stay fastavro's
    assert set(SCHEMAS) - compiled == {"siem.audit"}
    assert compile_writer(schemas.load("siem.audit")) is None
    assert compile_reader(schemas.load("siem.audit")) is None


@pytest.mark.parametrize("dataset", sorted(OCSF_DATASETS))
def test_compiled_codecs_match_fastavro_on_normalized_samples(dataset):
    events = [normalize_raw(dataset, r) for r in samples(dataset, 60, 3)]
    for event in events:
        schema = schemas.load(event.schema)
        body = _fastavro_body(schema, event.record)
        assert _written(schema, event.record) == body
        read = compile_reader(schema)
        assert read is not None
        record, end = read(b"\x00\x00\x00\x00\x07" + body, 5)
        assert end == len(body) + 5
        assert _same(record, fastavro.schemaless_reader(io.BytesIO(body), schema, None))


@pytest.mark.parametrize("dataset", sorted(OCSF_DATASETS))
def test_compiled_reader_matches_fastavro_on_raw_topic_values(dataset):
    name = OCSF_DATASETS[dataset].raw_schema
    schema = schemas.load(name)
    read = compile_reader(schema)
    assert read is not None
    for raw in samples(dataset, 60, 5):
        value = topic_value(dataset, raw)
        body = _fastavro_body(schema, value)
        assert _written(schema, value) == body
        record, end = read(body, 0)
        assert end == len(body)
        assert _same(record, value)


EDGE_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "Edge", "namespace": "test",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "d", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "boolean"},
        {"name": "n", "type": "null"},
        {"name": "os", "type": ["null", "string"], "default": None},
        {"name": "so", "type": ["string", "null"], "default": ""},
        {"name": "ol", "type": ["null", "long"], "default": None},
        {"name": "oi", "type": ["null", "int"], "default": None},
        {"name": "od", "type": ["null", "double"], "default": None},
        {"name": "ob", "type": ["null", "boolean"], "default": None},
        {"name": "ls", "type": ["null", "long", "string"], "default": None},
        {"name": "dl", "type": ["null", "double", "long"], "default": None},
        {"name": "inner", "type": ["null", {
            "type": "record", "name": "Inner",
            "fields": [
                {"name": "x", "type": ["null", "string"], "default": None},
                {"name": "deep", "type": ["null", {
                    "type": "record", "name": "Deep",
                    "fields": [{"name": "y", "type": "long", "default": 7}]}],
                 "default": None},
            ]}], "default": None},
        {"name": "again", "type": ["null", "Inner"], "default": None},
        {"name": "deeps", "type": {"type": "array", "items": "Deep"}, "default": []},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "maybe", "type": {"type": "array", "items": ["null", "long"]}, "default": []},
        {"name": "oa", "type": ["null", {"type": "array", "items": "long"}], "default": None},
        {"name": "m", "type": {"type": "map", "values": "string"}, "default": {}},
        {"name": "mr", "type": {"type": "map", "values": "Deep"}, "default": {}},
        {"name": "om", "type": ["null", {"type": "map", "values": "long"}], "default": None},
    ],
})


def edge_record(**changes: Any) -> dict[str, Any]:
    """A full ``Edge`` record with every kind of value, with ``changes``."""
    record: dict[str, Any] = {
        "s": "héllo ✓ \U0001f600", "i": -5, "l": 1 << 40, "d": 2.5, "f": 0.25, "b": True,
        "n": None, "os": "x", "so": None, "ol": -(1 << 62), "oi": 300, "od": -0.0,
        "ob": False, "ls": "later", "dl": 1.5,
        "inner": {"x": None, "deep": {"y": -1}}, "again": {"x": "a", "deep": None},
        "deeps": [{"y": 0}, {"y": 1 << 33}], "tags": ["a", "", "ü" * 100],
        "maybe": [None, 3, None], "oa": [], "m": {"k": "v", "ä": "ö", "": ""},
        "mr": {"one": {"y": 1}}, "om": {"a": -2},
    }
    record.update(changes)
    return record


EDGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("full", edge_record()),
    ("nulls", edge_record(os=None, so="s", ol=None, oi=None, od=None, ob=None, ls=None,
                          dl=None, inner=None, again=None, oa=None, om=None)),
    ("empties", edge_record(s="", deeps=[], tags=[], maybe=[], m={}, mr={}, om={})),
    ("int bounds", edge_record(i=(1 << 31) - 1, oi=-(1 << 31), l=(1 << 63) - 1,
                               ol=-(1 << 63))),
    ("int beyond int", edge_record(i=1 << 31)),
    ("optional int beyond int", edge_record(oi=1 << 31)),
    ("long beyond long", edge_record(l=1 << 63)),
    ("optional long beyond long", edge_record(ol=-(1 << 63) - 1)),
    ("long in a long|string union", edge_record(ls=1 << 50)),
    ("long in a double|long union", edge_record(dl=3)),
    ("small and table-edge ints", edge_record(i=8191, l=-8192, oi=8192, ol=-8193)),
    ("odd floats", edge_record(d=math.inf, od=math.nan, f=-math.inf)),
    ("float too big for 32 bits", edge_record(f=1e300)),
    ("int for a double", edge_record(d=3, od=4)),
    ("bool for an int", edge_record(i=True)),
    ("bool for an optional long", edge_record(ol=True)),
    ("int for a boolean", edge_record(b=1, ob=0)),
    ("long strings", edge_record(s="x" * 20000, os="é" * 9000, m={"k" * 9000: "v" * 70000})),
    ("non-ascii map", edge_record(m={"ключ": "значение", "a": "b"})),
    ("ascii map", edge_record(m={"a": "1", "bb": "", "": "x" * 63, "c" * 63: "{}"})),
    ("ascii map, lengths of 64 to 255", edge_record(m={"a": "x" * 64, "b" * 200: "y"})),
    ("ascii map, lengths of 256 and more", edge_record(m={"a": "x" * 256, "b": "y" * 8192})),
    ("lone surrogate", edge_record(os="\ud800")),
    ("lone surrogate in a map", edge_record(m={"a": "\udfff"})),
    ("missing optional field", {k: v for k, v in edge_record().items() if k != "os"}),
    ("missing required field", {k: v for k, v in edge_record().items() if k != "s"}),
    ("missing nested default", edge_record(deeps=[{}])),
    ("extra field", edge_record(extra="?")),
    ("extra nested field", edge_record(inner={"x": "a", "deep": None, "z": 1})),
    ("tuple as union hint", edge_record(inner=("test.Inner", {"x": "t", "deep": None}))),
    ("tuple for an array", edge_record(tags=("a", "b"))),
    ("ordered dict", OrderedDict(edge_record())),
    ("mapping proxy record", edge_record(again=MappingProxyType({"x": "p", "deep": None}))),
    ("non-string map key", edge_record(m={1: "one"})),
    ("wrong type in a map", edge_record(m={"a": 1})),
    ("string for a long", edge_record(l="12")),
    ("none for a string", edge_record(s=None)),
    ("dict for a string", edge_record(os={"a": 1})),
    ("list for a record", edge_record(inner=[1])),
    ("-type hint", edge_record(inner={"-type": "test.Inner", "x": "a", "deep": None})),
]


class _Str(str):
    __slots__ = ()

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # fastavro calls this
        return b"!" + super().encode(*args, **kwargs)


class _Int(int):
    pass


EDGE_CASES += [
    ("str subclass", edge_record(s=_Str("sub"), os=_Str("opt"), m={_Str("k"): _Str("v")})),
    ("int subclass", edge_record(l=_Int(5), ol=_Int(6))),
]


@pytest.mark.parametrize(("label", "record"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_encoder_is_fastavro_on_edge_cases(label, record):
    encoder = Encoder(9, EDGE_SCHEMA)
    got, expected = _outcome(encoder.encode, record), _outcome(encoder.encode_fastavro, record)
    assert got == expected


def test_edge_cases_of_exact_types_are_compiled():
    # the cases that are plain values are written by the compiled code, not fastavro
    for label in ("full", "nulls", "empties", "int bounds", "small and table-edge ints",
                  "long strings", "non-ascii map", "long in a long|string union", "ascii map",
                  "ascii map, lengths of 64 to 255", "ascii map, lengths of 256 and more"):
        record = dict(EDGE_CASES)[label]
        assert _written(EDGE_SCHEMA, record) == _fastavro_body(EDGE_SCHEMA, record), label


@pytest.mark.parametrize("label", ["int for a double", "bool for an optional long",
                                   "extra field", "missing optional field", "str subclass",
                                   "lone surrogate", "tuple as union hint"])
def test_compiled_writer_gives_up_on_what_it_does_not_know(label):
    write = compile_writer(EDGE_SCHEMA)
    assert write is not None
    with pytest.raises(Exception):  # noqa: B017, PT011 - any error: the caller uses fastavro
        write(dict(EDGE_CASES)[label], [].append)


def _decoder_for(schema: Any) -> tuple[Decoder, int]:
    registry = MockRegistry()
    schema_id = register(registry, "edge-value", json.dumps(
        {k: v for k, v in schema.items() if not k.startswith("__")}))
    return Decoder(registry), schema_id



def test_decoder_reads_every_edge_case_as_fastavro_does():
    decoder, schema_id = _decoder_for(EDGE_SCHEMA)
    encoder = Encoder(schema_id, EDGE_SCHEMA)
    for label, record in EDGE_CASES:
        kind, value = _outcome(encoder.encode_fastavro, record)
        if kind == "error":
            continue
        got, expected = decoder.decode(value), decoder.decode_fastavro(value)
        assert _same(got, expected), label
        read = compile_reader(EDGE_SCHEMA)
        assert read is not None
        compiled, end = read(value, 5)  # the compiled reader did it
        assert end == len(value)
        assert _same(compiled, expected), label


def test_decoder_is_fastavro_on_damaged_bytes():
    decoder, schema_id = _decoder_for(EDGE_SCHEMA)
    value = Encoder(schema_id, EDGE_SCHEMA).encode(edge_record())
    damaged = [value[:n] for n in range(len(value))]  # every truncation
    rng = random.Random(11)
    for _ in range(3000):
        data = bytearray(value)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(5, len(data))] = rng.randrange(256)
        damaged.append(bytes(data))
    overlong = b"\x02\x81" + b"\x80" * 9 + b"\x01"  # a varint beyond 64 bits
    damaged += [value + b"trailing", value[:5] + overlong]
    for data in damaged:
        got = _outcome(decoder.decode, data)
        expected = _outcome(decoder.decode_fastavro, data)
        if got[0] == "ok" and expected[0] == "ok":
            assert _same(got[1], expected[1]), data
        else:
            assert got == expected, data


def _random_value(schema: Any, named: dict[str, Any], rng: random.Random, depth: int) -> Any:
    """A random valid value of ``schema`` (exact types, every field present)."""
    if isinstance(schema, list):
        branch = rng.choice(schema)
        if branch == "null" or depth > 6:
            return None if "null" in schema else _random_value(branch, named, rng, depth)
        return _random_value(branch, named, rng, depth)
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    kind = schema["type"] if isinstance(schema, dict) else schema
    alphabet = "az09 _-\"\\/\u00e9\u4e2d\U0001f600\n"
    if kind == "string":
        return "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 5, 70, 200))))
    if kind in ("int", "long"):
        bits = 31 if kind == "int" else 63
        return rng.choice((0, -1, 63, 64, -65, 8191, 8192, -8193, 1 << (bits - 1),
                           (1 << bits) - 1, -(1 << bits), rng.randint(-(1 << bits),
                                                                      (1 << bits) - 1)))
    if kind == "double":
        return rng.choice((0.0, -0.0, 1.5, -1e300, 3.141592653589793, math.inf))
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "array":
        return [_random_value(schema["items"], named, rng, depth + 1)
                for _ in range(rng.choice((0, 1, 3)))]
    if kind == "map":
        return {_random_value("string", named, rng, depth): _random_value(
            schema["values"], named, rng, depth + 1) for _ in range(rng.choice((0, 1, 4, 90)))}
    assert kind == "record", schema
    named.setdefault(schema["name"], schema)
    return {f["name"]: _random_value(f["type"], named, rng, depth + 1) for f in schema["fields"]}


@pytest.mark.parametrize("name", [n for n in SCHEMAS if n != "siem.audit"])
def test_compiled_codecs_match_fastavro_on_random_records(name):
    schema = schemas.load(name)
    named = dict(schema["__named_schemas"])
    read = compile_reader(schema)
    assert read is not None
    rng = random.Random(name)
    for _ in range(150):
        record = _random_value(schema, named, rng, 0)
        body = _fastavro_body(schema, record)
        assert _written(schema, record) == body
        found, end = read(body, 0)
        assert end == len(body)
        assert _same(found, fastavro.schemaless_reader(io.BytesIO(body), schema, None))


def test_compiled_reader_reads_blocks_it_was_not_written_with_through_fastavro():
    # an array written in two blocks, the second with a byte size (negative count)
    schema = fastavro.parse_schema({"type": "record", "name": "A", "fields": [
        {"name": "a", "type": {"type": "array", "items": "long"}}]})
    body = b"\x02\x04" + b"\x01\x02\x08" + b"\x00"  # block [2]; block of -1 items, 1 byte: [4]
    decoder, schema_id = _decoder_for(schema)
    value = b"\x00" + struct.pack(">I", schema_id) + body
    assert decoder.decode(value) == decoder.decode_fastavro(value) == {"a": [2, 4]}


def test_compiled_codecs_handle_recursive_records():
    schema = fastavro.parse_schema({"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "long"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]}]})
    leaf = {"v": -3, "children": [], "next": None}
    record = {"v": 1, "children": [leaf, {"v": 2, "children": [leaf], "next": leaf}],
              "next": {"v": 9, "children": [], "next": leaf}}
    body = _fastavro_body(schema, record)
    assert _written(schema, record) == body
    read = compile_reader(schema)
    assert read is not None
    assert read(body, 0) == (record, len(body))


def test_compiled_codecs_are_made_once_per_schema():
    schema = schemas.load("ocsf.http_activity")
    assert compile_writer(schema) is compile_writer(schema)
    assert compile_reader(schema) is compile_reader(schema)
    copy = fastavro.parse_schema(schemas.raw("ocsf.http_activity"))
    assert compile_writer(copy) is not compile_writer(schema)


def test_long_bytes_are_fastavros_across_the_range():
    from schemas.registry import _long_bytes

    schema = fastavro.parse_schema({"type": "record", "name": "L", "fields": [
        {"name": "v", "type": "long"}]})
    rng = random.Random(3)
    values = [0, -1, 1, 63, 64, -64, -65, 8191, 8192, -8193, (1 << 63) - 1, -(1 << 63)]
    values += [sign * (1 << bits) + delta for bits in range(1, 63) for sign in (1, -1)
               for delta in (-1, 0, 1)]
    values += [rng.randint(-(1 << 63), (1 << 63) - 1) for _ in range(2000)]
    for value in values:
        assert _long_bytes(value) == _fastavro_body(schema, {"v": value}), value


@pytest.mark.parametrize("union", [
    ["null", "double", "boolean"], ["null", "float", "boolean"], ["null", "int", "boolean"],
    ["null", "string", "boolean"], ["boolean", "long"], ["null", "float", "double"],
    ["null", "long", "double"], ["string", "null"], ["long", "string", "null"],
    ["null", {"type": "map", "values": "long"}, {"type": "array", "items": "string"}],
])
def test_union_branches_are_fastavros(union):
    schema = fastavro.parse_schema({"type": "record", "name": "U", "fields": [
        {"name": "x", "type": union}]})
    decoder, schema_id = _decoder_for(schema)
    encoder = Encoder(schema_id, schema)
    for value in (None, True, False, 0, 3, -(1 << 40), 1 << 31, 1 << 63, 2.5, -0.0, "s", "",
                  {"a": 1}, {}, ["x"], []):
        got = _outcome(encoder.encode, {"x": value})
        assert got == _outcome(encoder.encode_fastavro, {"x": value}), value
        if got[0] == "ok":
            assert _same(decoder.decode(got[1]), decoder.decode_fastavro(got[1]))
