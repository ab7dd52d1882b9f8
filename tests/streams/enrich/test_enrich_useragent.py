"""User-agent parsing with ua-parser and its cache."""

from __future__ import annotations

import json

import pytest
from enrich_factories import CHROME, http_record

from streams.enrich import RawView, UserAgentInfo, UserAgentParser, parse_with_ua_parser
from streams.enrich.useragent import MAX_UA_CHARS

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize(
    ("ua", "browser", "os_", "device"),
    [
        (CHROME, "Chrome", "Windows", "Other"),
        (IPHONE, "Mobile Safari", "iOS", "iPhone"),
        ("curl/8.7.1", "curl", "Other", "Other"),
        ("", "Other", "Other", "Other"),
    ],
)
def test_ua_parser_results(ua, browser, os_, device):
    info = parse_with_ua_parser(ua)
    assert (info.browser, info.os, info.device) == (browser, os_, device)


def test_versions_are_joined():
    info = parse_with_ua_parser(CHROME)
    assert info.browser_version == "124.0.0"
    assert info.os_version == "10"


def test_enrichment_entry():
    record = http_record()
    UserAgentParser()(record, RawView(record))
    [entry] = record["enrichments"]
    assert entry["name"] == "http_request.user_agent"
    assert entry["value"] == CHROME
    assert entry["type"] == "user_agent" and entry["provider"] == "ua-parser"
    assert json.loads(entry["data"]) == {
        "browser": "Chrome", "browser_version": "124.0.0", "os": "Windows", "os_version": "10",
        "device": "Other"}


def test_parses_are_cached():
    calls = []

    def fake(ua):
        calls.append(ua)
        return UserAgentInfo(browser="B" + str(len(calls)))

    parser = UserAgentParser(fake, cache_size=2)
    for ua in ["a", "a", "b", "a", "c", "a", "b"]:
        record = {"http_request": {"user_agent": ua}}
        parser(record, RawView(record))
    assert calls == ["a", "b", "c", "b"]  # LRU of 2: "b" was evicted by "c"


def test_long_user_agents_are_cut_before_parsing():
    seen = []
    parser = UserAgentParser(lambda ua: seen.append(ua) or UserAgentInfo())
    parser.data("x" * 100_000)
    assert len(seen[0]) == MAX_UA_CHARS


def test_records_without_user_agent_are_untouched():
    parser = UserAgentParser()
    for record in ({}, {"http_request": None}, {"http_request": {"user_agent": ""}},
                   {"http_request": {"user_agent": 5}}):
        before = dict(record)
        parser(record, RawView(record))
        assert record == before
