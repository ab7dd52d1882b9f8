"""Threat-intel lists: parsing, longest-prefix lookups, reloading."""

from __future__ import annotations

import ipaddress
import json
import os
import random

import pytest

from streams.enrich import RawView, ThreatList, parse_list

LIST = """\
# vendor feed
203.0.113.7
198.51.100.0/24   # scanner
198.51.100.128/25 # scanner, upper half
198.51.100.200    # the worst one
10.0.0.0/8
2001:db8:bad::/48 # v6 range
not-an-ip
1.2.3.4/40
::ffff:192.0.2.0/120  # mapped: same as 192.0.2.0/24
"""


def lookup(ranges, ip):
    entry = ranges.lookup(ipaddress.ip_address(ip))
    return None if entry is None else entry.network


def test_parse_list_with_comments_notes_and_bad_lines():
    ranges, problems = parse_list(LIST.splitlines())
    assert ranges.size == 7
    assert problems == ["line 8: not an IP or CIDR: 'not-an-ip'",
                        "line 9: not an IP or CIDR: '1.2.3.4/40'"]
    entry = ranges.lookup(ipaddress.ip_address("198.51.100.5"))
    assert (entry.network, entry.note, entry.line) == ("198.51.100.0/24", "scanner", 3)


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("203.0.113.7", "203.0.113.7/32"),
        ("203.0.113.8", None),
        ("198.51.100.0", "198.51.100.0/24"),
        ("198.51.100.127", "198.51.100.0/24"),
        ("198.51.100.128", "198.51.100.128/25"),
        ("198.51.100.199", "198.51.100.128/25"),
        ("198.51.100.200", "198.51.100.200/32"),
        ("198.51.100.201", "198.51.100.128/25"),
        ("198.51.100.255", "198.51.100.128/25"),
        ("198.51.101.0", None),
        ("10.255.255.255", "10.0.0.0/8"),
        ("11.0.0.0", None),
        ("2001:db8:bad:1::1", "2001:db8:bad::/48"),
        ("2001:db8:bae::1", None),
        ("192.0.2.9", "192.0.2.0/24"),
    ],
)
def test_most_specific_entry_wins(ip, network):
    ranges, _ = parse_list(LIST.splitlines())
    assert lookup(ranges, ip) == network


def test_matches_brute_force_on_random_nested_lists():
    rng = random.Random(7)
    networks = []
    for _ in range(3000):
        if rng.random() < 0.2:
            bits = rng.choice((32, 40, 48, 64, 128))
            value = (0x2001_0DB8 << 96) | (rng.getrandbits(32) << 64)
            networks.append(ipaddress.ip_network((value, bits), strict=False))
        else:
            bits = rng.choice((8, 12, 16, 20, 24, 28, 32))
            networks.append(ipaddress.ip_network((rng.getrandbits(32), bits), strict=False))
    ranges, problems = parse_list(str(n) for n in networks)
    assert problems == []
    first_line = {}
    for line, network in enumerate(networks, 1):
        first_line.setdefault(network, line)
    probes = [ipaddress.ip_address(rng.getrandbits(32)) for _ in range(500)]
    probes += [n.network_address + rng.randrange(n.num_addresses) for n in networks[:500]]
    for address in probes:
        covering = [n for n in first_line if n.version == address.version and address in n]
        expected = max(covering, key=lambda n: n.prefixlen) if covering else None
        found = ranges.lookup(address)
        assert (None if found is None else found.network) == (
            None if expected is None else str(expected)), address


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def write(path, text, mtime):
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))


def test_reloads_when_the_file_changes_at_most_every_interval(tmp_path):
    path = tmp_path / "bad-ips.txt"
    write(path, "203.0.113.7\n", 1_000_000_000)
    clock = Clock()
    threats = ThreatList(path, check_interval_s=30, clock=clock)
    assert threats.name == "bad-ips.txt" and threats.size == 1
    assert threats.match("203.0.113.7").entry.network == "203.0.113.7/32"
    write(path, "198.51.100.0/24\n", 2_000_000_000)
    clock.now += 10  # within the interval: not even looked at
    assert threats.match("198.51.100.9") is None
    clock.now += 25
    match = threats.match("198.51.100.9")
    assert match is not None and match.list_name == "bad-ips.txt"
    assert threats.match("203.0.113.7") is None


def test_unchanged_file_is_not_reparsed(tmp_path):
    path = tmp_path / "list.txt"
    write(path, "203.0.113.7\n", 1_000_000_000)
    clock = Clock()
    threats = ThreatList(path, check_interval_s=1, clock=clock)
    clock.now += 5
    assert threats.refresh() is False
    write(path, "203.0.113.8\n", 1_000_000_000)  # same size and mtime: looks unchanged
    clock.now += 5
    assert threats.refresh() is False
    assert threats.refresh(force=True) is True


def test_missing_file_never_fails_and_keeps_the_last_list(tmp_path, caplog):
    path = tmp_path / "list.txt"
    clock = Clock()
    threats = ThreatList(path, name="intel", check_interval_s=1, clock=clock)
    assert threats.size == 0 and threats.match("203.0.113.7") is None
    write(path, "203.0.113.7\n", 1_000_000_000)
    clock.now += 2
    assert threats.match("203.0.113.7") is not None
    path.unlink()
    clock.now += 2
    assert threats.match("203.0.113.7") is not None  # last good list stays
    assert "cannot stat" in caplog.text


def test_enrichment_entry_names_the_entry_and_the_list(tmp_path):
    path = tmp_path / "c2.txt"
    write(path, "198.51.100.0/24 # botnet C2\n", 1_000_000_000)
    threats = ThreatList(path, name="c2-feed", fields=("src_endpoint.ip", "dst_endpoint.ip"))
    record = {"src_endpoint": {"ip": "198.51.100.9"}, "dst_endpoint": {"ip": "8.8.8.8"}}
    threats(record, RawView(record))
    [entry] = record["enrichments"]
    assert (entry["name"], entry["value"], entry["type"], entry["provider"]) == (
        "src_endpoint.ip", "198.51.100.9", "threat_intel", "c2-feed")
    assert json.loads(entry["data"]) == {
        "list": "c2-feed", "entry": "198.51.100.0/24", "line": 1, "note": "botnet C2"}
    threats(record, RawView(record))
    assert len(record["enrichments"]) == 1  # idempotent
    for bad in ({}, {"src_endpoint": {"ip": "nonsense"}}):
        threats(bad, RawView(bad))
        assert "enrichments" not in bad
