"""The worker's composition root: settings -> topics and schemas -> options -> ``Worker``.

``cfkafka streams`` / ``python -m streams`` call ``main``; settings are read once here
(``Settings.from_env``) and passed down.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.error import SchemaRegistryError

from connector.errors import KafkaAuthError, RegistryConfigError

from .alerts import default_rules
from .codecs import Codecs
from .enrich import Enricher, Roster, ThreatList
from .handlers import Handlers, Stats
from .masking import Masker
from .metrics import AgentMetrics
from .native import transforms
from .pipeline import Options
from .roster_reader import RosterReader
from .settings import ConfigError, Settings
from .state import backend_factory
from .topics import enabled
from .worker import Worker, WorkerError, install_signals, serve_metrics, watch_commits

log = logging.getLogger("streams")

LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def options(settings: Settings, roster: Roster, codecs: Codecs | None = None) -> Options:
    """Per-route behaviour from the settings (enrichment, sampling, masking, alert rules);
    with ``codecs``, the native transforms (``streams.native``) where they apply."""
    enricher = None
    if settings.enrich:
        enricher = Enricher.default(
            account_names=settings.account_names,
            zone_names=settings.zone_names,
            roster=roster,
            threat_lists=[ThreatList(path) for path in settings.threat_lists],
        )
    maskers = {route: Masker(kinds, settings.mask_key) for route, kinds in settings.masks.items()}
    reads = tuple(f for t in (enricher.threat_lists if enricher else ()) for f in t.fields)
    native = {} if codecs is None else transforms(codecs, frozenset(maskers), reads, enricher)
    if settings.legacy_audit:  # its second output (siem.audit.v1) is the Python path's
        native.pop("audit_logs", None)
    return Options(
        legacy_audit=settings.legacy_audit,
        sample_rates=dict(settings.sample_rates),
        maskers=maskers,
        enricher=enricher,
        alert_rules=default_rules(settings.alert_config) if settings.alerts else (),
        alert_topic=settings.alert_events,
        native=native,
    )


def build(settings: Settings, codecs: Codecs, roster: Roster) -> Worker:
    """A worker for ``settings`` (nothing connects until ``Worker.run``)."""
    metrics = {d.name: AgentMetrics(d.name) for d in enabled(settings)}
    handlers = Handlers(codecs, options(settings, roster, codecs), settings.topic_partitions,
                        Stats(), metrics)
    backends = backend_factory(settings.store, Path(settings.datadir) / settings.app_id)
    return Worker(settings, handlers, backends)


def describe(settings: Settings) -> str:
    """The start-up line: what this worker does."""
    return (
        f"streams {settings.app_id} ({settings.transactional_id}):"
        f" guarantee={settings.processing_guarantee} store={settings.store}"
        f" partitions={settings.topic_partitions} commit_interval={settings.commit_interval_s}s"
        f" dedup_horizon={settings.dedup_horizon_s}s legacy_audit={settings.legacy_audit}"
        f" sample={dict(settings.sample_rates) or 'off'}"
        f" mask={ {k: ','.join(sorted(v)) for k, v in settings.masks.items()} or 'off'}"
        f" ({'keyed' if settings.mask_key else 'fixed'}) datasets={','.join(settings.datasets)}"
        f" enrich={settings.enrich} threat_lists={','.join(settings.threat_lists) or 'none'}"
        f" alerts={settings.alerts}"
    )


def run(settings: Settings) -> int:
    """Prepare topics and schemas, start the roster reader and metrics, run the worker."""
    from .startup import TopologyError, prepare

    try:
        codecs = prepare(settings)
    except (TopologyError, KafkaAuthError, RegistryConfigError) as exc:
        log.error("%s", exc)  # noqa: TRY400 - the message is the whole story
        return 2
    except (KafkaException, OSError, SchemaRegistryError) as exc:
        log.error("cannot prepare topics and schemas (Kafka %s, registry %s): %s",  # noqa: TRY400
                  settings.bootstrap_servers, settings.registry_url, exc)
        return 1
    log.info("%s", describe(settings))
    roster = Roster()
    worker = build(settings, codecs, roster)
    install_signals(worker)
    watch_commits(worker)
    reader = None
    if settings.enrich:
        reader = RosterReader(settings.client_conf(),
                              codecs.decode_raw, roster)
        reader.start()
    if settings.metrics_port:
        serve_metrics(worker, worker.handlers.metrics, settings.metrics_port)
    # Start-up made long-lived objects (compiled codecs, parsers, caches): out of the
    # collector's way, so full collections stay short (they stall the loop: latency)
    gc.collect()
    gc.freeze()
    try:
        return worker.run()
    except WorkerError as exc:
        log.error("%s", exc)  # noqa: TRY400
        return 1
    finally:
        if reader is not None:
            reader.stop()


def child_env(environ: Mapping[str, str], settings: Settings, number: int) -> dict[str, str]:
    """Process ``number``'s environment: one process, its own instance id, data directory
    and metrics port (``STREAMS_METRICS_PORT`` + number)."""
    env = {**environ, "STREAMS_PROCESSES": "1",
           "STREAMS_INSTANCE_ID": f"{settings.instance}-p{number}",
           "STREAMS_DATADIR": str(Path(settings.datadir) / f"process-{number}")}
    if settings.metrics_port:
        env["STREAMS_METRICS_PORT"] = str(settings.metrics_port + number)
    return env


class Supervisor:
    """Runs ``STREAMS_PROCESSES`` worker processes (``python -m streams``) and keeps them
    running: one that exits with an error (e.g. the commit watchdog's code 3) is started
    again, up to ``RESTARTS`` times in ``RESTART_WINDOW_S``; SIGTERM / SIGINT stop them all
    cleanly. Each process is a worker of its own (consumer, transactional producer, stores),
    so they share the partitions like workers on separate machines."""

    RESTARTS = 5
    RESTART_WINDOW_S = 300.0

    def __init__(self, settings: Settings, environ: Mapping[str, str], loglevel: str,
                 spawn: Callable[[list[str], dict[str, str]], Any] | None = None) -> None:
        self.settings = settings
        self.environ = environ
        self.loglevel = loglevel
        self.spawn = spawn or (lambda argv, env: subprocess.Popen(argv, env=env))
        self.children: dict[int, Any] = {}
        self.restarts: list[float] = []
        self.stopping = False

    def start(self, number: int) -> None:
        argv = [sys.executable, "-m", "streams", "-l", self.loglevel]
        self.children[number] = self.spawn(argv, child_env(self.environ, self.settings, number))

    def stop(self, signum: int = signal.SIGTERM, frame: Any = None) -> None:
        """Stop every process (SIGTERM: each commits and leaves the group)."""
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def run(self, poll_s: float = 0.5) -> int:
        """Until stopped, or until a process keeps failing; return the exit status."""
        for number in range(self.settings.processes):
            self.start(number)
        log.info("streams: %d worker processes: %s", len(self.children),
                 " ".join(str(c.pid) for c in self.children.values()))
        status = 0
        while self.children:
            for number, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                del self.children[number]
                if self.stopping or code == 0:
                    status = status or code
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts
                                 if now - t < self.RESTART_WINDOW_S] + [now]
                if len(self.restarts) > self.RESTARTS:
                    log.error("worker process %d exited with %d; %d restarts in %.0f s:"
                              " stopping", number, code, len(self.restarts) - 1,
                              self.RESTART_WINDOW_S)
                    status = code
                    self.stop()
                    continue
                log.warning("worker process %d exited with %d: starting it again", number, code)
                self.start(number)
            time.sleep(poll_s)
        return status


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cfkafka streams",
        description="Run a stream worker: raw cloudflare.<dataset>.v1 topics -> dedup -> OCSF"
        " -> enrich -> SIEM topics and alerts (settings: STREAMS_* environment variables,"
        " see the README).",
    )
    parser.add_argument("-l", "--loglevel", default="info",
                        choices=["debug", "info", "warning", "error"])
    parser.add_argument("-D", "--datadir", help="local table stores (STREAMS_DATADIR)")
    parser.add_argument("-P", "--processes", type=int,
                        help="worker processes to run (STREAMS_PROCESSES, default 1)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the worker until it is stopped; return its exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.loglevel.upper(), format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    environ = dict(os.environ if env is None else env)
    if args.datadir:
        environ["STREAMS_DATADIR"] = args.datadir
    if args.processes is not None:
        environ["STREAMS_PROCESSES"] = str(args.processes)
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        print(f"cfkafka streams: {exc}", file=sys.stderr)
        return 2
    if settings.processes > 1:
        supervisor = Supervisor(settings, environ, args.loglevel)
        signal.signal(signal.SIGTERM, supervisor.stop)
        signal.signal(signal.SIGINT, supervisor.stop)
        return supervisor.run()
    return run(settings)
