"""``source._same_as_json`` (is orjson's text json's?) against its definition, and the texts
it lets through against ``json.dumps``."""

from __future__ import annotations

import json
import random

import orjson

from streams.ocsf.source import _same_as_json, orjson_text, value_texts


def _definition(data: bytes) -> bool:
    """No ``null``, no ``0.0000`` and no digit-``e-``-digit (a float orjson writes as
    ``1e-05`` where json writes ``1e-05`` too but ``0.00001`` differently)."""
    if b"null" in data or b"0.0000" in data:
        return False
    return not any(
        data[i:i + 2] == b"e-" and data[i - 1:i].isdigit() and data[i + 2:i + 3].isdigit()
        for i in range(1, len(data) - 2)
    )


def test_same_as_json_is_its_definition():
    rng = random.Random(5)
    alphabet = [b"e", b"-", b"1", b"0", b".", b"n", b"u", b"l", b'"', b"x", b"E", b"9"]
    cases = [b"", b"e-1", b"1e-", b"1e-5", b"[1e-05]", b'"cache-control"', b"x1e-x",
             b"null", b"0.00001", b"2e-e-3", b"9e-9e-9"]
    cases += [b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
              for _ in range(20000)]
    for data in cases:
        if data.startswith(b"e"):
            continue  # no JSON text starts with e (orjson's never does)
        assert _same_as_json(data) == _definition(data), data


def test_orjson_texts_it_accepts_are_json_dumps():
    rng = random.Random(9)
    values = [1e-5, 1e-7, 0.0001, 123.5e-3, -2.5e-12, 1e300, float("inf"), "e-1", "1e-5",
              {"cache-control": "max-age=0"}, [1, 2.5, "x"], None, "ünïcode", 1 << 63]
    values += [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12) for _ in range(3000)]
    for value in values:
        found = orjson_text(value)
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if found is not None:
            assert found == expected, value
        try:
            raw = orjson.dumps(value)
        except TypeError:
            continue
        assert (found is not None) == _definition(raw), value
    plain = [1, 2.5, "x", {"a": [1, "e-1"]}, "é", True, 0.001]
    assert value_texts(plain) == [json.dumps(v, separators=(",", ":"), ensure_ascii=False)
                                  for v in plain]
    assert value_texts([1, 1e-7]) is None
