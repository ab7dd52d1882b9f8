"""Write the native OCSF normalizer's identity fixtures (``src/streams/ocsf.rs``).

Run from the repository root: ``.venv/bin/python native/tests/ocsf_fixtures.py``.

``tests/fixtures/ocsf_http_requests.spec.json`` is ``streams.ocsf.native_spec.spec(
"http_requests")``; ``tests/fixtures/ocsf_http_requests.jsonl`` has one case a line:
``{"name", "key", "scope", "value", "expected", "may_decline"}``. ``value`` is the decoded
raw-topic value (simulator records encoded and decoded with the project's codecs, as
``bench/pipeline_bench.py`` does, then edge cases mutated from them), ``expected`` Python's
``normalize("http_requests", key, value, scope=scope).record`` (null where Python raises).
The texts are Python's ``json`` (floats as ``repr``, which the Rust parser reads back
exactly). The Rust side must return ``expected`` exactly, or decline where ``expected`` is
null or ``may_decline`` is true (cases whose Python handling it does not reproduce).
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "streams"),
                str(ROOT / "tests" / "streams" / "ocsf")]

from ocsf_samples import headers_of, key_of, samples, topic_value  # noqa: E402
from test_streams_codecs import MockRegistry  # noqa: E402

import schemas  # noqa: E402
from schemas.registry import Encoder, register  # noqa: E402
from streams.codecs import connect  # noqa: E402
from streams.ocsf import DATASETS, normalize  # noqa: E402
from streams.ocsf.native_spec import spec  # noqa: E402

DATASET = "http_requests"
REALISTIC = 500
OUT = Path(__file__).resolve().parent / "fixtures"

Case = tuple[str, dict[str, Any], str, "str | None", bool]


def decoded_samples(n: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """``n`` simulator records as the worker decodes them (key, decoded value)."""
    codecs = connect(MockRegistry())
    raw_schema = DATASETS[DATASET].raw_schema
    schema_id = register(codecs.raw._client, f"cloudflare.{DATASET}.v1-value",  # noqa: SLF001
                         schemas.text(raw_schema))
    encoder = Encoder(schema_id, schemas.load(raw_schema))
    out = []
    for record in samples(DATASET, n, seed):
        value = codecs.decode_raw(encoder.encode(topic_value(DATASET, record)))
        out.append((key_of(DATASET, record), value))
    return out


def edge_cases(base: dict[str, Any], key: str, scope: str) -> Iterator[Case]:
    """Mutations of one decoded value: ``(name, value, key, scope, may_decline)``."""

    def case(name: str, scope_: str | None = scope, key_: str = key, decline: bool = False,
             **fields: Any) -> Case:
        value = copy.deepcopy(base)
        value.update(fields)
        return name, value, key_, scope_, decline

    yield case("as is")
    for field in ("ClientRequestMethod", "ClientRequestHost", "ClientRequestURI",
                  "ClientCountry", "RayID", "ClientRequestScheme", "SecurityAction",
                  "ClientLatitude", "RequestHeaders", "ZoneName", "ClientIP"):
        yield case(f"empty {field}", **{field: ""})
        yield case(f"null {field}", **{field: None})
    nulls = {k: None for k in base if k not in ("RayID", "EdgeStartTimestamp", "extra")}
    yield case("all null", **nulls)
    yield case("all null no time", **{**nulls, "EdgeStartTimestamp": None})
    for method in ("PATCH", "get", "Post", "MKCOL", "connect", "TRACE", "options", "head"):
        yield case(f"method {method}", ClientRequestMethod=method)
    yield case("method non-ascii", ClientRequestMethod="po\u017ft", decline=True)
    for n in (0, -1, 399, 400, 599, 2**63 - 1, -(2**63)):
        yield case(f"status {n}", EdgeResponseStatus=n, ClientRequestBytes=n, ClientASN=n,
                   ClientSrcPort=n, EdgeTimeToFirstByteMs=n, EdgeResponseBytes=n)
    for t in (1795378786979675665, 1795378786979675, 1795378786979, 1795378786, 0, -5,
              10**11, 10**14, 10**17, 99999999999, 2**63 - 1, -(2**62),
              "2026-11-22T20:19:48Z", "2026-11-22T20:19:48.123456789+05:30",
              "2026-11-22t20:19:48.5z", "2026-11-22 20:19:48-00:45", " 2026-11-22T20:19:48Z\n",
              "1795378786979", " 1795378786 ", "2026-02-29T00:00:00Z", "2024-02-29T23:59:59.9Z",
              "not a time", "1969-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z",
              "9999-12-31T23:59:59+01:00", "+1795378786", "2026-11-22T20:19:48.Z", "",
              "2026-11-22T25:00:00Z"):
        yield case(f"start time {t!r}", EdgeStartTimestamp=t)
        yield case(f"end time {t!r}", EdgeEndTimestamp=t)
        yield case(f"only end time {t!r}", EdgeStartTimestamp=None, EdgeEndTimestamp=t)
    for s in ("Mozilla\u00e9\x01\n\"\\\U0001f600\x7f\u2028", "\x00\x1f\t\r\b\f", "\u00fc/\u4e2d"):
        yield case(f"unicode {s!r}", ClientRequestUserAgent=s, ClientRequestPath=s,
                   ClientCity=s, WAFMatchedVar=s, EdgeColoCode=s)
    yield case("unicode key", key_="r\u00e9y\x01")
    for f in (1e-05, 1e16, 1.5e16, 0.0, -0.0, 123.0, 0.1, 1e-07, 5e-324, 1.7976931348623157e308,
              0.0001, 2.07, 1e15, -2.5e-10, 12345678.9):
        yield case(f"float {f!r}", EdgeResponseCompressionRatio=f)
    for lat in ("37.7749", "-0", "1e-05", " 12.5 ", "+3.", ".5", "1E3", "-77.487490"):
        yield case(f"latitude {lat!r}", ClientLatitude=lat, ClientLongitude=lat)
    for lat in ("abc", "nan", "inf", "1_0", "\u0661"):
        yield case(f"odd latitude {lat!r}", ClientLatitude=lat, decline=True)
    actions = ["allow", "block", "managed_challenge", "managedChallenge", "JSChallenge",
               "jschallengeSolved", "challenge_failed", "log", "connectionClose", "unknown",
               "weird_action", "Skip", "bypass", "forceConnectionClose", "challengeBypassed",
               "_", "BLOCK"]
    for action in actions:
        yield case(f"action {action}", SecurityAction=action)
    yield case("action non-ascii", SecurityAction="bloc\u212a", decline=True)
    for uri in ("/a/b", "/a?", "/a??b", "?q=1", "/p?x=1&y=\u00e9", "/", "??"):
        yield case(f"uri {uri!r}", ClientRequestURI=uri)
        yield case(f"uri {uri!r} no scheme", ClientRequestURI=uri, ClientRequestScheme=None)
    for country in ("us", "US", "gB", "1"):
        yield case(f"country {country}", ClientCountry=country)
    yield case("country non-ascii", ClientCountry="\u00fc", decline=True)
    headers = [
        '{"a":"b","c":1,"d":{"e":[1,2.5,null,true]},"u":"\\u00e9\\u0001","f":1e-05,"g":-0.0}',
        "[1,2]", "{}", "null", '"text"', "3", '{"k":{"x":{}},"z":null,"w":"","a.b":1}',
        '{"a.b":1,"a":{"b":2}}', '{"\\ud83d\\ude00":"\\n"}', " {\"sp\" : [ ] } ",
    ]
    for text in headers:
        yield case(f"json {text!r}", RequestHeaders=text, Cookies=text, JA4Signals=text,
                   ResponseHeaders=text)
    for text in ('{"a":1,"a":2}', '{"a":123456789012345678901234567890}', '{"a":1e400}',
                 '{"a":NaN}', '"\\ud800"'):
        yield case(f"json declines {text!r}", JA4Signals=text, decline=True)
    for text in ("{", "", "nope", "{'a':1}"):
        yield case(f"json invalid {text!r}", JA4Signals=text)  # Python raises
    for s in (None, "", "account:abc", "account:", "zone:", "zone:xyz", "weird", "zone:\u00e9\""):
        yield case(f"scope {s!r}", scope_=s)
    yield case("roster key", key_="acct/ray", scope_=None)
    yield case("roster key no account", key_="/ray", scope_="weird")
    yield case("empty key", key_="")
    yield case("extra", extra={"NewField": '"x"'}, decline=True)
    yield case("bools", ClientRequestMethod=True, EdgeResponseStatus=True, CacheReserveUsed=True)
    yield "reordered", dict(reversed(list(base.items()))), key, scope, False
    yield "no extra", {k: v for k, v in base.items() if k != "extra"}, key, scope, False
    yield case("unknown top-level key", Unknown=1)
    yield case("arrays", BotTags=["a", "\u00e9"], BotDetectionIDs=[1, -2], SecurityRuleIDs=[])


def _run(key: str, value: dict[str, Any], scope: str | None) -> dict[str, Any] | None:
    try:
        return normalize(DATASET, key, copy.deepcopy(value), scope=scope).record
    except Exception:  # noqa: BLE001 - Python refuses: the Rust side must decline
        return None


def _representable(value: Any) -> bool:
    if isinstance(value, dict):
        return all(map(_representable, value.values()))
    if isinstance(value, list):
        return all(map(_representable, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def main(out: Path = OUT, n: int = REALISTIC, seed: int = 1) -> None:
    """Write the spec and the cases (``ocsf_fixtures.py [dir n seed]`` for another sample)."""
    digest = spec(DATASET)
    assert digest is not None
    out.mkdir(exist_ok=True)
    (out / f"ocsf_{DATASET}.spec.json").write_text(digest + "\n")
    scope = headers_of(DATASET)["scope"]
    decoded = decoded_samples(n, seed)
    cases: list[Case] = [(f"sample {i}", v, k, scope, False) for i, (k, v) in enumerate(decoded)]
    cases.extend(edge_cases(decoded[0][1], decoded[0][0], scope))
    # a second base with security actions set
    with_action = next((kv for kv in decoded if kv[1].get("SecurityAction")), decoded[1])
    cases.extend(c for c in edge_cases(with_action[1], with_action[0], scope)
                 if c[0].startswith(("as is", "action", "empty Sec", "null Sec", "all null")))
    lines = []
    for name, value, key, scope_, decline in cases:
        expected = _run(key, value, scope_)
        if expected is not None and not _representable(expected):
            expected, decline = None, True  # a wide int or NaN: not in a Value (JSON text)
        line = json.dumps({"name": name, "key": key, "scope": scope_, "value": value,
                           "expected": expected, "may_decline": decline}, ensure_ascii=False)
        try:
            line.encode()
        except UnicodeEncodeError:  # a lone surrogate (the Rust side declines): no record
            assert decline
            line = json.dumps({"name": name, "key": key, "scope": scope_, "value": value,
                               "expected": None, "may_decline": decline}, ensure_ascii=False)
        lines.append(line)
    (out / f"ocsf_{DATASET}.jsonl").write_text("\n".join(lines) + "\n")
    raised = sum('"expected": null' in line for line in lines)
    print(f"{len(lines)} cases ({raised} where Python raises) in {out}")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
