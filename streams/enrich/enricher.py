"""The composed enricher: names, roster, user agent, IP class and threat lists, in order.

Each step is a callable ``step(record, raw)`` that may add to ``record`` and never raises
for missing data (a lookup that finds nothing leaves the record as it was). ``raw`` is a
:class:`~streams.enrich.record.RawView` shared by the steps, so ``raw_data`` is parsed at
most once per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .ipclass import IpClassifier
from .names import NameBook
from .record import RawView, Record, copy_json
from .roster import Roster
from .threatintel import ThreatList
from .useragent import UserAgentParser

Step = Callable[[Record, RawView], None]
"""One enrichment step: adds what it knows to the record, in place."""


class Enricher:
    """Applies enrichment steps to OCSF record dicts."""

    def __init__(
        self,
        *,
        names: NameBook | None = None,
        roster: Roster | None = None,
        user_agents: UserAgentParser | None = None,
        classify_ips: bool = True,
        threat_lists: Sequence[ThreatList] = (),
        extra_steps: Iterable[Step] = (),
    ) -> None:
        """Compose the given parts; any can be left out (None, False, empty)."""
        self.names = names
        self.roster = roster
        self.user_agents = user_agents
        self.threat_lists = tuple(threat_lists)
        steps: list[Step] = []
        if names is not None:
            steps.append(names)
        if roster is not None:
            steps.append(roster)
        if user_agents is not None:
            steps.append(user_agents)
        if classify_ips:
            steps.append(IpClassifier())
        steps.extend(self.threat_lists)
        steps.extend(extra_steps)
        self.steps: tuple[Step, ...] = tuple(steps)

    @classmethod
    def default(
        cls,
        *,
        account_names: Mapping[str, str] | None = None,
        zone_names: Mapping[str, str] | None = None,
        roster: Roster | None = None,
        threat_lists: Sequence[ThreatList] = (),
    ) -> Enricher:
        """All steps with in-memory books seeded from configuration."""
        return cls(
            names=NameBook(dict(account_names or {}), dict(zone_names or {})),
            roster=roster if roster is not None else Roster(),
            user_agents=UserAgentParser(),
            threat_lists=threat_lists,
        )

    def enrich(self, record: Record) -> Record:
        """Enrich ``record`` in place and return it."""
        raw = RawView(record)
        for step in self.steps:
            step(record, raw)
        return record

    def enriched(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """An enriched deep copy of ``record`` (the input is left untouched)."""
        copy: dict[str, Any] = copy_json(dict(record))
        self.enrich(copy)
        return copy

    __call__ = enrich
