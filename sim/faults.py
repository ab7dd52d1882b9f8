"""Injectable faults for the next N matching API requests: 5xx, latency, reset, 429 storm."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["status", "latency", "reset", "rate_limit", "stream_error",
                    "truncated_gzip", "slow", "graphql_error"]
#: kinds consumed by streaming endpoints (Logpull) only, after validation, on a 200 answer
STREAM_KINDS: tuple[FaultKind, ...] = ("stream_error", "truncated_gzip", "slow")
#: kinds consumed by the GraphQL endpoint only, after auth and limits (HTTP 200 + errors)
GRAPHQL_KINDS: tuple[FaultKind, ...] = ("graphql_error",)
KINDS: tuple[FaultKind, ...] = ("status", "latency", "reset", "rate_limit", *STREAM_KINDS,
                                *GRAPHQL_KINDS)

_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 520: "Web server is returning an unknown error",
            522: "Connection timed out"}


@dataclass
class Fault:
    """One queued fault; `path` (substring of the request path) narrows what it matches."""

    kind: FaultKind
    count: int = 1
    status: int = 503
    latency_s: float = 0.0
    retry_after: int = 1
    path: str | None = None
    #: body of a `status` fault: "envelope" (JSON v4) or "html" (edge page); None = by status
    body: Literal["envelope", "html"] | None = None
    #: stream kinds: records sent before the failure (`slow`: records per trickled chunk)
    after: int | None = None

    @property
    def html(self) -> bool:
        """Whether a `status` fault answers with Cloudflare's HTML edge page."""
        return self.body == "html" or (self.body is None and self.status in (502, 504, 520, 522))


def fault_from_json(data: Mapping[str, Any]) -> Fault:
    """Validate an admin request body into a Fault; raises ValueError."""
    kind = data.get("kind")
    if kind not in KINDS:
        msg = f"kind must be one of {', '.join(KINDS)}"
        raise ValueError(msg)
    fault = Fault(
        kind=kind,
        count=int(data.get("count", 1)),
        status=int(data.get("status", 503)),
        latency_s=float(data.get("latency_s", 0.0)),
        retry_after=int(data.get("retry_after", 1)),
        path=data.get("path"),
        body=data.get("body"),
        after=None if data.get("after") is None else int(data["after"]),
    )
    if fault.after is not None and fault.after < 0:
        msg = "after must be >= 0"
        raise ValueError(msg)
    if fault.count < 1 or fault.latency_s < 0 or fault.retry_after < 0:
        msg = "count must be >= 1, latency_s and retry_after >= 0"
        raise ValueError(msg)
    if not 400 <= fault.status <= 599 or fault.body not in (None, "envelope", "html"):
        msg = "status must be 4xx/5xx and body envelope|html"
        raise ValueError(msg)
    return fault


def reason(status: int) -> str:
    """Human reason phrase for an error status."""
    return _REASONS.get(status, "Error")


def html_page(status: int) -> str:
    """An nginx-style error page like the ones Cloudflare's edge serves."""
    title = f"{status} {reason(status)}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            "</body>\r\n</html>\r\n")


class FaultInjector:
    """FIFO of faults; each API request consumes at most one unit of the first match."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        self._queue.append(fault)

    def clear(self) -> None:
        """Drop every pending fault."""
        self._queue.clear()

    def pending(self) -> list[dict[str, Any]]:
        """Pending faults as JSON-able dicts (count = remaining)."""
        return [asdict(f) for f in self._queue]

    def take(self, path: str) -> Fault | None:
        """Consume one unit of the first middleware fault matching `path`, if any."""
        return self._take(path, "plain")

    def take_stream(self, path: str) -> Fault | None:
        """Consume one unit of the first stream fault (STREAM_KINDS) matching `path`."""
        return self._take(path, "stream")

    def take_graphql(self, path: str) -> Fault | None:
        """Consume one unit of the first GraphQL fault (GRAPHQL_KINDS) matching `path`."""
        return self._take(path, "graphql")

    def _take(self, path: str, family: Literal["plain", "stream", "graphql"]) -> Fault | None:
        for fault in self._queue:
            kind_family = ("stream" if fault.kind in STREAM_KINDS
                           else "graphql" if fault.kind in GRAPHQL_KINDS else "plain")
            if kind_family != family:
                continue
            if fault.path is None or fault.path in path:
                fault.count -= 1
                if fault.count <= 0:
                    self._queue.remove(fault)
                return fault
        return None
