"""The native stream transform (``streams.native``, ``cfkafka_native.OcsfTransform``) gives
``pipeline.process`` the same outcome, byte for byte, as the Python path.

Every case runs the same raw values through ``process`` twice, with and without the native
transforms, each with its own (equal) enricher, and compares the outcomes. The records are
simulator samples and the same samples with fields replaced by odd values of their Avro
type (empty, null, unicode, control characters, extreme numbers, odd JSON). Each case also
checks that the native path handled most records, so a transform that always declines fails.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_streams_codecs import MockRegistry

import schemas
from schemas.registry import Encoder, register
from streams.alerts import default_rules
from streams.codecs import Codecs, connect
from streams.enrich import Enricher, Roster, ThreatList
from streams.native import NativeDataset, transforms
from streams.ocsf import DATASETS as OCSF_DATASETS
from streams.pipeline import Options, Output, process
from streams.routing import DATASET

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import (  # noqa: E402
    ACCOUNT,
    ZONE,
    headers_of,
    json_fields,
    key_of,
    samples,
    topic_value,
)

DATASET_NAME = "http_requests"

ODD_STRINGS = ("", " ", "é€😀", "\x00\x1f\"\\/\n\t\u2028", "x" * 3000, "GET", "PATCH",
               "https", "/a?b=c&d", "?", "1.2.3.4", "::1", "10.0.0.1", "block", "challenge")
ODD_LONGS = (0, -1, 1, 2**31, 2**63 - 1, -(2**63), 404, 1795378786979675665)
ODD_DOUBLES = (0.0, -0.0, 1e-05, 1e16, 0.1, 1.5e300, -77.48749, 2.07, 123456789.125)
ODD_JSON = ('{"a":[1,2.5,{"b":null}],"ü":"\\u0000"}', "[]", "{}", '"text"', "null", "1e400",
            '{"k":1e-7,"n":-0.0,"big":12345678901234567890}', '{"dup":1,"dup":2}', "not json",
            '{"x":"\\ud800"}', '{"set-cookie":["a","b"]}')


def _branches(avro_type: Any) -> list[Any]:
    return avro_type if isinstance(avro_type, list) else [avro_type]


def _odd(field: dict[str, Any], rng: random.Random, json_fields: frozenset[str]) -> Any:
    """An odd value of the field's Avro type."""
    if field["name"] in json_fields:
        return rng.choice((*ODD_JSON, None))
    choices: list[Any] = []
    for branch in _branches(field["type"]):
        kind = branch if isinstance(branch, str) else branch.get("type")
        if kind == "null":
            choices.append(None)
        elif kind == "string":
            choices.extend(ODD_STRINGS)
        elif kind in ("long", "int"):
            choices.extend(v for v in ODD_LONGS if kind == "long" or abs(v) < 2**31)
        elif kind in ("double", "float"):
            choices.extend(ODD_DOUBLES)
        elif kind == "boolean":
            choices.extend((True, False))
        elif kind == "array" and branch["items"] == "string":
            choices.extend(([], ["a", ""], ["é", "x" * 50]))
        elif kind == "array":
            choices.extend(([], [0, -1, 2**62]))
    return rng.choice(choices) if choices else None


def odd_values(n: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, decoded raw value): samples with 1..8 fields replaced by odd values."""
    rng = random.Random(seed)
    schema = schemas.raw(OCSF_DATASETS[DATASET_NAME].raw_schema)
    fields = [f for f in schema["fields"] if f["name"] != "extra"]
    jf = json_fields(DATASET_NAME)
    for record in samples(DATASET_NAME, n, seed):
        value = topic_value(DATASET_NAME, record)
        for field in rng.sample(fields, rng.randint(1, 8)):
            value[field["name"]] = _odd(field, rng, jf)
        yield key_of(DATASET_NAME, record), value


@pytest.fixture(scope="module")
def setup() -> tuple[Codecs, Encoder]:
    registry = MockRegistry()
    codecs = connect(registry)
    raw = OCSF_DATASETS[DATASET_NAME].raw_schema
    schema_id = register(registry, f"cloudflare.{DATASET_NAME}.v1-value", schemas.text(raw))
    return codecs, Encoder(schema_id, schemas.load(raw))


def _enricher() -> Enricher:
    return Enricher.default(account_names={ACCOUNT: "Example Account"},
                            zone_names={ZONE: "example.com"}, roster=Roster())


def _compare(codecs: Codecs, inputs: list[tuple[bytes, bytes, dict[str, bytes]]],
             make: Callable[[], Options]) -> int:
    """Assert native and Python outcomes agree; return how many the native path made."""
    python_options, native_options = make(), make()
    native = transforms(codecs, enricher=native_options.enricher)
    assert set(native) >= {DATASET_NAME}, "http_requests has no native transform"
    native_options = replace(native_options, native=native)
    made = 0
    encode = NativeDataset.encode

    run = NativeDataset.run

    def counting(self: NativeDataset, view: dict[str, Any], prepared: Any) -> bytes | None:
        nonlocal made
        out = encode(self, view, prepared)
        made += out is not None
        return out

    def counting_run(self: NativeDataset, value: bytes | None, key: bytes,
                     scope: str | None) -> bytes | None:
        nonlocal made
        out = run(self, value, key, scope)
        made += out is not None
        return out

    spec = DATASET[DATASET_NAME]
    NativeDataset.encode = counting  # type: ignore[method-assign]
    NativeDataset.run = counting_run  # type: ignore[method-assign]
    try:
        for key, value, headers in inputs:
            expected = process(key, value, headers, {}, codecs, spec, python_options)
            found = process(key, value, headers, {}, codecs, spec, native_options)
            assert found == expected, (key, value)
    finally:
        NativeDataset.encode = encode  # type: ignore[method-assign]
        NativeDataset.run = run  # type: ignore[method-assign]
    if python_options.enricher is not None and native_options.enricher is not None:
        names, native_names = python_options.enricher.names, native_options.enricher.names
        assert names is not None and native_names is not None
        assert (names.accounts, names.zones) == (native_names.accounts, native_names.zones)
    return made


def _inputs(encoder: Encoder, pairs: Iterator[tuple[str, dict[str, Any]]]) -> list[
        tuple[bytes, bytes, dict[str, bytes]]]:
    headers = {k: v.encode() for k, v in headers_of(DATASET_NAME).items()}
    kafka_headers = {"cf.scope": headers["scope"], "cf.feed": DATASET_NAME.encode()}
    return [(key.encode(), encoder.encode(value), kafka_headers) for key, value in pairs]


def _samples(encoder: Encoder, n: int, seed: int) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    return _inputs(encoder, ((key_of(DATASET_NAME, r), topic_value(DATASET_NAME, r))
                             for r in samples(DATASET_NAME, n, seed)))


_THREATS = Path(tempfile.mkdtemp()) / "threats.txt"
_THREATS.write_text("0.0.0.0/1  # half of IPv4\n2001:db8::/32\n")

CONFIGS: dict[str, Callable[[], Options]] = {
    "plain": lambda: Options(legacy_audit=False),
    "enriched": lambda: Options(legacy_audit=False, enricher=_enricher()),
    "enriched+alerts": lambda: Options(legacy_audit=False, enricher=_enricher(),
                                       alert_rules=default_rules(), alert_topic="alerts"),
    "sampled": lambda: Options(legacy_audit=False, enricher=_enricher(),
                               sample_rates={"http_activity": 0.3}),
    # names learned from the records (no configured zone names)
    "learning": lambda: Options(legacy_audit=False, enricher=Enricher.default(roster=Roster())),
    # a threat list: Python enriches the view
    "threats": lambda: Options(legacy_audit=False, enricher=Enricher.default(
        roster=Roster(), threat_lists=[ThreatList(_THREATS)])),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_samples_give_the_python_bytes(setup: tuple[Codecs, Encoder], config: str) -> None:
    codecs, encoder = setup
    inputs = _samples(encoder, 300, 11)
    made = _compare(codecs, inputs, CONFIGS[config])
    # sampling drops ~70 % before encoding; alert subjects send ~a third to Python
    assert made >= {"sampled": 60, "enriched+alerts": 150}.get(config, 290), made


def test_odd_values_give_the_python_bytes(setup: tuple[Codecs, Encoder]) -> None:
    codecs, encoder = setup
    inputs = _inputs(encoder, odd_values(600, 5))
    made = _compare(codecs, inputs, CONFIGS["enriched"])
    assert made >= 200, made


def test_alert_rule_inputs_come_from_the_python_path(setup: tuple[Codecs, Encoder]) -> None:
    codecs, encoder = setup
    pairs = []
    for n, record in enumerate(samples(DATASET_NAME, 100, 17)):
        value = topic_value(DATASET_NAME, record)
        if n % 2:  # in the WAF rule's attack range and let through: an alert rule input
            value.update(WAFAttackScore=5, SecurityAction="")
        pairs.append((key_of(DATASET_NAME, record), value))
    made = _compare(codecs, _inputs(encoder, iter(pairs)), CONFIGS["enriched+alerts"])
    assert 40 <= made <= 60, made


def test_other_raw_schema_ids_go_the_python_way(setup: tuple[Codecs, Encoder]) -> None:
    codecs, encoder = setup
    native = transforms(codecs)[DATASET_NAME]
    key, value, headers = _samples(encoder, 1, 3)[0]
    assert native.prepare(value, key, "zone:" + ZONE) is not None
    unknown = value[:1] + (999_999).to_bytes(4, "big") + value[5:]
    assert native.prepare(unknown, key, None) is None
    assert native.prepare(b"\x01" + value[1:], key, None) is None
    assert native.prepare(value[:20], key, None) is None
    outcome = process(key, value, headers, {}, codecs, DATASET[DATASET_NAME],
                      Options(legacy_audit=False, native={DATASET_NAME: native}))
    assert isinstance(outcome, Output)


def test_native_off_by_env(setup: tuple[Codecs, Encoder], monkeypatch: pytest.MonkeyPatch) -> None:
    codecs, _ = setup
    monkeypatch.setenv("CFKAFKA_NATIVE", "0")
    assert transforms(codecs) == {}


def test_masked_routes_stay_python(setup: tuple[Codecs, Encoder]) -> None:
    codecs, _ = setup
    assert DATASET_NAME not in transforms(codecs, frozenset({"http_activity"}))


class _Recording(dict[str, Any]):
    """A dict that remembers which keys were read."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def test_the_python_steps_read_and_write_only_what_the_view_carries() -> None:
    """Enrichers, sampling and alert rule subjects touch only ``VIEW_FIELDS`` and
    ``VIEW_UNMAPPED``, and change only ``VIEW_WRITES``; the rules alone read only
    ``RULE_FIELDS`` (else a native view misses it)."""
    from copy import deepcopy

    from streams.enrich import ThreatList
    from streams.native import RULE_FIELDS, VIEW_FIELDS, VIEW_UNMAPPED, VIEW_WRITES
    from streams.ocsf import normalize
    from streams.routing import security_relevant

    enricher = Enricher.default(account_names={ACCOUNT: "Example Account"},
                                zone_names={ZONE: "example.com"}, roster=Roster(),
                                threat_lists=[ThreatList("/nonexistent")])
    rules = default_rules()
    read: set[str] = set()
    rule_read: set[str] = set()
    unmapped_read: set[str] = set()
    changed: set[str] = set()
    for n, record in enumerate(samples(DATASET_NAME, 200, 23)):
        value = topic_value(DATASET_NAME, record)
        if n % 2:
            value.update(WAFAttackScore=5, SecurityAction="")
        event = normalize(DATASET_NAME, key_of(DATASET_NAME, record), value,
                          scope="zone:" + ZONE)
        before = deepcopy(event.record)
        view = _Recording(event.record)
        view["unmapped"] = unmapped = _Recording(event.record["unmapped"])
        rule_view = _Recording(event.record)
        rule_view["unmapped"] = rule_unmapped = _Recording(event.record["unmapped"])
        for rule in rules:
            rule.subject(rule_view)
        rule_read |= rule_view.read
        unmapped_read |= rule_unmapped.read
        security_relevant(view)
        enricher.enrich(view)
        for rule in rules:
            rule.subject(view)
        read |= view.read
        unmapped_read |= unmapped.read
        changed |= {k for k in before if k != "unmapped" and view.get(k) != before[k]}
    assert read <= set(VIEW_FIELDS), read - set(VIEW_FIELDS)
    assert rule_read <= set(RULE_FIELDS), rule_read - set(RULE_FIELDS)
    assert {"class_uid", "unmapped", "src_endpoint"} <= rule_read
    assert unmapped_read <= set(VIEW_UNMAPPED), unmapped_read - set(VIEW_UNMAPPED)
    assert changed <= set(VIEW_WRITES), changed - set(VIEW_WRITES)
    assert "enrichments" in changed and {"http_request", "src_endpoint"} <= read
