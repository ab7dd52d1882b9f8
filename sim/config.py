"""SimConfig: every knob of the simulator, including the injectable clock."""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

DEFAULT_ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
_ALNUM = string.ascii_letters + string.digits


def _pad(prefix: str, length: int, seed: str) -> str:
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(_ALNUM) for _ in range(length - len(prefix)))


#: legacy (pre-2026) user API token: 40 alphanumeric characters (facts §0)
DEFAULT_API_TOKEN = _pad("cfsimtoken", 40, "cfsim-user-token")
#: legacy global API key: 37 lowercase hex characters (facts §0: 37-45)
DEFAULT_GLOBAL_KEY = f"{random.Random('cfsim-global-key').getrandbits(37 * 4):037x}"
_AT_BODY = _pad("", 40, "cfsim-account-token")
#: new-format account-owned token: `cfat_` + 40 characters + checksum (facts §0)
DEFAULT_ACCOUNT_TOKEN = f"cfat_{_AT_BODY}{zlib.crc32(_AT_BODY.encode()):08x}"
#: the sim's one zone unless configured: 32 lowercase hex, deterministic
DEFAULT_ZONE_ID = f"{random.Random('cfsim-zone').getrandbits(128):032x}"


def utc_now() -> datetime:
    """Wall-clock time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class SimConfig:
    """Configuration of one simulator instance (one account, one user)."""

    account_id: str = DEFAULT_ACCOUNT_ID
    api_token: str = DEFAULT_API_TOKEN
    email: str = "secops@example.com"
    global_key: str = DEFAULT_GLOBAL_KEY
    account_token: str = DEFAULT_ACCOUNT_TOKEN
    seed: int = 42
    initial_events: int = 500
    history_s: float = 6 * 3600.0
    events_per_second: float = 5.0
    rate_limit: int = 1200
    rate_window_s: float = 300.0
    #: how long every call is blocked once the limit is exceeded; None = rate_window_s
    rate_block_s: float | None = None
    max_per_page: int = 1000
    #: per_page above max_per_page: "error" (400 6008/11000, seen on the real API) or "clamp"
    per_page_over_max: Literal["error", "clamp"] = "error"
    #: restricted tokens: token -> permission names or slugs (sim.perms); other tokens = all.
    #: A listed token authenticates even if it is not api_token/account_token (`cfat_` prefix =
    #: account-owned token, anything else = user token of `email`).
    limited_tokens: dict[str, frozenset[str]] = field(default_factory=dict)
    #: history of the Access authentication log / audit v2 feeds; None = initial_events
    access_initial_events: int | None = None
    audit_v2_initial_events: int | None = None
    #: seeded roster sizes (account members, Zero Trust users)
    initial_members: int = 24
    initial_access_users: int = 40
    #: audit v2 next-page cursor in `result_info.cursor` ("cursor") or `result_info.cursors.after`
    audit_v2_cursor_style: Literal["cursor", "after"] = "cursor"
    #: zones of the sim's account (Logpull, facts §4); zone i is named zone_name(i)
    zone_ids: tuple[str, ...] = (DEFAULT_ZONE_ID,)
    #: Logpull records received per second per zone (fractions allowed; see sim.http_records)
    logpull_rps: float = 5.0
    #: Logpull limits (facts §4): requests per `logpull_rate_window_s` per zone and per user
    logpull_zone_rate_limit: int = 15
    logpull_user_rate_limit: int = 180
    logpull_rate_window_s: float = 60.0
    #: `end` must be at least this many seconds before now (docs: 1 minute)
    logpull_min_lag_s: float = 60.0
    #: zlib level of gzip responses (0 = stored, fastest; 1 = fast, the default)
    logpull_gzip_level: int = 1
    #: uncompressed bytes per streamed chunk (also the gzip flush interval)
    logpull_batch_bytes: int = 256 * 1024
    #: GraphQL firewallEventsAdaptive events per second per zone (facts §5; sim.graphql)
    graphql_eps: float = 2.0
    #: the `settings` node of firewallEventsAdaptive (facts §5, docs example values)
    graphql_enabled: bool = True
    graphql_max_page_size: int = 10000
    graphql_max_duration_s: int = 259200
    graphql_max_fields: int = 30
    graphql_not_older_than_s: int = 2678400
    #: GraphQL queries per `graphql_rate_window_s` per credential, on top of the REST budget
    graphql_rate_limit: int = 300
    graphql_rate_window_s: float = 300.0
    clock: Callable[[], datetime] = field(default=utc_now, repr=False, compare=False)

    def zone_name(self, zone_id: str) -> str:
        """`example.com` for the first zone, `example<i>.com` for zone i > 0."""
        i = self.zone_ids.index(zone_id)
        return "example.com" if i == 0 else f"example{i}.com"

    @property
    def block_s(self) -> float:
        """Effective block duration after the rate limit is exceeded."""
        return self.rate_window_s if self.rate_block_s is None else self.rate_block_s
