"""HTTP request logs (``http_requests``, Logpull/Logpush) -> HTTP Activity (4002).

The client is ``src_endpoint``, the origin ``dst_endpoint``. ``SecurityAction`` gives the
security-control outcome (``action``/``disposition``) and ``SecurityRuleID``/``Description``
the ``firewall_rule``. WAF and bot scores have no OCSF 1.3.0 attribute: they stay in
``unmapped`` under their Cloudflare names, and so do ``SecurityAction`` and ``ZoneName``
(also mapped), because alert rules and enrichers read them there.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .classes import HTTP_ACTIVITY
from .engine import ClassMapping, Dataset, Route, TimeSpec, copy, derive
from .security_actions import (
    action_id,
    action_name,
    denied_severity_id,
    disposition_id,
    disposition_name,
)
from .transforms import (
    country,
    edge_time_ms,
    first_text,
    integer,
    name_values,
    number,
    query_of,
    text,
    url_of_uri,
)

#: HTTP method -> HTTP Activity activity_id (1.3.0 has no Patch: 99 Other)
METHODS: Mapping[str, int] = MappingProxyType({
    "CONNECT": 1, "DELETE": 2, "GET": 3, "HEAD": 4, "OPTIONS": 5, "POST": 6, "PUT": 7,
    "TRACE": 8,
})


def http_activity_id(method: Any) -> int:
    """The activity of an HTTP method; 0 when absent, 99 for others (PATCH, ...)."""
    found = text(method)
    return 0 if found is None else METHODS.get(found.upper(), 99)


def response_status_id(code: Any) -> int | None:
    """1 Success below 400, 2 Failure from 400 (0 = no response is not a status)."""
    found = integer(code)
    if not found:
        return None
    return 1 if found < 400 else 2


def edge_time_or_none(value: Any) -> int | None:
    """``edge_time_ms`` of an optional timestamp."""
    return None if value is None else edge_time_ms(value)


REQUEST = ClassMapping(HTTP_ACTIVITY, (
    derive("cloud.account.uid", ("@account",), first_text),
    derive("cloud.account.name", ("@account_name",), first_text),
    derive("activity_id", "ClientRequestMethod", http_activity_id),
    derive("status_id", "EdgeResponseStatus", response_status_id),
    derive("severity_id", "SecurityAction", denied_severity_id),
    copy("metadata.correlation_uid", "RayID"),
    derive("start_time", "EdgeStartTimestamp", edge_time_or_none),
    derive("end_time", "EdgeEndTimestamp", edge_time_or_none),
    copy("http_request.uid", "RayID"),
    copy("http_request.http_method", "ClientRequestMethod"),
    copy("http_request.url.hostname", "ClientRequestHost"),
    copy("http_request.url.domain", "ZoneName"),
    copy("http_request.url.path", "ClientRequestPath"),
    derive("http_request.url.query_string", "ClientRequestURI", query_of),
    copy("http_request.url.scheme", "ClientRequestScheme"),
    derive("http_request.url.url_string",
           ("ClientRequestScheme", "ClientRequestHost", "ClientRequestURI"), url_of_uri),
    copy("http_request.user_agent", "ClientRequestUserAgent"),
    copy("http_request.referrer", "ClientRequestReferer"),
    copy("http_request.version", "ClientRequestProtocol"),
    derive("http_request.length", "ClientRequestBytes", integer),
    derive("http_request.http_headers", "RequestHeaders", name_values),
    derive("http_response.code", "EdgeResponseStatus", integer),
    copy("http_response.content_type", "EdgeResponseContentType"),
    derive("http_response.length", "EdgeResponseBytes", integer),
    derive("http_response.latency", "EdgeTimeToFirstByteMs", integer),
    derive("http_response.http_headers", "ResponseHeaders", name_values),
    derive("http_cookies", "Cookies", name_values),
    copy("src_endpoint.ip", "ClientIP"),
    derive("src_endpoint.port", "ClientSrcPort", integer),
    derive("src_endpoint.location.country", "ClientCountry", country),
    copy("src_endpoint.location.city", "ClientCity"),
    copy("src_endpoint.location.region", "ClientRegionCode"),
    derive("src_endpoint.location.lat", "ClientLatitude", number),
    derive("src_endpoint.location.long", "ClientLongitude", number),
    derive("src_endpoint.autonomous_system.number", "ClientASN", integer),
    copy("dst_endpoint.ip", "OriginIP"),
    copy("dst_endpoint.hostname", "EdgeRequestHost"),
    derive("action_id", "SecurityAction", action_id),
    derive("action", "SecurityAction", action_name),
    derive("disposition_id", "SecurityAction", disposition_id),
    derive("disposition", "SecurityAction", disposition_name),
    copy("firewall_rule.uid", "SecurityRuleID"),
    copy("firewall_rule.desc", "SecurityRuleDescription"),
), keep=frozenset({"SecurityAction", "ZoneName"}))

HTTP_REQUESTS = Dataset(
    name="http_requests",
    raw_schema="cloudflare.http_requests",
    json_fields=frozenset({"JA4Signals", "Cookies", "RequestHeaders", "ResponseHeaders"}),
    product="Cloudflare HTTP Request Logs",
    time=TimeSpec(("EdgeStartTimestamp", "EdgeEndTimestamp"), edge_time_ms),
    routes=(Route(REQUEST),),
)
