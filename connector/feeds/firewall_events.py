"""Firewall / WAF events via the GraphQL Analytics API (``firewallEventsAdaptive``).

Field names are mapped to the Logpush ``firewall_events`` names, so pulled and pushed copies
can share one topic. Windows are half-open ``[start, end)`` (``datetime_geq``/``datetime_lt``)
on whole seconds; a page that comes back full is split in two until it is not.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any, ClassVar

from connector.client import CloudflareClient
from connector.errors import FatalSourceError, RecordError
from connector.governor import Governor
from connector.windows import Window, WindowPolicy

log = logging.getLogger(__name__)

#: GraphQL field -> Logpush firewall_events field, most important first (the node caps the
#: number of fields per query, usually at 30).
FIELD_MAP: dict[str, str] = {
    "rayName": "RayID", "matchIndex": "MatchIndex", "ruleId": "RuleID", "source": "Source",
    "datetime": "Datetime", "action": "Action", "kind": "Kind", "description": "Description",
    "ref": "Ref", "rulesetId": "RulesetID", "sampleInterval": "SampleInterval",
    "clientIP": "ClientIP", "clientAsn": "ClientASN",
    "clientASNDescription": "ClientASNDescription", "clientCountryName": "ClientCountry",
    "clientIPClass": "ClientIPClass", "clientRequestHTTPHost": "ClientRequestHost",
    "clientRequestHTTPMethodName": "ClientRequestMethod",
    "clientRequestHTTPProtocol": "ClientRequestProtocol", "clientRequestPath": "ClientRequestPath",
    "clientRequestQuery": "ClientRequestQuery", "clientRequestScheme": "ClientRequestScheme",
    "userAgent": "ClientRequestUserAgent", "edgeColoName": "EdgeColoCode",
    "edgeResponseStatus": "EdgeResponseStatus", "originResponseStatus": "OriginResponseStatus",
    "originatorRayName": "OriginatorRayID", "wafAttackScore": "WAFAttackScore",
    "botScore": "BotScore", "ja3Hash": "JA3Hash", "ja4": "JA4",
    "clientRefererHost": "ClientRefererHost", "clientRefererPath": "ClientRefererPath",
    "clientRefererQuery": "ClientRefererQuery", "clientRefererScheme": "ClientRefererScheme",
}
KEY_FIELDS = ("rayName", "matchIndex", "ruleId", "source", "datetime")

SETTINGS_QUERY = """query($zoneTag: string) { viewer { zones(filter: {zoneTag: $zoneTag}) {
  settings { firewallEventsAdaptive { enabled maxDuration maxNumberOfFields maxPageSize
  notOlderThan availableFields } } } } }"""

EVENTS_QUERY = """query($zoneTag: string, $filter: FirewallEventsAdaptiveFilter_InputObject,
  $limit: Int) { viewer { zones(filter: {zoneTag: $zoneTag}) {
  firewallEventsAdaptive(filter: $filter, limit: $limit, orderBy: [datetime_ASC]) {
  %s } } } }"""


@dataclass(frozen=True)
class NodeSettings:
    """The ``settings`` node: the limits every query must respect."""

    max_duration_s: int
    max_page_size: int
    max_fields: int
    not_older_than_s: int
    available: frozenset[str]


def _rfc3339(moment: Any) -> str:
    return str(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class FirewallEvents:
    """Security events of a zone, sampled ("adaptive"): ``SampleInterval`` is kept."""

    name: ClassVar[str] = "firewall_events"
    topic: ClassVar[str] = "cloudflare.firewall_events.v1"
    schema: ClassVar[str] = "cloudflare.firewall_events"
    scope: ClassVar[str] = "zone"
    path: ClassVar[str] = "/graphql"
    permission: ClassVar[str] = "Account Analytics Read"
    key_field: ClassVar[str] = "RayID"

    def partition(self, zone_id: str) -> dict[str, str]:
        """The checkpoint's source partition."""
        return {"feed": self.name, "zone": zone_id}

    @staticmethod
    def key(record: Mapping[str, Any]) -> str:
        """rayName + matchIndex + ruleId + source + datetime (rayName alone is not unique)."""
        if not record.get("RayID") or not record.get("Datetime"):
            msg = "firewall event without RayID/Datetime"
            raise RecordError(msg)
        parts = [record.get(FIELD_MAP[f]) for f in KEY_FIELDS]
        text = "\x1f".join("" if p is None else str(p) for p in parts)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    async def settings(
        self, client: CloudflareClient, zone_id: str, governor: Governor | None = None
    ) -> NodeSettings:
        """Read the node's limits (clamp windows and pages to them)."""
        data = await graphql(client, SETTINGS_QUERY, {"zoneTag": zone_id}, governor)
        node = data["viewer"]["zones"][0]["settings"]["firewallEventsAdaptive"]
        if not node.get("enabled", True):
            msg = f"firewallEventsAdaptive is not enabled for zone {zone_id}"
            raise FatalSourceError(msg)
        return NodeSettings(int(node["maxDuration"]), int(node["maxPageSize"]),
                            int(node["maxNumberOfFields"]), int(node["notOlderThan"]),
                            frozenset(node.get("availableFields") or FIELD_MAP))

    def fields(self, node: NodeSettings) -> list[str]:
        """The GraphQL fields to request: available ones, most important first, capped."""
        return [f for f in FIELD_MAP if f in node.available][: node.max_fields]

    def policy(self, node: NodeSettings) -> WindowPolicy:
        """Windows within the node's limits, ending a few minutes ago (ingestion lag)."""
        return WindowPolicy(
            step=timedelta(seconds=min(node.max_duration_s, 3600)),
            lag=timedelta(minutes=5),
            horizon=timedelta(seconds=node.not_older_than_s - 60),
            min_step=timedelta(minutes=1),
        )

    async def records(
        self, client: CloudflareClient, zone_id: str, window: Window, fields: list[str],
        page_size: int, governor: Governor | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every event of ``window``, as Logpush-named records; full pages are split."""
        variables = {
            "zoneTag": zone_id, "limit": page_size,
            "filter": {"datetime_geq": _rfc3339(window.start), "datetime_lt": _rfc3339(window.end)},
        }
        data = await graphql(client, EVENTS_QUERY % " ".join(fields), variables, governor)
        rows = data["viewer"]["zones"][0]["firewallEventsAdaptive"] or []
        if len(rows) >= page_size:
            if window.seconds <= 1:
                msg = (f"more than {page_size} firewall events in one second "
                       f"({_rfc3339(window.start)}); the node's maxPageSize is too small")
                raise FatalSourceError(msg)
            middle = window.start + timedelta(seconds=int(window.seconds // 2))
            for half in (Window(window.start, middle), Window(middle, window.end)):
                async for row in self.records(client, zone_id, half, fields, page_size,
                                              governor):
                    yield row
            return
        for row in rows:
            yield {FIELD_MAP.get(k, k): v for k, v in row.items()}


async def graphql(
    client: CloudflareClient, query: str, variables: Mapping[str, Any],
    governor: Governor | None = None,
) -> dict[str, Any]:
    """POST a query; errors inside an HTTP 200 are failures.

    ``governor`` is the credential's GraphQL budget (300 queries / 5 min by default), on
    top of the REST budget the client's own governor keeps.
    """
    if governor is not None:
        await governor.acquire()
    body = await client.post("/graphql", {"query": query, "variables": dict(variables)})
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else errors
        message = first.get("message") if isinstance(first, dict) else str(first)
        msg = f"GraphQL error: {message}"
        raise FatalSourceError(msg, status=200, url="POST /graphql")
    data: dict[str, Any] = body.get("data") or {}
    return data
