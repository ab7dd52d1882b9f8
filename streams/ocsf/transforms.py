"""Small named transforms the field maps use: type guards, times, URLs, outcomes.

Every transform takes raw Cloudflare values (None when absent or empty) and returns an
OCSF value, None (set nothing) or raises ``Unmappable`` (the raw value stays unmapped), so a
mistyped field never produces a record its Avro schema rejects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import Unmappable
from .source import dumps

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


# -- type guards ------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A string (numbers are written out; objects, arrays and booleans are unmappable)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Unmappable


def integer(value: Any) -> int | None:
    """An integer from a number or a string of digits."""
    if type(value) is int or value is None:
        return value
    if isinstance(value, bool):
        raise Unmappable
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    raise Unmappable


def number(value: Any) -> float | None:
    """A float from a number or a numeric string."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Unmappable
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise Unmappable from exc


def boolean(value: Any) -> bool | None:
    """A JSON boolean."""
    if value is None or isinstance(value, bool):
        return value
    raise Unmappable


def country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2, capitalized as OCSF asks (Cloudflare sends ``us`` or ``US``)."""
    found = text(value)
    return found.upper() if found else None


def first_country(*values: Any) -> str | None:
    """The first present country code, capitalized."""
    return country(first(*values))


def first(*values: Any) -> Any:
    """The first value that is present."""
    for value in values:
        if value is not None:
            return value
    return None


def first_text(*values: Any) -> str | None:
    """The first present value, as text."""
    return text(first(*values))


# -- time -------------------------------------------------------------------------------


def rfc3339_ms(value: Any) -> int:
    """RFC3339 (any fraction, ``Z`` or an offset) to epoch milliseconds."""
    if not isinstance(value, str):
        raise Unmappable
    match = _RFC3339.match(value.strip())
    if match is None:
        raise Unmappable
    y, mo, d, h, mi, s, frac, offset = match.groups()
    try:
        moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                          int((frac or "0")[:6].ljust(6, "0")), tzinfo=UTC)
    except ValueError as exc:
        raise Unmappable from exc
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        moment -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def edge_time_ms(value: Any) -> int:
    """Logpull/Logpush timestamps: unix ns, us, ms or s (by magnitude) or RFC3339."""
    if type(value) is int:  # the common case, as below
        if value >= 10**17:
            return value // 1_000_000
        if value >= 10**14:
            return value // 1_000
        return value if value >= 10**11 else value * 1000
    if isinstance(value, str) and not re.fullmatch(r"\d+", value.strip()):
        return rfc3339_ms(value)
    count = integer(value)
    if count is None:
        raise Unmappable
    for limit, per_ms in ((10**17, 1_000_000), (10**14, 1_000), (10**11, 1)):
        if count >= limit:
            return count // per_ms
    return count * 1000


def optional_rfc3339_ms(value: Any) -> int | None:
    """``rfc3339_ms`` for an optional field."""
    return None if value is None else rfc3339_ms(value)


# -- outcome ----------------------------------------------------------------------------

_RESULTS = {True: 1, False: 2, "success": 1, "failure": 2}


def status_id(result: Any) -> int | None:
    """1 Success / 2 Failure from a boolean or ``success``/``failure``; 99 for other words."""
    if result is None:
        return None
    key = result.lower() if isinstance(result, str) else result
    if isinstance(key, bool | str):
        return _RESULTS.get(key, 99)
    raise Unmappable


def severity_id(result: Any) -> int:
    """2 Low for a failure, else 1 Informational."""
    return 2 if status_id(result) == 2 else 1


# -- URLs and headers -------------------------------------------------------------------


def host_of(address: Any) -> str | None:
    """``grafana.example.com/admin`` -> ``grafana.example.com``."""
    found = text(address)
    if not found:
        return None
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", found, flags=re.IGNORECASE)
    return re.split(r"[/?#]", host, maxsplit=1)[0] or None


def path_of(uri: Any) -> str | None:
    """The path of ``/a/b?q=1``."""
    found = text(uri)
    return (found.partition("?")[0] or None) if found else None


def query_of(uri: Any) -> str | None:
    """The query string (no ``?``) of ``/a/b?q=1``."""
    found = text(uri)
    return (found.partition("?")[2] or None) if found else None


def bare_query(query: Any) -> str | None:
    """A query string without its leading ``?``."""
    found = text(query)
    return (found.removeprefix("?") or None) if found else None


def url_of(scheme: Any, host: Any, path: Any, query: Any = None) -> str | None:
    """``scheme://host/path?query`` (``//host...`` without a scheme); None without a host."""
    host_text, scheme_text = text(host), text(scheme)
    if not host_text:
        return None
    prefix = f"{scheme_text}://" if scheme_text else "//"
    tail = bare_query(query)
    return f"{prefix}{host_text}{text(path) or ''}" + (f"?{tail}" if tail else "")


def url_of_uri(scheme: Any, host: Any, uri: Any) -> str | None:
    """``scheme://host`` + a request URI (path and query)."""
    return url_of(scheme, host, path_of(uri), query_of(uri))


def name_values(value: Any) -> list[dict[str, str]] | None:
    """``{name: value}`` (headers, cookies) -> ``[{name, value}]`` (values as text)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Unmappable
    return [{"name": str(k), "value": v if isinstance(v, str) else dumps(v)}
            for k, v in value.items()]
