"""IP address classification (stdlib ``ipaddress``) plus what Cloudflare said about the IP.

Categories come from a fixed table of special-purpose ranges (RFC 6890 and successors)
rather than ``ipaddress``'s ``is_private``, whose answers differ between Python releases and
count documentation ranges as private. Categories: ``public``, ``private``, ``cgnat``,
``loopback``, ``link_local``, ``multicast``, ``reserved`` (with a ``detail`` such as
``documentation``, ``benchmarking``, ``unspecified``, ``broadcast``). IPv4-mapped IPv6
addresses are classified as their IPv4 address.

The enrichment adds the country and autonomous system Cloudflare put in the record
(``src_endpoint.location.country``, ``src_endpoint.autonomous_system``) and, for HTTP
events, Cloudflare's ``ClientIPClass`` (``tor``, ``searchEngine``, ...); Cloudflare's
country ``T1`` (and class ``tor``) mark Tor exit nodes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .record import RawView, Record, dumps, get_path, unmapped_value, upsert_enrichment

PROVIDER = "cfkafka"
IP_ENRICHMENT = "ip_classification"
DEFAULT_CACHE_SIZE = 65_536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (network, category, detail); the first match wins, so more specific ranges come first.
_V4_TABLE: tuple[tuple[str, str, str | None], ...] = (
    ("0.0.0.0/8", "reserved", "unspecified"),
    ("10.0.0.0/8", "private", None),
    ("100.64.0.0/10", "cgnat", None),
    ("127.0.0.0/8", "loopback", None),
    ("169.254.0.0/16", "link_local", None),
    ("172.16.0.0/12", "private", None),
    ("192.0.0.0/24", "reserved", "protocol_assignments"),
    ("192.0.2.0/24", "reserved", "documentation"),
    ("192.88.99.0/24", "reserved", "6to4_relay"),
    ("192.168.0.0/16", "private", None),
    ("198.18.0.0/15", "reserved", "benchmarking"),
    ("198.51.100.0/24", "reserved", "documentation"),
    ("203.0.113.0/24", "reserved", "documentation"),
    ("224.0.0.0/4", "multicast", None),
    ("255.255.255.255/32", "reserved", "broadcast"),
    ("240.0.0.0/4", "reserved", "future_use"),
)
_V6_TABLE: tuple[tuple[str, str, str | None], ...] = (
    ("::/128", "reserved", "unspecified"),
    ("::1/128", "loopback", None),
    ("100::/64", "reserved", "discard"),
    ("2001:db8::/32", "reserved", "documentation"),
    ("3fff::/20", "reserved", "documentation"),
    ("2001::/23", "reserved", "protocol_assignments"),
    ("fc00::/7", "private", None),
    ("fe80::/10", "link_local", None),
    ("ff00::/8", "multicast", None),
)


def _compile(
    table: tuple[tuple[str, str, str | None], ...],
) -> tuple[tuple[int, int, str, str | None], ...]:
    ranges = []
    for text, category, detail in table:
        network = ipaddress.ip_network(text)
        ranges.append(
            (int(network.network_address), int(network.broadcast_address), category, detail)
        )
    return tuple(ranges)


_V4_RANGES = _compile(_V4_TABLE)
_V6_RANGES = _compile(_V6_TABLE)


@dataclass(frozen=True, slots=True)
class IpClass:
    """The classification of one address."""

    version: int
    category: str
    detail: str | None = None

    @property
    def is_public(self) -> bool:
        """True for globally routed unicast space."""
        return self.category == "public"


def parse_ip(text: str) -> IPAddress | None:
    """The address in ``text`` (IPv4-mapped IPv6 unwrapped, zone id dropped), or None."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def classify(address: IPAddress) -> IpClass:
    """Classify an address by the special-purpose range table."""
    ranges = _V4_RANGES if address.version == 4 else _V6_RANGES
    value = int(address)
    for low, high, category, detail in ranges:
        if low <= value <= high:
            return IpClass(address.version, category, detail)
    return IpClass(address.version, "public")


@lru_cache(maxsize=DEFAULT_CACHE_SIZE)
def classify_ip(text: str) -> IpClass | None:
    """Classify the IP in ``text`` (cached); None when ``text`` is not an IP address."""
    address = parse_ip(text)
    return None if address is None else classify(address)


@lru_cache(maxsize=DEFAULT_CACHE_SIZE)
def _data(
    ip: str, country: str | None, asn: Any, as_name: str | None, ip_class: str | None
) -> str | None:
    found = classify_ip(ip)
    if found is None:
        return None
    data: dict[str, Any] = {"version": found.version, "category": found.category}
    if found.detail:
        data["detail"] = found.detail
    if country:
        data["country"] = country
    if asn is not None:
        data["asn"] = asn
    if as_name:
        data["as_name"] = as_name
    if ip_class:
        data["cloudflare_ip_class"] = ip_class
    if country == "T1" or (ip_class or "").lower() == "tor":
        data["tor"] = True
    return dumps(data)


class IpClassifier:
    """Adds an ``ip_classification`` enrichment for ``src_endpoint.ip``."""

    #: ``data(ip, country, asn, as_name, ip_class)``: the enrichment ``data`` (or None for
    #: a value that is not an IP), pure and cached (the native path calls it too)
    data = staticmethod(_data)

    def __call__(self, record: Record, raw: RawView) -> None:
        """Classify the source IP of ``record`` (nothing happens without a valid IP)."""
        endpoint = record.get("src_endpoint")
        if not isinstance(endpoint, dict):
            return
        ip = endpoint.get("ip")
        if not isinstance(ip, str) or not ip:
            return
        country = get_path(endpoint, "location", "country")
        asn = get_path(endpoint, "autonomous_system", "number")
        as_name = get_path(endpoint, "autonomous_system", "name")
        ip_class = unmapped_value(record, "ClientIPClass")
        data = _data(
            ip,
            country if isinstance(country, str) and country else None,
            asn if isinstance(asn, int | str) and not isinstance(asn, bool) else None,
            as_name if isinstance(as_name, str) and as_name else None,
            ip_class if isinstance(ip_class, str) and ip_class else None,
        )
        if data is None:
            return
        upsert_enrichment(
            record,
            name="src_endpoint.ip",
            value=ip,
            type_=IP_ENRICHMENT,
            provider=PROVIDER,
            data=data,
        )
