"""HTTP request logs via Logpull: ``GET /zones/{zone_id}/logs/received`` (gzip NDJSON)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC
from typing import Any, ClassVar

import schemas
from connector.client import CloudflareClient
from connector.governor import Governor
from connector.windows import Window, WindowPolicy

GAPS_TOPIC = "cloudflare.gaps.v1"

def _rfc3339(moment: Any) -> str:
    return str(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class HttpRequests:
    """Enterprise zone HTTP request logs, pulled in half-open windows of at most one hour.

    Data is keyed by time received, so a closed window never changes: one window is one
    Kafka transaction with the checkpoint ``{"window_end": ...}``.
    """

    name: ClassVar[str] = "http_requests"
    topic: ClassVar[str] = "cloudflare.http_requests.v1"
    schema: ClassVar[str] = "cloudflare.http_requests"
    scope: ClassVar[str] = "zone"
    path: ClassVar[str] = "/zones/{zone_id}/logs/received"
    key_field: ClassVar[str] = "RayID"
    permission: ClassVar[str] = "Logs Read"
    json_fields: ClassVar[frozenset[str]] = frozenset(
        {"JA4Signals", "Cookies", "RequestHeaders", "ResponseHeaders"}
    )
    policy: ClassVar[WindowPolicy] = WindowPolicy()
    requests_per_minute: ClassVar[int] = 15  # Logpull's per-zone limit

    def partition(self, zone_id: str) -> dict[str, str]:
        """The checkpoint's source partition."""
        return {"feed": self.name, "zone": zone_id}

    def url(self, zone_id: str) -> str:
        """The request path."""
        return self.path.format(zone_id=zone_id)

    def fields_url(self, zone_id: str) -> str:
        """The available-fields path."""
        return self.url(zone_id) + "/fields"

    def schema_fields(self) -> list[str]:
        """Every field the Avro schema knows (the default request)."""
        return [f["name"] for f in schemas.raw(self.schema)["fields"] if f["name"] != "extra"]

    @staticmethod
    def usable_fields(wanted: Iterable[str], available: Mapping[str, Any]) -> list[str]:
        """The wanted fields Cloudflare offers (an unknown field is a hard error there)."""
        return [f for f in wanted if f in available]

    def params(
        self, window: Window, fields: list[str], options: Mapping[str, str]
    ) -> dict[str, str]:
        """Query of one window: ``start`` inclusive, ``end`` exclusive, unixnano timestamps."""
        return {
            "start": _rfc3339(window.start),
            "end": _rfc3339(window.end),
            "fields": ",".join(fields),
            "timestamps": "unixnano",
            **options,
        }


def logpull_source(
    client: CloudflareClient,
    feed: HttpRequests,
    zone_id: str,
    fields: list[str],
    options: Mapping[str, str] | None = None,
    zone_governor: Governor | None = None,
    *,
    chunks: bool = False,
) -> Callable[[Window], AsyncIterator[bytes]]:
    """The NDJSON lines of a window, within Logpull's per-zone request limit (15/minute).

    With ``chunks``, decompressed pieces of the body instead of lines
    (``CloudflareClient.stream_chunks``), for ``WindowRunner(chunks=...)``.
    """
    governor = zone_governor or Governor(feed.requests_per_minute / 60, feed.requests_per_minute)
    extra = dict(options or {})
    stream = client.stream_chunks if chunks else client.stream_lines

    def source(window: Window) -> AsyncIterator[bytes]:
        return stream(feed.url(zone_id), feed.params(window, fields, extra),
                      scope_governor=governor)

    return source
