"""The record accessors shared by enrichers and rules."""

from __future__ import annotations

import json

from streams.enrich.record import (
    RawView,
    copy_json,
    get_path,
    get_str,
    unmapped_value,
    upsert_enrichment,
)


def test_get_path_is_defensive():
    record = {"a": {"b": {"c": 1}}, "s": "x", "n": None}
    assert get_path(record, "a", "b", "c") == 1
    assert get_path(record, "a", "x", "c") is None
    assert get_path(record, "s", "x") is None
    assert get_path(record, "n", "x") is None
    assert get_str(record, "s") == "x"
    assert get_str({"s": ""}, "s") is None


def test_unmapped_values_are_json_decoded():
    record = {"unmapped": {"WAFAttackScore": "15", "SecurityAction": '"block"', "Bad": "{"}}
    assert unmapped_value(record, "WAFAttackScore") == 15
    assert unmapped_value(record, "SecurityAction") == "block"
    assert unmapped_value(record, "Bad") is None
    assert unmapped_value(record, "Missing") is None
    assert unmapped_value({"unmapped": None}, "x") is None


def test_raw_view_parses_once_and_tolerates_garbage():
    record = {"raw_data": json.dumps({"zone": {"name": "example.com"}})}
    view = RawView(record)
    assert view.get_str("zone", "name") == "example.com"
    record["raw_data"] = "changed"
    assert view.get("zone", "name") == "example.com"  # parsed once
    assert RawView({"raw_data": "not json"}).data == {}
    assert RawView({"raw_data": "[1, 2]"}).data == {}
    assert RawView({}).get("x") is None


def test_upsert_enrichment_replaces_same_name_type_provider():
    record = {}
    upsert_enrichment(record, name="a", value="1", type_="t", provider="p", data=None)
    upsert_enrichment(record, name="a", value="2", type_="t", provider="p", data="{}")
    upsert_enrichment(record, name="a", value="3", type_="t", provider="q", data=None)
    assert [(e["value"], e["provider"]) for e in record["enrichments"]] == [("2", "p"), ("3", "q")]


def test_copy_json_is_deep():
    original = {"a": [{"b": 1}], "c": "x"}
    copy = copy_json(original)
    copy["a"][0]["b"] = 2
    assert original == {"a": [{"b": 1}], "c": "x"}
