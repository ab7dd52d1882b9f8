"""Pure: mask email addresses and IP addresses in an outgoing record (per route).

Every string of the record is scanned, including ``raw_data`` and ``unmapped`` (JSON text),
so a masked value does not survive in a copy. Two modes:

- keyed (``STREAMS_MASK_KEY`` set): HMAC-SHA256 of the value with the key. An email becomes
  ``<16 hex>@masked.invalid``, an IP address the IPv6 ``fdxx:...`` (unique-local range) made
  of the hash, so it stays a valid address, and the same input always maps to the same
  output: joins and counts per user or client still work; without the key, not reversible.
- fixed (no key): an email becomes ``redacted@<its domain>``; an IPv4 address keeps its /24
  (``192.0.2.77`` -> ``192.0.2.0``), an IPv6 address its /48.

IP candidates are validated with ``ipaddress`` (times like ``12:34:56`` are left alone); a
four-part dotted version number that is also a valid IPv4 address is masked too.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = frozenset({"email", "ip"})

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_IP = re.compile(
    rf"(?<![\w.:])(?:(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_IPV4}|[0-9A-Fa-f]{{0,4}})|{_IPV4})(?![\w.:])"
)
_CACHE = 65536


@dataclass(frozen=True)
class Masker:
    """Masks ``kinds`` (``email``, ``ip``) with ``key`` (keyed hash) or a fixed mask."""

    kinds: frozenset[str]
    key: bytes | None = None

    def __post_init__(self) -> None:
        """Bind the cached per-value maskers."""
        object.__setattr__(self, "_email", functools.lru_cache(_CACHE)(self._mask_email))
        object.__setattr__(self, "_ip", functools.lru_cache(_CACHE)(self._mask_ip))

    def __bool__(self) -> bool:
        """False when there is nothing to mask."""
        return bool(self.kinds)

    def _digest(self, value: str) -> bytes:
        assert self.key is not None
        return hmac.new(self.key, value.encode(), hashlib.sha256).digest()

    def _mask_email(self, email: str) -> str:
        if self.key is not None:
            return f"{self._digest(email.lower()).hex()[:16]}@masked.invalid"
        return "redacted@" + email.rsplit("@", 1)[1]

    def _mask_ip(self, text: str) -> str:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return text  # not an address after all
        if self.key is not None:
            bits = int.from_bytes(self._digest(address.compressed)[:15], "big")
            return str(ipaddress.IPv6Address((0xFD << 120) | bits))
        prefix = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)

    def text(self, value: str) -> str:
        """``value`` with every email / IP address in it masked."""
        email: Callable[[str], str] = self._email  # type: ignore[attr-defined]
        ip: Callable[[str], str] = self._ip  # type: ignore[attr-defined]
        if "email" in self.kinds and "@" in value:
            value = _EMAIL.sub(lambda m: email(m.group(0)), value)
        if "ip" in self.kinds and ("." in value or ":" in value):
            value = _IP.sub(lambda m: ip(m.group(0)), value)
        return value

    def record(self, value: Any) -> Any:
        """A copy of ``value`` (dicts, lists, strings) with every string masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.record(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.record(v) for v in value]
        return value


def parse_kinds(text: str) -> frozenset[str]:
    """``"email,ip"`` -> ``{"email", "ip"}``; raise ``ValueError`` for an unknown kind."""
    kinds = frozenset(p.strip().lower() for p in text.split(",") if p.strip())
    unknown = kinds - KINDS
    if unknown:
        msg = f"unknown mask kind(s) {sorted(unknown)}; use {sorted(KINDS)}"
        raise ValueError(msg)
    return kinds
