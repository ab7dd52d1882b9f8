"""User-agent parsing (browser, OS, device) with ``ua-parser`` and an LRU cache.

User agents repeat heavily (a zone sees a few thousand distinct strings among millions of
requests), so each distinct string is parsed once and its finished enrichment ``data`` text
is cached: a hit costs a dict lookup. ``ua-parser`` (uap-core's maintained rules) uses its
Rust accelerator ``ua-parser-rs`` when installed (the ``ua-parser[regex]`` extra), else its
pure-Python matcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import ua_parser

from .record import RawView, Record, dumps, get_path, upsert_enrichment

PROVIDER = "ua-parser"
UA_ENRICHMENT = "user_agent"
#: Longer strings are cut before parsing: regexes over pathological inputs cost time.
MAX_UA_CHARS = 1024
DEFAULT_CACHE_SIZE = 16_384


@dataclass(frozen=True, slots=True)
class UserAgentInfo:
    """What a user-agent string says about the client ("Other" when unknown)."""

    browser: str = "Other"
    browser_version: str | None = None
    os: str = "Other"
    os_version: str | None = None
    device: str = "Other"
    device_brand: str | None = None
    device_model: str | None = None


def _version(*parts: str | None) -> str | None:
    kept: list[str] = []
    for part in parts:
        if not part:
            break
        kept.append(part)
    return ".".join(kept) or None


def parse_with_ua_parser(user_agent: str) -> UserAgentInfo:
    """Parse with ``ua-parser``'s default parser (the best resolver available)."""
    result = ua_parser.parse(user_agent).with_defaults()
    agent, os_, device = result.user_agent, result.os, result.device
    return UserAgentInfo(
        browser=agent.family,
        browser_version=_version(agent.major, agent.minor, agent.patch),
        os=os_.family,
        os_version=_version(os_.major, os_.minor, os_.patch),
        device=device.family,
        device_brand=device.brand,
        device_model=device.model,
    )


class UserAgentParser:
    """Adds a ``user_agent`` enrichment for ``http_request.user_agent``; parses are cached."""

    def __init__(
        self,
        parse: Callable[[str], UserAgentInfo] = parse_with_ua_parser,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        """Use ``parse`` (the seam; ``ua-parser`` by default) behind an LRU of ``cache_size``."""
        self._parse = parse
        self._data = lru_cache(maxsize=cache_size)(self._data_uncached)

    def describe(self, user_agent: str) -> UserAgentInfo:
        """Parse ``user_agent`` (uncached; for callers that want the fields)."""
        return self._parse(user_agent[:MAX_UA_CHARS])

    def data(self, user_agent: str) -> str:
        """The enrichment ``data`` JSON for ``user_agent`` (cached)."""
        return self._data(user_agent)

    def _data_uncached(self, user_agent: str) -> str:
        info = asdict(self.describe(user_agent))
        return dumps({key: value for key, value in info.items() if value is not None})

    def cache_info(self) -> str:
        """The LRU's hit/miss counters, for logs and benchmarks."""
        return str(self._data.cache_info())

    def __call__(self, record: Record, raw: RawView) -> None:
        """Add the ``user_agent`` enrichment when the record has a user agent."""
        user_agent = get_path(record, "http_request", "user_agent")
        if not isinstance(user_agent, str) or not user_agent:
            return
        upsert_enrichment(
            record,
            name="http_request.user_agent",
            value=user_agent,
            type_=UA_ENRICHMENT,
            provider=PROVIDER,
            data=self._data(user_agent),
        )
