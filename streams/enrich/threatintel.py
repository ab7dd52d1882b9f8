"""Threat-intel matching of IPs against user-supplied lists of IPs and CIDRs.

A list file holds one IP or CIDR per line; ``#`` starts a comment, and a comment after an
entry is kept as that entry's note::

    # botnet C2 (vendor feed, 2026-11-01)
    203.0.113.7
    198.51.100.0/24   # scanner
    2001:db8:bad::/48

Lookups are one ``bisect`` over sorted, disjoint integer ranges per IP version: the CIDRs
(nested or disjoint, never partly overlapping) are flattened so that each range maps to the
most specific entry covering it. Thousands of CIDRs cost microseconds per lookup.

:class:`ThreatList` watches its file: at most every ``check_interval_s`` (injected clock) it
compares the file's mtime and size and reloads on a change. A missing or unreadable file
never fails an event: the last good list stays in use (empty if there never was one) and
the problem is logged once.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ipclass import parse_ip
from .record import RawView, Record, dumps, get_path, upsert_enrichment

log = logging.getLogger(__name__)

THREAT_ENRICHMENT = "threat_intel"
DEFAULT_CHECK_INTERVAL_S = 30.0
_CACHE_LIMIT = 65_536


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One line of a list: the network as written (normalised) and its note."""

    network: str
    note: str | None
    line: int


@dataclass(frozen=True, slots=True)
class ThreatMatch:
    """A match of an IP against a list."""

    list_name: str
    entry: ListEntry


class IpRangeSet:
    """Longest-prefix matching of addresses against IPv4 and IPv6 CIDRs with ``bisect``."""

    def __init__(
        self, entries: Iterable[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ListEntry]]
    ) -> None:
        """Index ``entries`` (network, what to return on a match)."""
        by_version: dict[int, list[tuple[int, int, ListEntry]]] = {4: [], 6: []}
        for network, entry in entries:
            by_version[network.version].append(
                (int(network.network_address), int(network.broadcast_address), entry)
            )
        self._tables = {version: _flatten(ranges) for version, ranges in by_version.items()}
        self.size = sum(len(ranges) for ranges in by_version.values())

    def lookup(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ListEntry | None:
        """The most specific entry covering ``address``, or None."""
        starts, ends, entries = self._tables[address.version]
        value = int(address)
        index = bisect_right(starts, value) - 1
        if index >= 0 and value <= ends[index]:
            return entries[index]
        return None


def _flatten(
    ranges: list[tuple[int, int, ListEntry]],
) -> tuple[list[int], list[int], list[ListEntry]]:
    """Disjoint ``[start, end]`` segments, each labelled with the innermost covering range.

    CIDR ranges are laminar (two are either nested or disjoint), so a stack sweep over the
    ranges sorted by (start, widest first) yields the segments in order. Duplicates keep the
    first entry.
    """
    starts: list[int] = []
    ends: list[int] = []
    labels: list[ListEntry] = []

    def emit(start: int, end: int, label: ListEntry) -> None:
        if start > end:
            return
        if labels and labels[-1] is label and ends[-1] + 1 == start:
            ends[-1] = end
            return
        starts.append(start)
        ends.append(end)
        labels.append(label)

    stack: list[tuple[int, int, ListEntry]] = []
    cursor = 0
    for start, end, label in sorted(ranges, key=lambda r: (r[0], -r[1], r[2].line)):
        while stack and stack[-1][1] < start:
            _, top_end, top_label = stack.pop()
            emit(cursor, top_end, top_label)
            cursor = top_end + 1
        if stack:
            top_start, top_end, top_label = stack[-1]
            if (top_start, top_end) == (start, end):
                continue  # duplicate network: the first line wins
            emit(cursor, start - 1, top_label)
        stack.append((start, end, label))
        cursor = start
    while stack:
        _, top_end, top_label = stack.pop()
        emit(cursor, top_end, top_label)
        cursor = top_end + 1
    return starts, ends, labels


def parse_list(lines: Iterable[str]) -> tuple[IpRangeSet, list[str]]:
    """Parse list lines into a range set, and the problems found (bad lines are skipped)."""
    entries: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ListEntry]] = []
    problems: list[str] = []
    for number, line in enumerate(lines, 1):
        text, _, comment = line.partition("#")
        text = text.strip()
        if not text:
            continue
        token = text.split()[0]
        try:
            network = ipaddress.ip_network(token.split("%", 1)[0], strict=False)
        except ValueError:
            problems.append(f"line {number}: not an IP or CIDR: {token!r}")
            continue
        if isinstance(network, ipaddress.IPv6Network):
            mapped = network.network_address.ipv4_mapped
            if mapped is not None and network.prefixlen >= 96:
                network = ipaddress.IPv4Network((mapped, network.prefixlen - 96))
        note = comment.strip() or None
        entries.append((network, ListEntry(str(network), note, number)))
    return IpRangeSet(entries), problems


class ThreatList:
    """A list file of IPs/CIDRs, reloaded when it changes; adds ``threat_intel`` enrichments."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        check_interval_s: float = DEFAULT_CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        fields: tuple[str, ...] = ("src_endpoint.ip",),
    ) -> None:
        """Watch ``path`` (named ``name``, default the file name), checked every interval.

        ``fields`` are the dotted record paths whose IPs are matched.
        """
        self.path = Path(path)
        self.name = name or self.path.name
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._fields = tuple((field, tuple(field.split("."))) for field in fields)
        self._ranges = IpRangeSet(())
        self._signature: tuple[int, int] | None = None
        self._checked_at: float | None = None
        self._cache: dict[str, ListEntry | None] = {}
        self.problems: list[str] = []
        self.refresh(force=True)

    @property
    def size(self) -> int:
        """How many entries the current list has."""
        return self._ranges.size

    def refresh(self, *, force: bool = False) -> bool:
        """Reload the file if it changed (or ``force``); True when a new list was loaded.

        Without ``force`` the file is looked at no more than once per ``check_interval_s``.
        """
        now = self._clock()
        if (
            not force
            and self._checked_at is not None
            and now - self._checked_at < self.check_interval_s
        ):
            return False
        self._checked_at = now
        try:
            stat = self.path.stat()
        except OSError as exc:
            if self._signature != (-1, -1):
                log.warning(
                    "threat list %s: cannot stat %s (%s); keeping the last list",
                    self.name,
                    self.path,
                    exc,
                )
                self._signature = (-1, -1)
            return False
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._signature and not force:
            return False
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.warning(
                "threat list %s: cannot read %s (%s); keeping the last list",
                self.name,
                self.path,
                exc,
            )
            return False
        ranges, problems = parse_list(text.splitlines())
        for problem in problems[:20]:
            log.warning("threat list %s: %s", self.name, problem)
        self._ranges, self.problems, self._signature = ranges, problems, signature
        self._cache = {}
        log.info("threat list %s: %d entries loaded from %s", self.name, ranges.size, self.path)
        return True

    def match(self, ip: str) -> ThreatMatch | None:
        """The list entry covering ``ip`` (after a rate-limited reload check), or None."""
        self.refresh()
        entry = self._lookup(ip)
        return None if entry is None else ThreatMatch(self.name, entry)

    def _lookup(self, ip: str) -> ListEntry | None:
        try:
            return self._cache[ip]
        except KeyError:
            pass
        address = parse_ip(ip)
        entry = None if address is None else self._ranges.lookup(address)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[ip] = entry
        return entry

    @property
    def fields(self) -> tuple[str, ...]:
        """The dotted record paths whose IPs are matched."""
        return tuple(field for field, _ in self._fields)

    def __call__(self, record: Record, raw: RawView) -> None:
        """Add a ``threat_intel`` enrichment for each watched IP field that matches."""
        self.refresh()
        if self._ranges.size == 0:
            return
        for field, path in self._fields:
            ip = get_path(record, *path)
            if not isinstance(ip, str) or not ip:
                continue
            entry = self._lookup(ip)
            if entry is None:
                continue
            data: dict[str, Any] = {"list": self.name, "entry": entry.network, "line": entry.line}
            if entry.note:
                data["note"] = entry.note
            upsert_enrichment(
                record,
                name=field,
                value=ip,
                type_=THREAT_ENRICHMENT,
                provider=self.name,
                data=dumps(data),
            )
