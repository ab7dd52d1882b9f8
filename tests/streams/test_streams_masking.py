"""streams.masking: emails and IP addresses masked everywhere in a record, keyed or fixed."""

from __future__ import annotations

import json

import pytest

from streams.masking import Masker, parse_kinds

BOTH = frozenset({"email", "ip"})
TEXT = "ana@example.com from 192.0.2.77 and 2001:db8:e9bd:fde5:8467:8952::40f9"


def test_fixed_masks_keep_domain_and_network():
    masked = Masker(BOTH).text(TEXT)
    assert masked == "redacted@example.com from 192.0.2.0 and 2001:db8:e9bd::"


def test_keyed_masks_are_stable_valid_addresses_and_depend_on_the_key():
    import ipaddress

    one, other = Masker(BOTH, b"k1"), Masker(BOTH, b"k2")
    email, ip = one.text("ana@example.com"), one.text("192.0.2.77")
    assert email.endswith("@masked.invalid") and "ana" not in email
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("fd00::/8")
    assert one.text("ana@example.com") == email  # same input, same output
    assert one.text("ANA@example.com") == email  # emails are case-insensitive
    assert other.text("ana@example.com") != email
    assert one.text("192.0.2.78") != ip


@pytest.mark.parametrize(
    "text",
    ["12:34:56", "2026-11-22T20:19:48.123Z", "aa:bb:cc:dd:ee:ff", "v1.3.0", "no@tld", "1.2.3"],
)
def test_non_addresses_are_left_alone(text):
    assert Masker(BOTH, b"k").text(text) == text


def test_only_the_configured_kinds():
    assert Masker(frozenset({"email"})).text(TEXT).endswith("192.0.2.77 and 2001:db8:e9bd:"
                                                            "fde5:8467:8952::40f9")
    assert Masker(frozenset({"ip"})).text(TEXT).startswith("ana@example.com from 192.0.2.0")
    assert not Masker(frozenset())


def test_record_masks_nested_values_raw_data_and_unmapped():
    record = {
        "actor": {"user": {"email_addr": "ana@example.com", "name": "ana@example.com"}},
        "src_endpoint": {"ip": "192.0.2.77", "port": 443},
        "raw_data": json.dumps({"actor": {"email": "ana@example.com", "ip": "192.0.2.77"}}),
        "unmapped": {"metadata.member_email": '"bo@example.org"'},
        "enrichments": [{"value": "10.1.2.3"}],
        "time": 1,
    }
    masked = Masker(BOTH).record(record)
    text = json.dumps(masked)
    for secret in ("ana@", "bo@", "192.0.2.77", "10.1.2.3"):
        assert secret not in text
    assert masked["src_endpoint"] == {"ip": "192.0.2.0", "port": 443}
    assert masked["time"] == 1
    assert record["src_endpoint"]["ip"] == "192.0.2.77"  # the input is not modified


def test_parse_kinds():
    assert parse_kinds(" email , IP ") == BOTH
    assert parse_kinds("") == frozenset()
    with pytest.raises(ValueError, match="phone"):
        parse_kinds("email,phone")
