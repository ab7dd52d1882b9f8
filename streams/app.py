"""The Faust app (``faust -A streams.app worker``); the one place streams settings are read."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faust

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
        return settings

    @property
    def broker_url(self) -> str:
        """Faust broker URL(s): ``kafka://host:port;kafka://host2:port``."""
        hosts = [h.strip() for h in self.bootstrap_servers.split(",") if h.strip()]
        return ";".join(f"kafka://{h}" for h in hosts)


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
        self.discard_unclean_state()
        from .startup import prepare  # imports codecs/topics, which import this module

        self.codecs, replicas = await asyncio.to_thread(prepare, settings)
        self.conf.topic_replication_factor = replicas
        log.info(
            "streams %s: guarantee=%s store=%s partitions=%d dedup_horizon=%ds",
            settings.app_id,
            settings.processing_guarantee,
            settings.store,
            settings.topic_partitions,
            settings.dedup_horizon_s,
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
)
