"""Settings, read once from the environment by the composition root (``cli.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.clientconf import ClientConf, passthrough
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
class Zone:
    """A zone and the zone-scoped feeds pulled for it (``http_requests``, ``firewall_events``)."""

    zone_id: str
    feeds: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class Account:
    """An account, its credential, its account-scoped feeds and its zones."""

    account_id: str
    credentials: Credentials
    feeds: tuple[str, ...] = ("audit_logs",)
    zones: tuple[Zone, ...] = ()
    name: str = ""
    where: str = "CF_ACCOUNT_ID"  # where the account is configured, for messages

    @property
    def label(self) -> str:
        """``name (id)`` or the id, for logs and the verify table."""
        return f"{self.name} ({self.account_id})" if self.name else self.account_id


@dataclass(frozen=True)
class Option:
    """One scalar setting: its field, environment variable and key in the YAML file."""

    field: str
    env: str
    key: str
    cast: type[Any]
    minimum: float | None = None
    maximum: float | None = None


OPTIONS: tuple[Option, ...] = (
    Option("api_base_url", "CF_API_BASE_URL", "cloudflare.api_base_url", str),
    Option("poll_interval_s", "CF_POLL_INTERVAL_S", "cloudflare.poll_interval_s", float, 0.1),
    Option("settle_lag_s", "CF_SETTLE_LAG_S", "cloudflare.settle_lag_s", float, 0.0),
    Option("start_lookback_s", "CF_START_LOOKBACK_S", "cloudflare.start_lookback_s", float, 0),
    Option("per_page", "CF_PER_PAGE", "cloudflare.per_page", int, 1, 1000),
    Option("http_timeout_s", "CF_HTTP_TIMEOUT_S", "cloudflare.http_timeout_s", float, 1.0),
    Option("snapshot_interval_s", "CF_SNAPSHOT_INTERVAL_S", "cloudflare.snapshot_interval_s",
           float, 1.0),
    Option("api_requests_per_5min", "CF_API_REQUESTS_PER_5MIN",
           "cloudflare.api_requests_per_5min", int, 1),
    Option("skip_unauthorized", "CF_SKIP_UNAUTHORIZED_FEEDS",
           "cloudflare.skip_unauthorized_feeds", bool),
    Option("graphql_requests_per_5min", "CF_GRAPHQL_REQUESTS_PER_5MIN",
           "cloudflare.graphql_requests_per_5min", int, 1),
    Option("logpull_requests_per_minute", "CF_LOGPULL_REQUESTS_PER_MINUTE",
           "cloudflare.logpull.requests_per_minute", int, 1),
    Option("logpull_batched", "CFKAFKA_LOGPULL_BATCHED", "cloudflare.logpull.batched", bool),
    Option("logpull_fields", "CF_LOGPULL_FIELDS", "cloudflare.logpull.fields", tuple),
    Option("logpull_sample", "CF_LOGPULL_SAMPLE", "cloudflare.logpull.sample", float, 0, 1),
    Option("logpull_cve", "CF_LOGPULL_CVE_2021_44228", "cloudflare.logpull.cve_2021_44228", bool),
    Option("bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", "kafka.bootstrap.servers", str),
    Option("registry_url", "SCHEMA_REGISTRY_URL", "schema_registry.url", str),
    Option("connector_name", "CFKAFKA_CONNECTOR_NAME", "connector.name", str),
    Option("topic_partitions", "CFKAFKA_TOPIC_PARTITIONS", "connector.topic_partitions", int, 1),
    Option("replication_factor", "CFKAFKA_REPLICATION_FACTOR", "connector.replication_factor",
           int, -1),
    Option("transaction_timeout_s", "CFKAFKA_TRANSACTION_TIMEOUT_S",
           "connector.transaction_timeout_s", float, 1.0, 900),
    Option("metrics_port", "CFKAFKA_METRICS_PORT", "connector.metrics_port", int, 0, 65535),
)


@dataclass(frozen=True)
class Value:
    """A raw setting and where it came from (``CF_PER_PAGE`` or ``cloudflare.per_page in f``)."""

    raw: str
    where: str


@dataclass(frozen=True)
class Settings:
    """Everything the connector needs, validated; built by ``from_env`` or ``config.load``."""

    accounts: tuple[Account, ...]
    skip_unauthorized: bool = False
    snapshot_interval_s: float = 3600.0
    logpull_requests_per_minute: int = 15
    api_requests_per_5min: int = 1200
    graphql_requests_per_5min: int = 300
    logpull_fields: tuple[str, ...] = ()
    logpull_batched: bool = True
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
    #: ``KAFKA_CONF_*`` / ``SR_CONF_*`` (``connector.clientconf``: secrets masked in reprs)
    kafka_conf: Mapping[str, str] = field(default_factory=ClientConf)
    registry_conf: Mapping[str, str] = field(default_factory=ClientConf)

    @property
    def feeds(self) -> tuple[str, ...]:
        """Every feed enabled somewhere, account feeds first, in configuration order."""
        names = [f for a in self.accounts for f in a.feeds]
        names += [f for a in self.accounts for z in a.zones for f in z.feeds]
        return tuple(dict.fromkeys(names))

    @property
    def account_id(self) -> str:
        """The account of a single-account configuration."""
        return self._single().account_id

    @property
    def credentials(self) -> Credentials:
        """The credential of a single-account configuration."""
        return self._single().credentials

    def _single(self) -> Account:
        if len(self.accounts) != 1:
            msg = f"{len(self.accounts)} accounts are configured; this needs exactly one"
            raise ConfigError(msg)
        return self.accounts[0]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate settings; raise ``ConfigError`` naming the offending variable."""
        values = {o.env: Value(env[o.env], o.env) for o in OPTIONS if o.env in env}
        return build(values, (env_account(env),), passthrough(env, "KAFKA_CONF_"),
                     passthrough(env, "SR_CONF_"))


def build(
    values: Mapping[str, Value],
    accounts: tuple[Account, ...],
    kafka_conf: Mapping[str, str],
    registry_conf: Mapping[str, str],
) -> Settings:
    """Validate the scalar ``values`` (by environment variable name) into ``Settings``."""
    parsed: dict[str, Any] = {}
    for option in OPTIONS:
        value = values.get(option.env)
        if value is not None and value.raw.strip() != "":
            parsed[option.field] = _parse(option, value)
    options: dict[str, str] = {}
    if "logpull_sample" in parsed:
        sample = parsed.pop("logpull_sample")
        if sample <= 0:
            msg = f"{values['CF_LOGPULL_SAMPLE'].where}={sample!r} must be a number in (0, 1]"
            raise ConfigError(msg)
        options["sample"] = values["CF_LOGPULL_SAMPLE"].raw.strip()
    if parsed.pop("logpull_cve", False):
        options["CVE-2021-44228"] = "true"
    for name in ("api_base_url", "registry_url"):
        if name in parsed:
            parsed[name] = parsed[name].rstrip("/")
    return Settings(accounts=accounts, logpull_options=options,
                    kafka_conf=ClientConf(kafka_conf), registry_conf=ClientConf(registry_conf),
                    **parsed)


def _parse(option: Option, value: Value) -> Any:
    raw = value.raw.strip()
    if option.cast is str:
        return raw
    if option.cast is tuple:
        return tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    if option.cast is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        msg = f"{value.where}={value.raw!r} must be true or false"
        raise ConfigError(msg)
    try:
        number = option.cast(raw)
    except ValueError:
        msg = f"{value.where}={value.raw!r} is not a valid {option.cast.__name__}"
        raise ConfigError(msg) from None
    low, high = option.minimum, option.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        msg = f"{value.where}={value.raw!r} must be {bounds}"
        raise ConfigError(msg)
    return number


def feed_scopes() -> dict[str, str]:
    """Every feed name -> the scope it is pulled for: ``account``, ``user`` or ``zone``."""
    from connector.jobs import feed_scopes as scopes

    return scopes()


def check_account_id(value: str, where: str) -> str:
    """A 32-hex account id, or ``ConfigError`` naming ``where``."""
    if not re.fullmatch(r"[0-9a-f]{32}", value):
        msg = f"{where} must be a 32-character hex account id (dashboard URL or API)"
        raise ConfigError(msg)
    return value


def check_zone_ids(values: list[str], where: str) -> tuple[str, ...]:
    """32-hex zone ids, or ``ConfigError`` naming ``where``."""
    bad = [z for z in values if not re.fullmatch(r"[0-9a-f]{32}", z)]
    if bad:
        msg = f"{where} has invalid zone ids {bad}: each is 32 hex characters"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(values))


def check_feeds(names: list[str], where: str, scopes: tuple[str, ...]) -> tuple[str, ...]:
    """Known feed names of the given scopes, deduplicated, or ``ConfigError``."""
    known = {name for name, scope in feed_scopes().items() if scope in scopes}
    if not names:
        msg = f"{where} is empty: choose from {', '.join(sorted(known))}"
        raise ConfigError(msg)
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"{where} has unknown feeds {unknown}: choose from {', '.join(sorted(known))}"
        raise ConfigError(msg)
    return tuple(dict.fromkeys(names))


def env_account(env: Mapping[str, str]) -> Account:
    """The single account of an environment-only configuration."""
    account_id = check_account_id(_required(env, "CF_ACCOUNT_ID"), "CF_ACCOUNT_ID")
    names = [n.strip() for n in env.get("CF_FEEDS", "audit_logs").split(",") if n.strip()]
    feeds = check_feeds(names, "CF_FEEDS", ("account", "user", "zone"))
    scopes = feed_scopes()
    zone_feeds = tuple(f for f in feeds if scopes[f] == "zone")
    zone_ids = [z.strip() for z in env.get("CF_ZONE_IDS", "").split(",") if z.strip()]
    zones = check_zone_ids(zone_ids, "CF_ZONE_IDS")
    if zone_feeds and not zones:
        msg = f"CF_ZONE_IDS is not set ({', '.join(sorted(zone_feeds))} are pulled per zone)"
        raise ConfigError(msg)
    return Account(
        account_id, env_credentials(env),
        tuple(f for f in feeds if scopes[f] != "zone"),
        tuple(Zone(z, zone_feeds) for z in zones) if zone_feeds else (),
    )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        msg = f"{name} is not set"
        raise ConfigError(msg)
    return value


def env_credentials(env: Mapping[str, str]) -> Credentials:
    """``CF_API_TOKEN`` or ``CF_API_EMAIL`` + ``CF_API_KEY``."""
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
