"""Streams worker settings: read once from the environment (``Settings.from_env``)."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.clientconf import ClientConf, kafka_client_conf, passthrough

from .alerts import AlertConfig
from .masking import parse_kinds
from .routing import DATASETS, LEGACY_AUDIT, ROUTES, SAMPLED_ROUTES

GUARANTEES = ("exactly_once", "at_least_once")


class ConfigError(ValueError):
    """A streams setting has an invalid value."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        msg = f"{name} must be an integer, got {text!r}"
        raise ConfigError(msg) from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError as exc:
        msg = f"{name} must be a number, got {text!r}"
        raise ConfigError(msg) from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:  # noqa: FBT001
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    msg = f"{name} must be true or false, got {text!r}"
    raise ConfigError(msg)


def _rates(env: Mapping[str, str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for route in SAMPLED_ROUTES:
        name = f"STREAMS_SAMPLE_{route.upper()}"
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            rate = float(text)
        except ValueError:
            rate = -1.0
        if not 0.0 < rate <= 1.0:
            msg = f"{name} must be a rate in (0, 1], got {text!r}"
            raise ConfigError(msg)
        if rate < 1.0:
            rates[route] = rate
    return rates


def _datasets(env: Mapping[str, str]) -> tuple[str, ...]:
    known = tuple(d.name for d in DATASETS)
    text = env.get("STREAMS_DATASETS", "").strip()
    if not text:
        return known
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        msg = f"STREAMS_DATASETS: unknown dataset(s) {unknown}; known: {', '.join(known)}"
        raise ConfigError(msg)
    return tuple(n for n in known if n in names)


def _masks(env: Mapping[str, str]) -> dict[str, frozenset[str]]:
    masks: dict[str, frozenset[str]] = {}
    for route in (*ROUTES, LEGACY_AUDIT):
        name = f"STREAMS_MASK_{route.env}"
        try:
            kinds = parse_kinds(env.get(name, ""))
        except ValueError as exc:
            msg = f"{name}: {exc}"
            raise ConfigError(msg) from exc
        if kinds:
            masks[route.name] = kinds
    return masks


def _names(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``id=name,id=name`` -> dict (names may contain spaces, not commas)."""
    names: dict[str, str] = {}
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        ident, sep, label = item.partition("=")
        if not sep or not ident.strip() or not label.strip():
            msg = f"{name}: expected id=name pairs separated by commas, got {item.strip()!r}"
            raise ConfigError(msg)
        names[ident.strip()] = label.strip()
    return names


def _paths(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


def _alert_config(env: Mapping[str, str]) -> AlertConfig:
    """``STREAMS_ALERT_<FIELD>`` for each number or flag of ``AlertConfig``."""
    values: dict[str, Any] = {}
    defaults = AlertConfig()
    for item in dataclasses.fields(AlertConfig):
        default = getattr(defaults, item.name)
        name = f"STREAMS_ALERT_{item.name.upper()}"
        if isinstance(default, bool):
            values[item.name] = _bool(env, name, default)
        elif isinstance(default, int):
            values[item.name] = _int(env, name, default)
    try:
        return AlertConfig(**values)
    except ValueError as exc:
        msg = f"STREAMS_ALERT_*: {exc}"
        raise ConfigError(msg) from exc


@dataclass(frozen=True)
class Settings:
    """Streams worker settings (DESIGN.md "Environment variables")."""

    bootstrap_servers: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081"
    app_id: str = "cfkafka-streams"
    datadir: str = "streams-data"
    store: str = "rocksdb://"
    dedup_horizon_s: int = 7 * 24 * 3600
    processing_guarantee: str = "exactly_once"
    topic_partitions: int = 3
    replication_factor: int = -1
    session_timeout_s: int = 45
    #: raw datasets this worker consumes (``cloudflare.<name>.v1``); default all
    datasets: tuple[str, ...] = tuple(d.name for d in DATASETS)
    #: keep producing the deprecated flattened ``siem.audit.v1`` from audit_logs
    legacy_audit: bool = True
    #: route -> sample rate in (0, 1) (routes absent: everything)
    sample_rates: Mapping[str, float] = field(default_factory=dict)
    #: route -> what to mask (``email``, ``ip``)
    masks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: HMAC key of the keyed-hash masking (None: fixed masks)
    mask_key: bytes | None = field(default=None, repr=False)
    metrics_port: int = 0
    #: how often transactions commit (what a read_committed reader waits for at most;
    #: Kafka Streams' default under exactly-once is 100 ms too)
    commit_interval_s: float = 0.1
    #: the worker's transactional id is ``<app id>-<instance id>``: a restarted worker with
    #: the same id fences and aborts its predecessor's open transaction at once (default:
    #: derived from the host name and the data directory)
    instance_id: str = ""
    #: how long the broker keeps a dead worker's open transaction before aborting it
    transaction_timeout_s: int = 10
    #: how long a commit failing with a retriable error (Kafka unreachable) is retried before
    #: its transaction is aborted and its records are read again (an abort likewise)
    commit_retry_s: int = 120
    #: most records consumed per poll (one batch)
    max_batch: int = 2000
    #: worker processes one ``cfkafka streams`` runs (each its own consumer, producer and
    #: stores; they share the partitions like separate workers)
    processes: int = 1
    #: enrich SIEM records (names, roster join, user agent, IP class, threat lists)
    enrich: bool = True
    account_names: Mapping[str, str] = field(default_factory=dict)
    zone_names: Mapping[str, str] = field(default_factory=dict)
    #: IP/CIDR list files matched against source IPs (reloaded when they change)
    threat_lists: tuple[str, ...] = ()
    #: run the alert rules (``siem.alerts.v1``)
    alerts: bool = True
    alert_config: AlertConfig = field(default_factory=AlertConfig)
    #: ``KAFKA_CONF_*``: librdkafka settings for every Kafka client of the worker (security,
    #: tuning); the repr masks secrets (``connector.clientconf``)
    kafka_conf: Mapping[str, str] = field(default_factory=ClientConf)
    #: ``SR_CONF_*``: schema registry client settings (``basic.auth.user.info``, TLS)
    registry_conf: Mapping[str, str] = field(default_factory=ClientConf)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the ``KAFKA_*`` (``KAFKA_CONF_*`` too), ``SCHEMA_REGISTRY_URL``, ``SR_CONF_*``,
        ``STREAMS_*``, ``CFKAFKA_*`` variables."""
        d = cls()
        settings = cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or d.bootstrap_servers,
            registry_url=(env.get("SCHEMA_REGISTRY_URL") or d.registry_url).rstrip("/"),
            app_id=env.get("STREAMS_APP_ID") or d.app_id,
            datadir=env.get("STREAMS_DATADIR") or d.datadir,
            store=env.get("STREAMS_STORE") or d.store,
            dedup_horizon_s=_int(env, "STREAMS_DEDUP_HORIZON_S", d.dedup_horizon_s),
            processing_guarantee=env.get("STREAMS_PROCESSING_GUARANTEE") or d.processing_guarantee,
            topic_partitions=_int(env, "CFKAFKA_TOPIC_PARTITIONS", d.topic_partitions),
            replication_factor=_int(env, "CFKAFKA_REPLICATION_FACTOR", d.replication_factor),
            session_timeout_s=_int(env, "STREAMS_SESSION_TIMEOUT_S", d.session_timeout_s),
            datasets=_datasets(env),
            legacy_audit=_bool(env, "STREAMS_LEGACY_AUDIT", d.legacy_audit),
            sample_rates=_rates(env),
            masks=_masks(env),
            mask_key=env.get("STREAMS_MASK_KEY", "").encode() or None,
            metrics_port=_int(env, "STREAMS_METRICS_PORT", d.metrics_port),
            commit_interval_s=_float(env, "STREAMS_COMMIT_INTERVAL_S", d.commit_interval_s),
            instance_id=env.get("STREAMS_INSTANCE_ID", "").strip(),
            transaction_timeout_s=_int(env, "STREAMS_TRANSACTION_TIMEOUT_S",
                                       d.transaction_timeout_s),
            commit_retry_s=_int(env, "STREAMS_COMMIT_RETRY_S", d.commit_retry_s),
            max_batch=_int(env, "STREAMS_MAX_BATCH", d.max_batch),
            processes=_int(env, "STREAMS_PROCESSES", d.processes),
            enrich=_bool(env, "STREAMS_ENRICH", d.enrich),
            account_names=_names(env, "STREAMS_ACCOUNT_NAMES"),
            zone_names=_names(env, "STREAMS_ZONE_NAMES"),
            threat_lists=_paths(env, "STREAMS_THREAT_LISTS"),
            alerts=_bool(env, "STREAMS_ALERTS", d.alerts),
            alert_config=_alert_config(env),
            kafka_conf=passthrough(env, "KAFKA_CONF_"),
            registry_conf=passthrough(env, "SR_CONF_"),
        )
        if settings.processing_guarantee not in GUARANTEES:
            msg = f"STREAMS_PROCESSING_GUARANTEE must be one of {GUARANTEES}"
            raise ConfigError(msg)
        if min(settings.topic_partitions, settings.dedup_horizon_s, settings.session_timeout_s) < 1:
            msg = (
                "CFKAFKA_TOPIC_PARTITIONS, STREAMS_DEDUP_HORIZON_S and STREAMS_SESSION_TIMEOUT_S"
                " must be positive"
            )
            raise ConfigError(msg)
        if not settings.store.startswith(("rocksdb:", "memory:")):
            msg = f"STREAMS_STORE must be rocksdb:// or memory://, got {settings.store!r}"
            raise ConfigError(msg)
        if min(settings.transaction_timeout_s, settings.max_batch, settings.processes,
               settings.commit_retry_s) < 1:
            msg = ("STREAMS_TRANSACTION_TIMEOUT_S, STREAMS_MAX_BATCH, STREAMS_PROCESSES and"
                   " STREAMS_COMMIT_RETRY_S must be positive")
            raise ConfigError(msg)
        if not 0.01 <= settings.commit_interval_s <= 60:
            msg = "STREAMS_COMMIT_INTERVAL_S must be between 0.01 and 60 seconds"
            raise ConfigError(msg)
        if not 0 <= settings.metrics_port <= 65535:
            msg = "STREAMS_METRICS_PORT must be a port number (0: off)"
            raise ConfigError(msg)
        return settings

    def client_conf(self) -> dict[str, Any]:
        """What every Kafka client of the worker starts from (``kafka_client_conf``)."""
        return kafka_client_conf(self.bootstrap_servers, self.kafka_conf)

    @property
    def instance(self) -> str:
        """``STREAMS_INSTANCE_ID``, else a hash of the host name and the data directory."""
        if self.instance_id:
            return self.instance_id
        where = f"{socket.gethostname()}:{Path(self.datadir).resolve()}"
        return hashlib.blake2b(where.encode(), digest_size=6).hexdigest()

    @property
    def transactional_id(self) -> str:
        """``<app id>-<instance id>``."""
        return f"{self.app_id}-{self.instance}"

    def changelog(self, table: str) -> str:
        """A table's changelog topic (Faust's naming, so older tables restore)."""
        return f"{self.app_id}-{table}-changelog"

    @property
    def alert_events(self) -> str:
        """The alert rules' input topic (a repartition by subject, internal to the app)."""
        return f"{self.app_id}-alert-events"
