"""Firewall/WAF events (``firewall_events``) -> Detection Finding (2004).

Each event is a new finding (activity Create, status New) whose ``finding_info.uid`` is the
event's dedup key, whose analytic is the Cloudflare rule (uid ``RuleID``, name ``Source``,
type Rule) and whose types are ``Kind`` and ``Source``. ``Action`` gives the outcome and the
severity; ``SampleInterval`` (one sampled row standing for that many events) is ``count``.
Attack and bot scores stay in ``unmapped`` under their Cloudflare names.
"""

from __future__ import annotations

from typing import Any

from .classes import DETECTION_FINDING
from .engine import ClassMapping, Dataset, Route, TimeSpec, const, copy, derive
from .security_actions import (
    action_id,
    action_name,
    disposition_id,
    disposition_name,
    finding_severity_id,
)
from .transforms import bare_query, country, first_text, integer, rfc3339_ms, text, url_of


def finding_title(description: Any, source: Any, rule_id: Any) -> str | None:
    """Cloudflare's rule description, else ``<source> rule <rule id>``."""
    found, source_text, rule_text = text(description), text(source), text(rule_id)
    if found:
        return found
    if rule_text:
        return f"{source_text} rule {rule_text}" if source_text else f"rule {rule_text}"
    return source_text


def finding_types(kind: Any, source: Any) -> list[str] | None:
    """``[Kind, Source]`` (present ones, no repeats)."""
    found = [t for t in (text(kind), text(source)) if t]
    return list(dict.fromkeys(found)) or None


def referrer(scheme: Any, host: Any, path: Any, query: Any) -> str | None:
    """The referring URL from its parts."""
    return url_of(scheme, host, path, query)


EVENT = ClassMapping(DETECTION_FINDING, (
    derive("cloud.account.uid", ("@account",), first_text),
    derive("cloud.account.name", ("@account_name",), first_text),
    const("activity_id", 1),
    const("status_id", 1),
    derive("severity_id", "Action", finding_severity_id),
    copy("message", "Description"),
    copy("metadata.correlation_uid", "RayID"),
    derive("count", "SampleInterval", integer),
    copy("finding_info.uid", "@key"),
    derive("finding_info.title", ("Description", "Source", "RuleID"), finding_title),
    copy("finding_info.analytic.uid", "RuleID"),
    copy("finding_info.analytic.name", "Source"),
    const("finding_info.analytic.type", "Rule"),
    const("finding_info.analytic.type_id", 1),
    derive("finding_info.types", ("Kind", "Source"), finding_types),
    derive("action_id", "Action", action_id),
    derive("action", "Action", action_name),
    derive("disposition_id", "Action", disposition_id),
    derive("disposition", "Action", disposition_name),
    copy("src_endpoint.ip", "ClientIP"),
    derive("src_endpoint.location.country", "ClientCountry", country),
    derive("src_endpoint.autonomous_system.number", "ClientASN", integer),
    copy("src_endpoint.autonomous_system.name", "ClientASNDescription"),
    copy("http_request.uid", "RayID"),
    copy("http_request.http_method", "ClientRequestMethod"),
    copy("http_request.url.hostname", "ClientRequestHost"),
    copy("http_request.url.path", "ClientRequestPath"),
    derive("http_request.url.query_string", "ClientRequestQuery", bare_query),
    copy("http_request.url.scheme", "ClientRequestScheme"),
    derive("http_request.url.url_string", ("ClientRequestScheme", "ClientRequestHost",
                                           "ClientRequestPath", "ClientRequestQuery"), url_of),
    copy("http_request.user_agent", "ClientRequestUserAgent"),
    copy("http_request.version", "ClientRequestProtocol"),
    derive("http_request.referrer", ("ClientRefererScheme", "ClientRefererHost",
                                     "ClientRefererPath", "ClientRefererQuery"), referrer),
    derive("http_response.code", "EdgeResponseStatus", integer),
))

FIREWALL_EVENTS = Dataset(
    name="firewall_events",
    raw_schema="cloudflare.firewall_events",
    json_fields=frozenset(),
    product="Cloudflare Security Events",
    time=TimeSpec(("Datetime",), rfc3339_ms),
    routes=(Route(EVENT),),
)
