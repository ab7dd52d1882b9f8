"""The native encoder (cfkafka_native, native/) writes exactly what the Python path writes.

The Python path (guarded orjson + ``fastencode``'s compiled encoder, itself tested against
``convert.to_record`` + fastavro) is the reference: for every line, ``CompiledLineCodec``
with the native encoder returns the same (key, value) or raises the same ``RecordError``.
Lines the native encoder cannot encode exactly come back as None and take the Python path;
the tests also pin which lines are encoded natively (all realistic ones).

``make install`` builds the extension; this module fails (not skips) without it.
"""

from __future__ import annotations

import json
import random
import struct
import threading
from typing import Any

import cfkafka_native
import pytest

import schemas
from connector import fastencode
from connector.errors import RecordError
from connector.feeds.http_requests import HttpRequests
from connector.lines import CompiledLineCodec, LineCodec
from schemas.registry import Encoder
from sim.http_records import FIELDS, ZoneLogs, line_format

FEED = HttpRequests()
HEADER = Encoder(42, schemas.load(FEED.schema))
NS = 1_000_000_000
T0 = 1_795_000_000 * NS


def codecs() -> tuple[CompiledLineCodec, CompiledLineCodec]:
    native = CompiledLineCodec(HEADER, FEED.schema, FEED.key_field, FEED.json_fields,
                               native=True)
    python = CompiledLineCodec(HEADER, FEED.schema, FEED.key_field, FEED.json_fields,
                               native=False)
    return native, python


NATIVE, PYTHON = codecs()


def outcome(codec: Any, line: bytes) -> tuple[bytes, bytes] | str:
    """(key, value), or the error class the runner would dead-letter."""
    try:
        return codec(line)
    except (RecordError, ValueError, TypeError) as exc:
        return type(exc).__name__


def check(line: bytes) -> bool:
    """Same outcome on both paths; return whether the native encoder took the line."""
    assert outcome(NATIVE, line) == outcome(PYTHON, line), line[:300]
    assert NATIVE.native is not None
    direct = NATIVE.native.encode(line)
    if direct is not None:
        assert direct == PYTHON(line), line[:300]
    return direct is not None


def sim_lines(n: int, fields: tuple[str, ...], timestamps: str = "unixnano",
              seed: int = 11, cve: bool = False) -> list[bytes]:
    zone = ZoneLogs(seed, "0123456789abcdef0123456789abcdef", "example.com", 0, 50.0)
    fmt = line_format(fields, timestamps, cve)
    out: list[bytes] = []
    for batch in zone.lines(fmt, T0, T0 + 3600 * NS, count=n):
        out.extend(line.rstrip(b"\n") for line in batch)
    return out


# ------------------------------------------------------------------ realistic records


ALL = tuple(FIELDS)
SIEM = ("RayID", "EdgeStartTimestamp", "EdgeEndTimestamp", "ClientIP", "ClientRequestHost",
        "ClientRequestURI", "ClientRequestUserAgent", "EdgeResponseStatus", "JA4Signals",
        "BotScore", "BotTags", "SecurityRuleIDs", "EdgeResponseCompressionRatio", "Cookies",
        "ClientCity", "WAFAttackScore", "CacheReserveUsed")


@pytest.mark.parametrize(("fields", "timestamps", "seed"), [
    (ALL, "unixnano", 1), (ALL, "unix", 2), (ALL, "rfc3339", 3), (SIEM, "unixnano", 4),
    (tuple(reversed(ALL)), "unixnano", 5), (("RayID",), "unixnano", 6),
])
def test_simulator_records_are_identical_and_native(fields: tuple[str, ...], timestamps: str,
                                                    seed: int) -> None:
    lines = sim_lines(1500, fields, timestamps, seed)
    assert len(lines) == 1500
    native = [check(line) for line in lines]
    assert all(native), "a realistic line fell back to the Python path"


def test_simulator_records_match_the_schema_driven_codec() -> None:
    slow = LineCodec(HEADER, FEED.schema, FEED.key_field, FEED.json_fields)
    for line in sim_lines(300, ALL, "rfc3339", seed=9)[:300]:
        assert NATIVE(line) == slow(line)


def test_realistic_lines_with_cve_option_and_pretty_json() -> None:
    for line in sim_lines(200, ALL, cve=True, seed=12):
        assert check(line)
    for line in sim_lines(100, SIEM, seed=13):
        record = json.loads(line)
        # other spellings of the same record: spaces, escaped non-ASCII, key order
        for text in (json.dumps(record), json.dumps(record, ensure_ascii=True, indent=None),
                     json.dumps(dict(reversed(list(record.items()))), separators=(", ", " : "))):
            assert check(text.encode())


# ------------------------------------------------------------------ edge cases


def rec(**fields: Any) -> bytes:
    return json.dumps({"RayID": "7f00aa", **fields}, ensure_ascii=False).encode()


NATIVE_EDGES = [  # encoded natively
    rec(),
    rec(ClientIP=None, BotScore=None, BotTags=None, JA4Signals=None, CacheReserveUsed=None),
    rec(ClientCity="Zürich", ClientRequestPath="/東京/emoji 🚀", ZoneName="\u2028\x7f"),
    json.dumps({"RayID": "a", "ClientCity": "Zürich 🚀 \u00e9"}, ensure_ascii=True).encode(),
    rec(ClientRequestUserAgent='quote" back\\ slash / tab\t nl\n cr\r bs\b ff\f nul\x00 \x1f'),
    b'{"RayID":"a","ClientRequestPath":"\\/a\\/b","ClientCity":"\\ud83d\\ude80 \\u00FC"}',
    rec(ClientRequestBytes=0, ClientASN=-1, BotScore=2**63 - 1, WAFAttackScore=-(2**63)),
    rec(EdgeStartTimestamp=1_795_000_000_123_456_789, EdgeEndTimestamp="2026-11-22T12:00:00Z"),
    rec(EdgeStartTimestamp=-5, EdgeEndTimestamp=""),
    rec(EdgeResponseCompressionRatio=1.0), rec(EdgeResponseCompressionRatio=3),
    rec(EdgeResponseCompressionRatio=-0.0), rec(EdgeResponseCompressionRatio=1e-310),
    rec(EdgeResponseCompressionRatio=1.7976931348623157e308),
    b'{"RayID":"a","EdgeResponseCompressionRatio":1E2}',
    b'{"RayID":"a","EdgeResponseCompressionRatio":0.1e-400}',
    b'{"RayID":"a","EdgeResponseCompressionRatio":-9223372036854775808}',
    rec(CacheReserveUsed=True, CacheTieredFill=False, WorkerSubrequest=True),
    rec(BotDetectionIDs=[], BotTags=[], SecurityRuleIDs=[]),
    rec(BotDetectionIDs=[0, -1, 2**40, 2**63 - 1], BotTags=["x", "ü", "", "\n"]),
    rec(JA4Signals={"a": 1.5, "b": [1, None, True], "c": "é\"\\\n\u0001", "d": {}, "e": []}),
    rec(JA4Signals={"f": [0.1, 1e-05, 1e16, 1e15, 123456789.123, -0.0, 5e-324, 1e22, 1.5e300]}),
    b'{"RayID":"a","JA4Signals":{"x":1.50,"y":1E5,"z":0.000012300,"w":-0,"v":10e-1}}',
    b'{"RayID":"a","JA4Signals":{"k\\u00e9":"\\ud83d\\ude80\\/\\u0000","n":[ ],"o":{ }}}',
    b'{"RayID":"a","Cookies":"plain","RequestHeaders":12,"ResponseHeaders":[true,false]}',
    b'{"RayID":"a","Cookies":{"a":{"b":{"c":[[[1]]]}}}}',
    b'  {  "RayID" : "a" ,\t"ClientIP":\t"1.2.3.4"  }  \r',
    rec(RayID="r" * 5000, ClientRequestUserAgent="é" * 3000),
]

FALLBACK_EDGES = [  # handed to the Python path (which encodes or dead-letters them)
    rec(NewFieldFromCloudflare={"x": 1}),  # unknown -> extra
    rec(extra={"x": 1}),
    rec(ClientASN="13335", ClientIP=1),  # mistyped -> extra
    rec(ClientSrcPort=False), rec(CacheTieredFill=1), rec(EdgeStartTimestamp=True),
    rec(EdgeStartTimestamp=1.5), rec(BotTags="x"), rec(BotTags=["x", None]),
    rec(BotDetectionIDs=[1, "2"]), rec(BotDetectionIDs=[True]), rec(BotDetectionIDs=[[1]]),
    rec(ClientASN=2**63), rec(ClientASN=2**64), rec(ClientASN=-(2**63) - 1),
    rec(ClientASN=10**30), rec(BotDetectionIDs=[2**63]),
    rec(EdgeResponseCompressionRatio=10**400),
    b'{"RayID":"a","EdgeResponseCompressionRatio":1e400}',
    b'{"RayID":"a","EdgeResponseCompressionRatio":NaN}',
    b'{"RayID":"a","JA4Signals":{"x":Infinity}}',
    b'{"RayID":"a","JA4Signals":{"x":123456789012345678901234567890}}',
    b'{"RayID":"a","JA4Signals":{"x":1,"x":2}}',  # duplicate key in a JSON field
    b'{"RayID":"a","ClientIP":"1","ClientIP":"2"}',  # duplicate field
    b'{"RayID":"a","RayID":"b"}',
    b'{"RayID":"a","ClientCity":"\\ud800"}',  # lone surrogates
    b'{"RayID":"a","ClientCity":"\\udc00x"}',
    b'{"RayID":"a","Weird":"\\ud800"}',
    b'{"RayID":"a","Client\\u0049P":"1.2.3.4"}',  # escaped key
    rec(RayID=""), rec(RayID=None), rec(RayID=5), b'{"ClientIP":"1.2.3.4"}', b"{}",
    b'{"RayID":"a"', b'{"RayID":"a"} x', b'{"RayID":"a",}', b"{'RayID':'a'}",
    b'{"RayID":"a","BotScore":01}', b'{"RayID":"a","BotScore":+1}', b'{"RayID":"a","BotScore":.5}',
    b'{"RayID":"a","BotScore":1.}', b'{"RayID":"a","BotScore":-}', b'{"RayID":"a","BotScore":1e}',
    b'{"RayID":"a","BotScore":tru}', b'{"RayID":"a","BotScore":nul}',
    b'{"RayID":"a\x01"}', b'{"RayID":"\xff\xfe"}', b'{"RayID":"a","ClientCity":"\xc3"}',
    b'\xef\xbb\xbf{"RayID":"a"}', b'[{"RayID":"a"}]', b'"RayID"', b"42", b"null", b"",
    b"Error streaming data", b'{"RayID":"a","ClientIP":"\\x"}', b'{"RayID":"a","ClientIP":"\\u12"}',
    b'{"RayID":"a","JA4Signals":' + b"[" * 100 + b"]" * 100 + b"}",
]


@pytest.mark.parametrize("line", NATIVE_EDGES)
def test_edge_cases_encoded_natively(line: bytes) -> None:
    assert check(line), "expected the native encoder to take this line"


@pytest.mark.parametrize("line", FALLBACK_EDGES)
def test_edge_cases_fall_back_to_python(line: bytes) -> None:
    assert not check(line), "expected the Python path to take this line"


def test_fallbacks_are_counted() -> None:
    native, _ = codecs()
    native(rec(NewField=1))
    native(rec())
    with pytest.raises(RecordError):
        native(b"not json")
    assert native.fallbacks == 2


def test_unknown_fields_still_reach_extra_through_the_fallback() -> None:
    key, value = NATIVE(rec(NewField={"a": [1, 2.5]}, ClientASN="x"))
    assert key == b"7f00aa"
    decoded = decode_value(value)
    assert decoded["extra"] == {"ClientASN": '"x"', "NewField": '{"a":[1,2.5]}'}
    assert decoded["ClientASN"] is None


def decode_value(value: bytes) -> dict[str, Any]:
    import io

    import fastavro

    assert value[:5] == HEADER.header
    parsed = fastavro.parse_schema(schemas.raw(FEED.schema))
    out: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
    return out


# ------------------------------------------------------------------ random mutations

VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 63, 64, -65, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63),
    10**19, 10**25, 0.0, -0.0, 0.5, 1e-7, 1e16, 1e300, 3.4e38, 2.5, "", "a", "Zürich",
    "東京", "🚀", "\n\t\"\\", "\u2028", "x" * 300, [], [1, 2], ["a", "ü"], [1.5, 2], [True],
    [None], [[1]], {}, {"a": 1, "b": [1.5, {"c": None}]}, {"é": "\u0000"},
)


def test_random_values_in_realistic_records() -> None:
    rng = random.Random(20261122)
    base = [json.loads(line) for line in sim_lines(200, ALL, seed=21)]
    names = [f["name"] for f in schemas.raw(FEED.schema)["fields"]] + ["Unknown", "extra"]
    native_count = 0
    for i in range(3000):
        record = dict(base[i % len(base)])
        for _ in range(rng.choice((1, 1, 2, 5))):
            name = rng.choice(names)
            if rng.random() < 0.2:
                record.pop(name, None)
            else:
                record[name] = rng.choice(VALUES)
        items = list(record.items())
        if rng.random() < 0.3:
            rng.shuffle(items)
        text = json.dumps(dict(items), ensure_ascii=rng.random() < 0.3,
                          separators=rng.choice(((",", ":"), (", ", ": "))))
        native_count += check(text.encode())
    assert native_count > 600  # plenty of lines took the native path


def test_random_byte_damage() -> None:
    rng = random.Random(7)
    lines = sim_lines(100, SIEM, seed=31)
    alphabet = b'{}[]",:\\ 0123456789.eE-+truefalsn\x00\x1f\x7f\xc3\xa9\xff'
    for i in range(3000):
        line = bytearray(lines[i % len(lines)])
        for _ in range(rng.choice((1, 1, 2, 3))):
            pos = rng.randrange(len(line) + 1)
            op = rng.randrange(3)
            if op == 0 and pos < len(line):
                del line[pos]
            elif op == 1:
                line.insert(pos, rng.choice(alphabet))
            elif pos < len(line):
                line[pos] = rng.choice(alphabet)
        check(bytes(line))


def test_floats_and_ints_in_every_spelling() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if x != x or x in (float("inf"), float("-inf")):
            continue
        spellings = [repr(x), f"{x:.17g}", f"{x:.3e}", f"{x:.6f}" if abs(x) < 1e20 else repr(x)]
        for text in spellings:
            if text in ("inf", "-inf", "nan"):
                continue
            line = (f'{{"RayID":"a","EdgeResponseCompressionRatio":{text},'
                    f'"JA4Signals":{{"v":{text},"w":[{text}]}}}}').encode()
            assert check(line), line
    for _ in range(2000):
        n = rng.choice((rng.getrandbits(rng.randrange(1, 64)), rng.randrange(-(2**63), 2**63)))
        line = f'{{"RayID":"a","ClientASN":{n},"JA4Signals":{{"n":{n}}},"BotDetectionIDs":[{n}]}}'
        assert check(line.encode())
    for text in ("0.1", "0.30000000000000004", "1e-05", "0.0001", "100.0", "1e+16", "123e-2",
                 "4.35", "2.675", "1.000000000000000111", "9007199254740993.0"):
        assert check(f'{{"RayID":"a","JA4Signals":{{"v":{text}}}}}'.encode())


# ------------------------------------------------------------------ other schemas

MIXED: dict[str, Any] = {
    "type": "record", "name": "Mixed", "namespace": "test",
    "fields": [
        {"name": "n", "type": "long"},
        {"name": "id", "type": "string"},
        {"name": "i32", "type": ["null", "int"], "default": None},
        {"name": "f32", "type": ["null", "float"], "default": None},
        {"name": "flag", "type": "boolean"},
        {"name": "late", "type": ["long", "null"]},
        {"name": "ratio", "type": "double"},
        {"name": "doubles", "type": ["null", {"type": "array", "items": "double"}],
         "default": None},
        {"name": "multi", "type": ["null", {"type": "array", "items": "long"},
                                   {"type": "array", "items": "string"}, "string"]},
        {"name": "labels", "type": ["null", {"type": "map", "values": "string"}],
         "default": None},
        {"name": "extra", "type": ["null", {"type": "map", "values": "string"}],
         "default": None},
        {"name": "obj", "type": ["null", "string"], "default": None},
    ],
}


def test_mixed_schema_random_records() -> None:
    json_fields = frozenset({"obj"})
    python = fastencode.compile_encoder(MIXED, json_fields, prefix=b"P")
    fields, extra = fastencode.native_spec(MIXED, json_fields)
    native = cfkafka_native.Codec(fields, extra, "id", b"P")
    assert native.field_count == 11
    rng = random.Random(3)
    # (values the native encoder takes, values that go to the Python path)
    values: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
        "n": ((0, -5, 2**62), (2**63, "1", None, 1.5)),
        "id": (("a", "ü", "\n"), ("", None, 7)),
        "i32": ((None, 0, 2**31 - 1, -(2**31)), (2**31, -(2**31) - 1, "x")),
        "f32": ((None, 1.5, 1e39, -1e39, 3, 1e-50, 0.1), (True,)),
        "flag": ((True, False), (None, 0)),
        "late": ((None, 5), ("x",)),
        "ratio": ((0.25, 3, -0.0, 1e308), (None, "x")),
        "doubles": ((None, [], [1, 2.5], [1e-7, -3]), (["a"], [None])),
        "multi": ((None, [], [1, 2], ["a", "b"], "s"), ([1, "a"], 5, [True])),
        "labels": ((None,), ({}, {"a": 1})),
        "obj": ((None, {"a": [1, 2.5]}, "s", 5, [], 1e-05), ()),
    }
    handled = 0
    for _ in range(4000):
        record = {k: rng.choice(bad if bad and rng.random() < 0.04 else good)
                  for k, (good, bad) in values.items() if rng.random() < 0.97}
        if rng.random() < 0.1:
            record["unknown"] = 1
        items = list(record.items())
        rng.shuffle(items)
        line = json.dumps(dict(items)).encode()
        try:
            want: Any = (record["id"].encode(), python(fastencode.loads_line(line)))
            if not isinstance(record.get("id"), str) or not record["id"]:
                want = "error"
        except (RecordError, KeyError, AttributeError):
            want = "error"
        got = native.encode(line)
        if got is not None:
            handled += 1
            assert got == want, line
    assert handled > 1500


def test_schema_without_extra_and_bad_specs() -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "k", "type": "string"}, {"name": "v", "type": ["null", "long"]}]}
    fields, extra = fastencode.native_spec(schema)
    assert extra is None
    codec = cfkafka_native.Codec(fields, extra, "k", b"")
    assert codec.encode(b'{"k":"x","v":3}') == (b"x", b"\x02x\x02\x06")
    assert codec.encode(b'{"k":"x","w":3}') is None  # unknown: Python refuses it
    with pytest.raises(ValueError, match="key field"):
        cfkafka_native.Codec(fields, extra, "v", b"")
    with pytest.raises(ValueError, match="key field"):
        cfkafka_native.Codec(fields, extra, "nope", b"")
    with pytest.raises(ValueError, match="unsupported"):
        cfkafka_native.Codec([("k", None, [(b"", "record", None)], None)], None, "k", b"")


# ------------------------------------------------------------------ chunks


def test_encode_chunk_splits_like_stream_lines() -> None:
    lines = sim_lines(300, SIEM, seed=41)
    lines[5] = b"not json"
    lines[9] = rec(Unknown=1)
    body = b"\n".join(lines[:100]) + b"\n\n\n" + b"\n".join(lines[100:]) + b"\n  \t\n"
    rng = random.Random(1)
    for codec in (NATIVE, PYTHON):
        for _ in range(5):
            cuts = sorted(rng.sample(range(len(body)), 40))
            pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
            got: list[tuple[bytes, bytes | None]] = []
            pending = b""
            for i, piece in enumerate(pieces):
                data = pending + piece
                keys, values, used = codec.encode_chunk(data, last=i == len(pieces) - 1)
                assert len(keys) == len(values)
                pending = data[used:]
                got.extend(zip(keys, values, strict=True))
            assert pending == b""
            expected_lines = [*lines, b"  \t"]
            assert len(got) == len(expected_lines)
            for (key, value), line in zip(got, expected_lines, strict=True):
                if value is None:
                    assert key == line
                    assert outcome(codec.python, line) == outcome(PYTHON, line)
                else:
                    assert (key, value) == PYTHON(line)


def test_encode_chunk_tail_rules() -> None:
    for codec in (NATIVE, PYTHON):
        keys, values, used = codec.encode_chunk(rec() + b"\n" + rec()[:10])
        assert len(keys) == len(values) == 1 and used == len(rec()) + 1
        keys, values, used = codec.encode_chunk(rec() + b"\n" + rec(), last=True)
        assert len(keys) == 2 and used == 2 * len(rec()) + 1
        assert codec.encode_chunk(b"\n \n", last=True) == ([b" "], [None], 3)
        assert codec.encode_chunk(b"", last=True) == ([], [], 0)
        assert codec.encode_chunk(b"  \r", last=True) == ([], [], 3)


def test_encode_lines_and_threads() -> None:
    native = NATIVE.native
    assert native is not None
    lines = sim_lines(200, ALL, seed=51) + [b"bad"]
    expected = [native.encode(line) for line in lines]
    assert native.encode_lines(lines) == expected
    assert expected[-1] is None
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                assert [native.encode(x) for x in lines] == expected
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
