"""The compiled maps (``normalize``) give exactly what the reference interpreter gives.

``normalize_reference`` runs ``engine.apply``: the declarative maps walked rule by rule and
the result shaped by ``conform_reference``. The compiled path must agree with it byte for
byte (same records, same JSON text, same mapped fields, same errors) over simulator records
of every dataset and over records bent out of the common shape (nulls, empty strings,
mistyped values, unknown fields in ``extra``, odd floats, no scope).
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from ocsf_samples import headers_of, key_of, samples, topic_value

from streams.ocsf import DATASETS, NormalizationError, conform, normalize
from streams.ocsf.normalize import normalize_reference
from streams.ocsf.shape import conform_reference
from streams.ocsf.source import dumps, dumps_record, loads, value_texts

N = 300
NAMES = sorted(DATASETS)


def _same(dataset: str, key: str, value: Any, **headers: Any) -> None:
    error: Exception | None = None
    try:
        expected = normalize_reference(dataset, key, value, **headers)
    except Exception as exc:  # noqa: BLE001 - the compiled path must raise the same
        error = exc
    if error is not None:
        with pytest.raises(type(error)) as info:
            normalize(dataset, key, value, **headers)
        assert str(info.value) == str(error)
        return
    event = normalize(dataset, key, value, **headers)
    assert event == expected
    assert json.dumps(event.record) == json.dumps(expected.record)  # order and types too
    assert event.mapped == expected.mapped


@pytest.mark.parametrize("dataset", NAMES)
def test_compiled_maps_equal_the_reference(dataset: str) -> None:
    for record in samples(dataset, N):
        _same(dataset, key_of(dataset, record), topic_value(dataset, record),
              **headers_of(dataset))


def _bent(value: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``value`` with a few fields nulled, emptied, retyped or floats made odd."""
    out = dict(value)
    names = [n for n in out if n != "extra"]
    for name in rng.sample(names, min(len(names), 4)):
        out[name] = rng.choice([None, "", 0, 7, True, "x", 1e-7, 0.00005, 2.5, [], ["a"],
                                float("nan"), 2**70, "\x00", "a\u2028b", {"k": 1}])
    return out


@pytest.mark.parametrize("dataset", NAMES)
def test_compiled_maps_equal_the_reference_on_bent_records(dataset: str) -> None:
    rng = random.Random(dataset)
    for record in samples(dataset, 60):
        value = topic_value(dataset, record)
        key = key_of(dataset, record)
        _same(dataset, key, _bent(value, rng), **headers_of(dataset))
        reordered = dict(reversed(list(value.items())))
        _same(dataset, key, reordered, **headers_of(dataset))
        _same(dataset, key, {**value, "extra": {"NewField": '{"a":[1,2]}', "x.y": "3"}},
              **headers_of(dataset))
        _same(dataset, key, value, scope="zone:z9", account_name="prod")
        _same(dataset, key, value)


def test_http_json_fields_with_odd_numbers_and_nulls() -> None:
    record = samples("http_requests", 1)[0]
    value = topic_value("http_requests", record)
    key = key_of("http_requests", record)
    for signals in ('{"a":1e-7,"b":0.00001,"c":null}', '{"a":NaN}', '{"a":1e400}',
                    '{"big":123456789012345678901234}', '{"n":{"deep":[1,{"x":null}]}}',
                    "[1,2]", "null", '"text"', "{}"):
        _same("http_requests", key, {**value, "JA4Signals": signals}, scope="zone:z1")


def test_conform_equals_the_reference_walk() -> None:
    for dataset in NAMES:
        for record in samples(dataset, 40):
            event = normalize(dataset, key_of(dataset, record), topic_value(dataset, record),
                              **headers_of(dataset))
            enriched = {**event.record, "enrichments": [
                {"name": "ip", "value": "1.2.3.4", "type": "geo"}]}
            assert conform(event.schema, enriched) == conform_reference(event.schema, enriched)
            with pytest.raises(NormalizationError) as info:
                conform(event.schema, {**enriched, "bogus": 1})
            with pytest.raises(NormalizationError) as ref:
                conform_reference(event.schema, {**enriched, "bogus": 1})
            assert str(info.value) == str(ref.value)


@pytest.mark.parametrize(
    "value",
    [1e-5, 1e-7, -0.00005, 0.0001, 1e16, 1.5e300, float("nan"), float("inf"), -0.0, 2**64,
     2**63, -(2**63) - 1, "\ud800", "é漢😀\x7f\u2028", {"a": [1, None, 2.5]}, ["\x00", "a"]],
)
def test_fast_json_writers_match_json(value: Any) -> None:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert dumps(value) == text
    assert dumps_record(value) == text
    texts = value_texts([value, "x", value])
    assert texts is None or texts == [text, '"x"', text]


def test_fast_json_reader_matches_json() -> None:
    rng = random.Random(3)
    texts = ['{"a": 1, "a": 2}', " [1.0, -0.0, 1E5] ", "18446744073709551616",
             "-9223372036854775809", "NaN", '"\\ud800"', "1e400", "0.1"]
    texts += [repr(rng.random() * 10 ** rng.randint(-8, 20)) for _ in range(200)]
    for text in texts:
        expected = json.loads(text)
        found = loads(text)
        assert repr(found) == repr(expected) or (
            isinstance(found, float) and math.isnan(found) and math.isnan(expected))
    with pytest.raises(ValueError, match="Expecting value"):
        loads("not JSON")
