"""Settings, read once from the environment by the composition root (``cli.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConfigError

DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"


class Secret:
    """A string that never shows itself in ``repr``/``str`` (logs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Wrap ``value``."""
        self._value = value

    def reveal(self) -> str:
        """Return the secret; call only where it is sent to its owner."""
        return self._value

    def __repr__(self) -> str:
        """Mask the value."""
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        """Compare by value."""
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        """Hash by value."""
        return hash(self._value)


@dataclass(frozen=True)
class Credentials:
    """Either an API token or an email + global API key (legacy)."""

    token: Secret | None = None
    email: str | None = None
    key: Secret | None = None

    @property
    def kind(self) -> str:
        """``"token"`` or ``"global_key"``."""
        return "token" if self.token is not None else "global_key"

    def headers(self) -> dict[str, str]:
        """Return the HTTP headers that authenticate a request."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token.reveal()}"}
        assert self.email is not None and self.key is not None  # noqa: S101 - from_env checks
        return {"X-Auth-Email": self.email, "X-Auth-Key": self.key.reveal()}


@dataclass(frozen=True)
class Settings:
    """Everything the connector needs, validated; built by ``from_env``."""

    account_id: str
    credentials: Credentials
    feeds: tuple[str, ...] = ("audit_logs",)
    skip_unauthorized: bool = False
    zone_ids: tuple[str, ...] = ()
    snapshot_interval_s: float = 3600.0
    logpull_requests_per_minute: int = 15
    api_requests_per_5min: int = 1200
    logpull_fields: tuple[str, ...] = ()
    logpull_options: Mapping[str, str] = field(default_factory=dict)
    bootstrap_servers: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081"
    api_base_url: str = DEFAULT_API_BASE_URL
    connector_name: str = "cfkafka"
    topic_partitions: int = 3
    replication_factor: int = -1
    poll_interval_s: float = 60.0
    settle_lag_s: float = 60.0
    start_lookback_s: float = 7 * 86400.0
    per_page: int = 1000
    http_timeout_s: float = 60.0
    transaction_timeout_s: float = 300.0
    metrics_port: int = 0
    kafka_conf: Mapping[str, str] = field(default_factory=dict)
    registry_conf: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate settings; raise ``ConfigError`` naming the offending variable."""
        account_id = _required(env, "CF_ACCOUNT_ID")
        if not re.fullmatch(r"[0-9a-f]{32}", account_id):
            msg = "CF_ACCOUNT_ID must be a 32-character hex account id (dashboard URL or API)"
            raise ConfigError(msg)
        return cls(
            account_id=account_id,
            credentials=_credentials(env),
            feeds=_feeds(env),
            zone_ids=_zones(env),
            logpull_requests_per_minute=_number(
                env, "CF_LOGPULL_REQUESTS_PER_MINUTE", cls.logpull_requests_per_minute, int, 1
            ),
            api_requests_per_5min=_number(
                env, "CF_API_REQUESTS_PER_5MIN", cls.api_requests_per_5min, int, 1
            ),
            snapshot_interval_s=_number(
                env, "CF_SNAPSHOT_INTERVAL_S", cls.snapshot_interval_s, float, 1.0
            ),
            logpull_fields=tuple(f for f in env.get("CF_LOGPULL_FIELDS", "").split(",") if f),
            logpull_options=_logpull_options(env),
            skip_unauthorized=env.get("CF_SKIP_UNAUTHORIZED_FEEDS", "").lower()
            in ("1", "true", "yes"),
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            registry_url=env.get("SCHEMA_REGISTRY_URL", cls.registry_url).rstrip("/"),
            api_base_url=env.get("CF_API_BASE_URL", cls.api_base_url).rstrip("/"),
            connector_name=env.get("CFKAFKA_CONNECTOR_NAME", cls.connector_name),
            topic_partitions=_number(env, "CFKAFKA_TOPIC_PARTITIONS", cls.topic_partitions, int, 1),
            replication_factor=_number(
                env, "CFKAFKA_REPLICATION_FACTOR", cls.replication_factor, int, -1
            ),
            poll_interval_s=_number(env, "CF_POLL_INTERVAL_S", cls.poll_interval_s, float, 0.1),
            settle_lag_s=_number(env, "CF_SETTLE_LAG_S", cls.settle_lag_s, float, 0.0),
            start_lookback_s=_number(env, "CF_START_LOOKBACK_S", cls.start_lookback_s, float, 0),
            per_page=_number(env, "CF_PER_PAGE", cls.per_page, int, 1, 1000),
            http_timeout_s=_number(env, "CF_HTTP_TIMEOUT_S", cls.http_timeout_s, float, 1.0),
            transaction_timeout_s=_number(
                env, "CFKAFKA_TRANSACTION_TIMEOUT_S", cls.transaction_timeout_s, float, 1.0, 900
            ),
            metrics_port=_number(env, "CFKAFKA_METRICS_PORT", cls.metrics_port, int, 0, 65535),
            kafka_conf=_passthrough(env, "KAFKA_CONF_"),
            registry_conf=_passthrough(env, "SR_CONF_"),
        )


def _zones(env: Mapping[str, str]) -> tuple[str, ...]:
    zones = tuple(z.strip() for z in env.get("CF_ZONE_IDS", "").split(",") if z.strip())
    bad = [z for z in zones if not re.fullmatch(r"[0-9a-f]{32}", z)]
    if bad:
        msg = f"CF_ZONE_IDS has invalid zone ids {bad}: each is 32 hex characters"
        raise ConfigError(msg)
    zone_feeds = {"http_requests", "firewall_events"} & set(env.get("CF_FEEDS", "").split(","))
    if zone_feeds and not zones:
        msg = f"CF_ZONE_IDS is not set ({', '.join(sorted(zone_feeds))} are pulled per zone)"
        raise ConfigError(msg)
    return zones


def _logpull_options(env: Mapping[str, str]) -> dict[str, str]:
    options = {}
    sample = env.get("CF_LOGPULL_SAMPLE", "").strip()
    if sample:
        try:
            ok = 0 < float(sample) <= 1
        except ValueError:
            ok = False
        if not ok:
            msg = f"CF_LOGPULL_SAMPLE={sample!r} must be a number in (0, 1]"
            raise ConfigError(msg)
        options["sample"] = sample
    if env.get("CF_LOGPULL_CVE_2021_44228", "").lower() in ("1", "true", "yes"):
        options["CVE-2021-44228"] = "true"
    return options


def _feeds(env: Mapping[str, str]) -> tuple[str, ...]:
    from connector.feeds import FEEDS
    from connector.jobs import ZONE_FEEDS
    from connector.snapshots import SNAPSHOT_FEEDS

    names = tuple(n.strip() for n in env.get("CF_FEEDS", "audit_logs").split(",") if n.strip())
    known = {**FEEDS, **ZONE_FEEDS, **SNAPSHOT_FEEDS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        msg = f"CF_FEEDS has unknown feeds {unknown}: choose from {', '.join(sorted(known))}"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(names))


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        msg = f"{name} is not set"
        raise ConfigError(msg)
    return value


def _credentials(env: Mapping[str, str]) -> Credentials:
    token = env.get("CF_API_TOKEN", "").strip()
    email = env.get("CF_API_EMAIL", "").strip()
    key = env.get("CF_API_KEY", "").strip()
    if token and (email or key):
        msg = "set either CF_API_TOKEN or CF_API_EMAIL + CF_API_KEY, not both"
        raise ConfigError(msg)
    if token:
        return Credentials(token=Secret(token))
    if email and key:
        return Credentials(email=email, key=Secret(key))
    if email or key:
        missing = "CF_API_KEY" if email else "CF_API_EMAIL"
        msg = f"{missing} is not set (a global API key needs both CF_API_EMAIL and CF_API_KEY)"
        raise ConfigError(msg)
    msg = "CF_API_TOKEN is not set (or set CF_API_EMAIL + CF_API_KEY for a global API key)"
    raise ConfigError(msg)


def _number(
    env: Mapping[str, str],
    name: str,
    default: Any,
    cast: type[int] | type[float],
    minimum: float,
    maximum: float | None = None,
) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not a valid {cast.__name__}"
        raise ConfigError(msg) from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        msg = f"{name}={raw!r} must be {bounds}"
        raise ConfigError(msg)
    return value


def _passthrough(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    """Map ``KAFKA_CONF_SASL_MECHANISM=...`` to the client setting ``sasl.mechanism``."""
    return {
        name[len(prefix) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(prefix)
    }
