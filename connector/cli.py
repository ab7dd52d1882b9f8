"""The ``cfkafka`` command line and the composition root: the only place settings are read."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry.error import SchemaRegistryError

import schemas
from connector import __version__, config, logs
from connector.checkpoints import COMMITS_TOPIC, OFFSETS_TOPIC, KafkaCheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.clientconf import registry_refusal
from connector.errors import AuthError, ConfigError, SourceError
from connector.governor import Governor
from connector.health import serve
from connector.jobs import Job, jobs_from, settings_kafka_conf
from connector.publisher import TransactionalPublisher
from connector.records import DLQ_TOPIC
from connector.settings import Credentials, Settings
from connector.topics import TopicSpec, ensure_topics
from connector.waits import wait_or_stop
from schemas.registry import register, registry_client

log = logging.getLogger("cfkafka")

EXIT_CONFIG = 2


def _now() -> datetime:
    return datetime.now(UTC)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cfkafka``."""
    parser = argparse.ArgumentParser(
        prog="cfkafka", description="Cloudflare security logs into Kafka, exactly once."
    )
    parser.add_argument("--version", action="version", version=f"cfkafka {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("run", "run the source connector"),
                       ("verify", "check the Cloudflare credentials and feed permissions")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--config", metavar="FILE", default=os.environ.get("CFKAFKA_CONFIG"),
            help="YAML configuration file (default $CFKAFKA_CONFIG; without one, settings "
                 "come from the environment only). Environment variables override the file.")
    commands.add_parser("streams", add_help=False,
                        help="run a stream worker (dedup, OCSF, enrich, route, alerts)")
    commands.add_parser("sim", help="run the Cloudflare API simulator", add_help=False)
    commands.add_parser("dev", help="local Kafka + schema registry: up | down | status",
                        add_help=False)
    commands.add_parser("demo", help="run everything locally and show events flowing",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "streams":
        from streams.app import main as streams_main

        return streams_main(rest)
    if args.command == "sim":
        from sim.__main__ import main as sim_main

        return sim_main(rest)
    if args.command == "dev":
        from infra.dev import main as dev_main

        return dev_main(rest)
    if args.command == "demo":
        from connector.demo import main as demo_main

        return demo_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    _configure_logging()
    command = _verify if args.command == "verify" else _run
    return _with_settings(command, args.config)


def _configure_logging() -> None:
    level = os.environ.get("CFKAFKA_LOG_LEVEL", "INFO").upper()
    logs.configure(level, os.environ.get("CFKAFKA_LOG_FORMAT", "text"))


def _with_settings(
    command: Callable[[Settings], Coroutine[Any, Any, int]], config_file: str | None
) -> int:
    try:
        if config_file:
            settings = config.load(config_file, os.environ)
        else:
            settings = Settings.from_env(os.environ)
        return asyncio.run(command(settings))
    except ConfigError as exc:
        print(f"cfkafka: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AuthError as exc:
        print(f"cfkafka: authentication failed: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SourceError as exc:
        print(f"cfkafka: Cloudflare API error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _clients(settings: Settings, max_attempts: int = 0) -> dict[Credentials, CloudflareClient]:
    """One client, hence one rate-limit governor, per distinct credential."""
    return {
        account.credentials: CloudflareClient(
            settings.api_base_url,
            account.credentials,
            timeout_s=settings.http_timeout_s,
            max_attempts=max_attempts,
            governor=Governor(settings.api_requests_per_5min / 300, 20),
        )
        for account in settings.accounts
    }


async def _close(clients: dict[Credentials, CloudflareClient]) -> None:
    for client in clients.values():
        await client.aclose()


async def _verify(settings: Settings) -> int:
    """Check each credential, then probe every enabled feed; print a feed x scope table."""
    clients = _clients(settings, max_attempts=5)
    failed = False
    try:
        for account in settings.accounts:
            client = clients[account.credentials]
            try:
                print(f"account {account.label}: {await client.verify(account.account_id)}")
            except AuthError as exc:
                failed = True
                print(f"account {account.label}: credential REFUSED: {exc}")
        print(f"{'feed':<18} {'scope':<42} result")
        for job in jobs_from(settings):
            try:
                await job.probe(clients[job.account.credentials])
                result = "OK"
            except AuthError as exc:
                failed = True
                result = f"MISSING permission '{job.permission}' (Cloudflare code {exc.code})"
            print(f"{job.feed:<18} {job.scope:<42} {result}")
    finally:
        await _close(clients)
    return EXIT_CONFIG if failed else 0


async def _prepare_kafka(
    settings: Settings, jobs: list[Job], stop: asyncio.Event
) -> dict[str, int] | None:
    """Register every schema (BACKWARD) and create topics, waiting for Kafka and registry.

    Returns schema ids by topic, or None if stopped first. Raises ``SchemaRegistryError``
    when the registry refuses a schema (e.g. an incompatible change).
    """
    subjects = {topic: schema for job in jobs for topic, schema in job.subjects.items()}
    specs = {spec.name: spec for job in jobs for spec in job.topic_specs}
    specs[DLQ_TOPIC] = TopicSpec(DLQ_TOPIC, settings.topic_partitions)
    specs[OFFSETS_TOPIC] = TopicSpec(OFFSETS_TOPIC, 1, {"cleanup.policy": "compact"})
    specs[COMMITS_TOPIC] = TopicSpec(COMMITS_TOPIC, 1)
    backoff, rand, attempt = Backoff(cap_s=30), random.Random(), 0  # noqa: S311
    with registry_client(settings.registry_url, settings.registry_conf) as sr:
        while not stop.is_set():
            attempt += 1
            try:
                ids = {}
                for topic, schema in subjects.items():
                    ids[topic] = await asyncio.to_thread(
                        register, sr, f"{topic}-value", schemas.text(schema)
                    )
                    log.info("schema %s-value registered as id %d", topic, ids[topic])
                await asyncio.to_thread(
                    ensure_topics, _kafka_conf(settings), list(specs.values()),
                    replication_factor=settings.replication_factor,
                )
                return ids
            except SchemaRegistryError as exc:
                status = exc.http_status_code
                if status is not None and 400 <= status < 500:
                    raise
                what = f"schema registry {settings.registry_url}"
                err: Exception = exc
            except (KafkaException, OSError) as exc:
                what, err = f"Kafka {settings.bootstrap_servers}", exc
            delay = backoff.delay(attempt, None, rand)
            log.warning("%s unavailable (%s); retry in %.0fs", what, err, delay)
            await wait_or_stop(stop, delay)
    return None


_kafka_conf = settings_kafka_conf


def _status(jobs: list[Job], runners: list[Any], tasks: list[asyncio.Task[None]]) -> list[
        dict[str, Any]]:
    return [
        {"feed": job.feed, "scope": job.scope, "published": runner.published,
         "healthy": not task.done()}
        for job, runner, task in zip(jobs, runners, tasks, strict=True)
    ]


STOP_GRACE_S = 30.0


async def join(
    tasks: Sequence[asyncio.Task[None]], stop: asyncio.Event, grace_s: float = STOP_GRACE_S
) -> None:
    """Wait for the runners; re-raise the first failure.

    A failing runner sets ``stop`` so the others finish their step and stop cleanly. Once
    stopping, runners get ``grace_s`` to finish (a page, a window); one still waiting after
    that (e.g. on Cloudflare's rate-limit reset) is cancelled: its open transaction is never
    committed, so nothing is lost or duplicated, and the next start resumes from its
    checkpoint.
    """
    stopping = asyncio.ensure_future(stop.wait())
    pending: set[asyncio.Future[Any]] = set(tasks)
    try:
        while pending and not stop.is_set():
            done, pending = await asyncio.wait(pending | {stopping},
                                               return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopping)
            if any(t is not stopping and not t.cancelled() and t.exception() is not None
                   for t in done):
                stop.set()
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        if pending:
            log.warning("%d feed(s) did not stop within %.0fs; cancelled (their open "
                        "transactions are aborted, the next start resumes from the checkpoint)",
                        len(pending), grace_s)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)
    finally:
        stopping.cancel()
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def _authorized(
    settings: Settings, clients: dict[Credentials, CloudflareClient], jobs: list[Job]
) -> list[Job]:
    """Probe every job; an unauthorized one stops the start (or is skipped if configured)."""
    usable = []
    for job in jobs:
        try:
            await job.probe(clients[job.account.credentials])
        except AuthError as exc:
            if not settings.skip_unauthorized:
                raise
            log.warning("skipping feed %s %s (CF_SKIP_UNAUTHORIZED_FEEDS): %s", job.feed,
                        job.scope, exc)
            continue
        log.info("feed %s %s authorized", job.feed, job.scope)
        usable.append(job)
    return usable


async def _run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clients = _clients(settings)
    kafka_conf = _kafka_conf(settings)
    publishers: list[TransactionalPublisher] = []
    try:
        log.info("cfkafka %s", __version__)
        for account in settings.accounts:
            try:
                verified = await clients[account.credentials].verify(account.account_id)
            except AuthError as exc:
                msg = f"account {account.label}: {exc}"
                raise AuthError(msg, status=exc.status, code=exc.code, url=exc.url) from None
            log.info("account %s: %s", account.label, verified)
        jobs = await _authorized(settings, clients, jobs_from(settings))
        if not jobs:
            print("cfkafka: no authorized feed to run", file=sys.stderr)
            return EXIT_CONFIG
        try:
            schema_ids = await _prepare_kafka(settings, jobs, stop)
        except SchemaRegistryError as exc:
            refused = registry_refusal(exc, settings.registry_url)
            if refused is not None:
                raise refused from None  # a settings error: exit 2, naming them
            print(f"cfkafka: schema registry refused a schema: {exc}", file=sys.stderr)
            return 1
        if schema_ids is None:
            return 0
        store = KafkaCheckpointStore(kafka_conf)
        runners = []
        for job in jobs:
            # One transactional producer per feed x scope: transactions are sequential per
            # producer, and a stable id lets a restart fence exactly its predecessor.
            publisher = TransactionalPublisher(
                kafka_conf, f"{settings.connector_name}-{job.transactional_id_suffix}",
                timeout_s=settings.transaction_timeout_s,
            )
            publishers.append(publisher)
            runners.append(job.make_runner(client=clients[job.account.credentials],
                                           publisher=publisher, store=store,
                                           schema_ids=schema_ids, stop=stop))
        tasks = [asyncio.create_task(runner.run()) for runner in runners]
        http = None
        if settings.metrics_port:
            http = await serve(lambda: _status(jobs, runners, tasks), settings.metrics_port)
            log.info("metrics on :%d/metrics, health on :%d/health", settings.metrics_port,
                     settings.metrics_port)
        try:
            await join(tasks, stop)
        finally:
            if http is not None:
                await http.cleanup()
        published = ", ".join(f"{j.feed} {j.scope} {r.published}" for j, r in
                              zip(jobs, runners, strict=True))
        log.info("stopped cleanly; events published this run: %s", published)
        return 0
    finally:
        for publisher in publishers:
            await asyncio.to_thread(publisher.close)
        await _close(clients)


if __name__ == "__main__":
    raise SystemExit(main())
