"""Zero Trust Access logins (``access_requests``) -> Authentication (3002).

The application is the OCSF ``service`` (name = ``app_domain``, uid = ``app_uid``) and the
``dst_endpoint`` (its host); the identity provider (``connection``) is ``auth_protocol``
verbatim with its protocol id. ``allowed`` gives Success/Failure, ``action`` Logon/Logoff.
``ray_id`` is ``metadata.correlation_uid``: the same Ray ID as the request's HTTP log.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .classes import AUTHENTICATION
from .engine import ClassMapping, Dataset, Route, TimeSpec, copy, derive
from .transforms import boolean, first_country, first_text, host_of, rfc3339_ms, text

#: Cloudflare Access identity provider types -> OCSF auth_protocol_id (others: 99 Other)
AUTH_PROTOCOLS: Mapping[str, int] = MappingProxyType({
    "saml": 5, "oidc": 4, "azuread": 4, "okta": 4, "google": 4, "google-apps": 4,
    "onelogin": 4, "pingone": 4, "centrify": 4, "keycloak": 4,
    "github": 6, "facebook": 6, "linkedin": 6, "yandex": 6,
})
#: Access ``action`` -> Authentication activity_id (others: 99 Other)
ACTIONS: Mapping[str, int] = MappingProxyType({"login": 1, "logout": 2})


def auth_protocol_id(connection: Any) -> int | None:
    """OCSF ``auth_protocol_id`` of an Access identity provider type."""
    found = text(connection)
    return None if found is None else AUTH_PROTOCOLS.get(found.lower(), 99)


def access_activity_id(action: Any) -> int:
    """1 Logon / 2 Logoff; 0 when absent, 99 for anything else."""
    found = text(action)
    return 0 if found is None else ACTIONS.get(found.lower(), 99)


def allowed_status_id(allowed: Any) -> int | None:
    """1 Success when allowed, 2 Failure when denied."""
    found = boolean(allowed)
    return None if found is None else (1 if found else 2)


def allowed_severity_id(allowed: Any) -> int:
    """2 Low for a denied login, else 1 Informational."""
    return 2 if boolean(allowed) is False else 1


LOGIN = ClassMapping(AUTHENTICATION, (
    derive("cloud.account.uid", ("@account",), first_text),
    derive("cloud.account.name", ("@account_name",), first_text),
    derive("activity_id", "action", access_activity_id),
    derive("status_id", "allowed", allowed_status_id),
    derive("severity_id", "allowed", allowed_severity_id),
    copy("metadata.correlation_uid", "ray_id"),
    copy("user.email_addr", "user_email"),
    copy("user.name", "user_email"),
    derive("user.uid", ("user_uid", "user_id"), first_text),
    copy("src_endpoint.ip", "ip_address"),
    derive("src_endpoint.location.country", ("country", "country_code"), first_country),
    copy("service.name", "app_domain"),
    copy("service.uid", "app_uid"),
    derive("dst_endpoint.hostname", "app_domain", host_of),
    copy("auth_protocol", "connection"),
    derive("auth_protocol_id", "connection", auth_protocol_id),
))

ACCESS_REQUESTS = Dataset(
    name="access_requests",
    raw_schema="cloudflare.access_requests",
    json_fields=frozenset(),
    product="Cloudflare Access",
    time=TimeSpec(("created_at",), rfc3339_ms),
    routes=(Route(LOGIN),),
)
