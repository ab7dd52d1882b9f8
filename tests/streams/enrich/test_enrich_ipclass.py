"""IP classification."""

from __future__ import annotations

import json

import pytest
from enrich_factories import http_record

from streams.enrich import IpClassifier, RawView, classify_ip


@pytest.mark.parametrize(
    ("ip", "version", "category", "detail"),
    [
        ("8.8.8.8", 4, "public", None),
        ("10.1.2.3", 4, "private", None),
        ("172.31.255.255", 4, "private", None),
        ("172.32.0.1", 4, "public", None),
        ("192.168.1.1", 4, "private", None),
        ("100.64.0.1", 4, "cgnat", None),
        ("100.127.255.254", 4, "cgnat", None),
        ("100.128.0.1", 4, "public", None),
        ("127.0.0.1", 4, "loopback", None),
        ("169.254.169.254", 4, "link_local", None),
        ("224.0.0.251", 4, "multicast", None),
        ("240.0.0.1", 4, "reserved", "future_use"),
        ("255.255.255.255", 4, "reserved", "broadcast"),
        ("0.0.0.0", 4, "reserved", "unspecified"),
        ("192.0.2.1", 4, "reserved", "documentation"),
        ("198.51.100.7", 4, "reserved", "documentation"),
        ("198.18.0.1", 4, "reserved", "benchmarking"),
        ("2606:4700:4700::1111", 6, "public", None),
        ("::1", 6, "loopback", None),
        ("::", 6, "reserved", "unspecified"),
        ("fd12:3456::1", 6, "private", None),
        ("fe80::1%eth0", 6, "link_local", None),
        ("ff02::1", 6, "multicast", None),
        ("2001:db8::5", 6, "reserved", "documentation"),
        ("::ffff:10.0.0.1", 4, "private", None),  # IPv4-mapped: the IPv4 answer
        (" 8.8.4.4 ", 4, "public", None),
    ],
)
def test_classify(ip, version, category, detail):
    found = classify_ip(ip)
    assert (found.version, found.category, found.detail) == (version, category, detail)
    assert found.is_public == (category == "public")


@pytest.mark.parametrize("text", ["", "not-an-ip", "300.1.1.1", "1.2.3.4/24", "unknown"])
def test_not_an_ip(text):
    assert classify_ip(text) is None


def test_enrichment_carries_cloudflare_country_asn_and_ip_class():
    record = http_record(ip="8.8.8.8", country="T1", asn=13335)
    record["src_endpoint"]["autonomous_system"]["name"] = "CLOUDFLARENET"
    IpClassifier()(record, RawView(record))
    [entry] = record["enrichments"]
    assert (entry["name"], entry["value"], entry["type"]) == (
        "src_endpoint.ip", "8.8.8.8", "ip_classification")
    assert json.loads(entry["data"]) == {
        "version": 4, "category": "public", "country": "T1", "asn": 13335,
        "as_name": "CLOUDFLARENET", "cloudflare_ip_class": "clean", "tor": True}


def test_missing_parts_are_left_out():
    record = {"src_endpoint": {"ip": "10.0.0.1", "location": None, "autonomous_system": None}}
    IpClassifier()(record, RawView(record))
    assert json.loads(record["enrichments"][0]["data"]) == {"version": 4, "category": "private"}


def test_no_or_bad_ip_changes_nothing():
    for record in ({}, {"src_endpoint": None}, {"src_endpoint": {"ip": "garbage"}},
                   {"src_endpoint": {"ip": 7}}):
        before = dict(record)
        IpClassifier()(record, RawView(record))
        assert record == before
