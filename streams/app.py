"""The Faust app (``faust -A streams.app worker``); the one place streams settings are read."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import os
import shutil
import signal
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faust

from .alerts import AlertConfig
from .masking import parse_kinds
from .routing import DATASETS, LEGACY_AUDIT, ROUTES, SAMPLED_ROUTES

if TYPE_CHECKING:
    from .codecs import Codecs

log = logging.getLogger(__name__)

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
    #: how often transactions commit (what a read_committed reader waits for at most)
    commit_interval_s: float = 1.0
    #: enrich SIEM records (names, roster join, user agent, IP class, threat lists)
    enrich: bool = True
    account_names: Mapping[str, str] = field(default_factory=dict)
    zone_names: Mapping[str, str] = field(default_factory=dict)
    #: IP/CIDR list files matched against source IPs (reloaded when they change)
    threat_lists: tuple[str, ...] = ()
    #: run the alert rules (``siem.alerts.v1``)
    alerts: bool = True
    alert_config: AlertConfig = field(default_factory=AlertConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the ``KAFKA_*``, ``SCHEMA_REGISTRY_URL``, ``STREAMS_*``, ``CFKAFKA_*`` variables."""
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
            enrich=_bool(env, "STREAMS_ENRICH", d.enrich),
            account_names=_names(env, "STREAMS_ACCOUNT_NAMES"),
            zone_names=_names(env, "STREAMS_ZONE_NAMES"),
            threat_lists=_paths(env, "STREAMS_THREAT_LISTS"),
            alerts=_bool(env, "STREAMS_ALERTS", d.alerts),
            alert_config=_alert_config(env),
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
        if not 0.05 <= settings.commit_interval_s <= 60:
            msg = "STREAMS_COMMIT_INTERVAL_S must be between 0.05 and 60 seconds"
            raise ConfigError(msg)
        if not 0 <= settings.metrics_port <= 65535:
            msg = "STREAMS_METRICS_PORT must be a port number (0: off)"
            raise ConfigError(msg)
        return settings

    @property
    def broker_url(self) -> str:
        """Faust broker URL(s): ``kafka://host:port;kafka://host2:port``."""
        hosts = [h.strip() for h in self.bootstrap_servers.split(",") if h.strip()]
        return ";".join(f"kafka://{h}" for h in hosts)


def dump_tasks() -> None:
    """Log the stack of every asyncio task and thread (``kill -USR1 <worker pid>``): what a
    worker that stopped making progress is waiting for."""
    lines = []
    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=12, file=out)
        lines.append(out.getvalue())
    log.warning("asyncio tasks (%d):\n%s", len(lines), "\n".join(lines))
    out = io.StringIO()
    for ident, frame in sys._current_frames().items():  # noqa: SLF001 - diagnostics
        out.write(f"thread {ident}:\n{''.join(traceback.format_stack(frame, limit=12))}\n")
    log.warning("threads:\n%s", out.getvalue())
    try:  # the consumer's view: Faust internals, best effort
        consumer: Any = app.consumer
        inner = consumer._thread._consumer  # noqa: SLF001
        state = {
            "assigned": sorted(map(str, consumer.assignment())),
            "paused (aiokafka)": sorted(map(str, inner.paused())) if inner else None,
            "committed": {str(k): v for k, v in consumer._committed_offset.items()},  # noqa: SLF001
            "acked": {str(k): (min(v), max(v), len(v))
                      for k, v in consumer._acked.items() if v},  # noqa: SLF001
            "read": {str(k): v for k, v in consumer._read_offset.items()},  # noqa: SLF001
            "flow suspended": app.flow_control.is_suspended() if hasattr(
                app.flow_control, "is_suspended") else None,
            "consumer flow suspended": consumer.suspend_flow.is_set(),
        }
        log.warning("consumer state: %s", state)
    except Exception:
        log.exception("consumer state not available")


class StreamsApp(faust.App):
    """faust.App that prepares topics and schemas before it starts consuming."""

    codecs: Codecs | None = None

    @property
    def _running_marker(self) -> Path:
        return Path(self.conf.tabledir) / "RUNNING"

    def discard_unclean_state(self) -> None:
        """Delete local table state if the last run did not stop cleanly.

        RocksDB is written as events are processed, before their offsets (and, under
        exactly_once, their changelog records) commit. After a crash the local store can
        hold keys whose events will be consumed again, and the dedup table would then drop
        them: lost output. Like Kafka Streams under EOS, rebuild from the changelog instead.
        """
        tabledir = Path(self.conf.tabledir)
        if self._running_marker.exists():
            log.warning("unclean shutdown: discarding %s, restoring from changelog", tabledir)
            shutil.rmtree(tabledir, ignore_errors=True)
        tabledir.mkdir(parents=True, exist_ok=True)
        self._running_marker.touch()

    async def on_first_start(self) -> None:
        """Create/check topics and register schemas (blocking clients, in a thread)."""
        await super().on_first_start()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
        self.discard_unclean_state()
        from .startup import prepare  # imports codecs/topics, which import this module

        self.codecs, replicas = await asyncio.to_thread(prepare, settings)
        self.conf.topic_replication_factor = replicas
        log.info(
            "streams %s: guarantee=%s store=%s partitions=%d dedup_horizon=%ds legacy_audit=%s"
            " sample=%s mask=%s (%s) datasets=%s enrich=%s threat_lists=%s alerts=%s",
            settings.app_id,
            settings.processing_guarantee,
            settings.store,
            settings.topic_partitions,
            settings.dedup_horizon_s,
            settings.legacy_audit,
            dict(settings.sample_rates) or "off",
            {k: ",".join(sorted(v)) for k, v in settings.masks.items()} or "off",
            "keyed" if settings.mask_key else "fixed",
            ",".join(settings.datasets),
            settings.enrich,
            ",".join(settings.threat_lists) or "none",
            settings.alerts,
        )

    async def on_shutdown(self) -> None:
        """Mark a clean stop (tables are closed by now)."""
        await super().on_shutdown()
        self._running_marker.unlink(missing_ok=True)


settings = Settings.from_env(os.environ)

app = StreamsApp(
    settings.app_id,
    broker=settings.broker_url,
    store=settings.store,
    datadir=settings.datadir,
    processing_guarantee=settings.processing_guarantee,
    topic_partitions=settings.topic_partitions,
    # Replicas for Faust's own changelog topics; the worker resolves -1 (broker default)
    # to a concrete factor before it starts (see streams.startup).
    topic_replication_factor=max(settings.replication_factor, 1),
    topic_disable_leader=True,
    web_enabled=False,
    # The Faust CLI imports only this module; discovery imports the agents and timers.
    autodiscover=["streams.agents"],
    origin="streams",
    consumer_auto_offset_reset="earliest",
    # How fast a crashed worker's partitions move to a live one (Kafka's default is 45 s).
    broker_session_timeout=float(settings.session_timeout_s),
    # Offsets are committed by streams.agents between events (see `processing` there);
    # Faust's own timed / every-N commits would race the agent, so push them out of the way.
    broker_commit_interval=3600.0,
    broker_commit_every=2**31,
    # Expiry of the dedup table is ours (streams.dedupe); no windowed-table cleanup.
    table_cleanup_interval=3600.0,
    # Faust compares the store's persisted offset with a changelog "highwater" it takes from
    # a fetch cache (-1 when the partition was not fetched yet: streams.restore) and would
    # crash a worker that gets back a partition it restored before. The worker reads each
    # changelog partition to its real end itself after every rebalance.
    recovery_consistency_check=False,
)
