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
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

import schemas
from connector import __version__
from connector.checkpoints import OFFSETS_TOPIC, KafkaCheckpointStore
from connector.client import Backoff, CloudflareClient
from connector.errors import AuthError, ConfigError, SourceError
from connector.feeds import FEEDS
from connector.feeds.base import PullFeed
from connector.publisher import TransactionalPublisher
from connector.records import DLQ_TOPIC
from connector.runner import FeedPolicy, FeedRunner
from connector.settings import Settings
from connector.topics import TopicSpec, ensure_topics
from schemas.registry import Encoder, register, registry_client

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
    commands.add_parser("run", help="run the source connector (settings from the environment)")
    commands.add_parser("verify", help="check the Cloudflare credential and feed permissions")
    commands.add_parser("streams", help="run a Faust stream worker", add_help=False)
    commands.add_parser("sim", help="run the Cloudflare API simulator", add_help=False)
    commands.add_parser("dev", help="local Kafka + schema registry: up | down | status",
                        add_help=False)
    commands.add_parser("demo", help="run everything locally and show events flowing",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "streams":
        from streams.__main__ import main as streams_main

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
    if args.command == "verify":
        return _with_settings(_verify)
    return _with_settings(_run)


def _configure_logging() -> None:
    level = os.environ.get("CFKAFKA_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _with_settings(command: Callable[[Settings], Coroutine[Any, Any, int]]) -> int:
    try:
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


def _client(settings: Settings, max_attempts: int = 0) -> CloudflareClient:
    return CloudflareClient(
        settings.api_base_url,
        settings.credentials,
        timeout_s=settings.http_timeout_s,
        max_attempts=max_attempts,
    )


async def _verify(settings: Settings) -> int:
    """Check the credential, then probe every enabled feed; print a feed x scope table."""
    client = _client(settings, max_attempts=5)
    failed = False
    try:
        print(f"credential: {await client.verify(settings.account_id)}")
        print(f"{'feed':<18} {'scope':<42} result")
        for feed in _feeds(settings):
            scope = f"{feed.scope}:{settings.account_id}"
            try:
                await _probe(client, feed, settings.account_id)
                result = "OK"
            except AuthError as exc:
                failed = True
                result = f"MISSING permission '{feed.permission}' (Cloudflare code {exc.code})"
            print(f"{feed.name:<18} {scope:<42} {result}")
    finally:
        await client.aclose()
    return EXIT_CONFIG if failed else 0


def _feeds(settings: Settings) -> list[PullFeed]:
    return [FEEDS[name]() for name in settings.feeds]


async def _probe(client: CloudflareClient, feed: PullFeed, account_id: str) -> None:
    """One tiny request per feed: raises ``AuthError`` naming the missing permission."""
    now = _now()
    try:
        await client.get(feed.url(account_id), feed.first_page(now - timedelta(minutes=1), now, 1))
    except AuthError as exc:
        msg = f"{exc} (feed {feed.name} needs the token permission '{feed.permission}')"
        raise AuthError(msg, status=exc.status, code=exc.code, url=exc.url) from None


async def _prepare_kafka(
    settings: Settings, feeds: list[PullFeed], stop: asyncio.Event
) -> dict[str, int] | None:
    """Register each feed's schema (BACKWARD) and create topics, waiting for Kafka and registry.

    Returns schema ids by feed name, or None if stopped first. Raises ``SchemaRegistryError``
    when the registry refuses a schema (e.g. an incompatible change).
    """
    with registry_client(settings.registry_url, settings.registry_conf) as sr:
        return await _register_and_create(settings, feeds, stop, sr)


async def _register_and_create(
    settings: Settings, feeds: list[PullFeed], stop: asyncio.Event, sr: SchemaRegistryClient
) -> dict[str, int] | None:
    topics = [TopicSpec(feed.topic, settings.topic_partitions) for feed in feeds]
    topics += [
        TopicSpec(DLQ_TOPIC, settings.topic_partitions),
        TopicSpec(OFFSETS_TOPIC, 1, {"cleanup.policy": "compact"}),
    ]
    backoff, rand, attempt = Backoff(cap_s=30), random.Random(), 0  # noqa: S311
    while not stop.is_set():
        attempt += 1
        try:
            ids = {}
            for feed in feeds:
                subject = f"{feed.topic}-value"
                ids[feed.name] = await asyncio.to_thread(
                    register, sr, subject, schemas.text(feed.schema)
                )
                log.info("schema %s registered as id %d", subject, ids[feed.name])
            await asyncio.to_thread(
                ensure_topics, _kafka_conf(settings), topics,
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
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
    return None


def _kafka_conf(settings: Settings) -> dict[str, str]:
    return {"bootstrap.servers": settings.bootstrap_servers, **settings.kafka_conf}


async def _run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)
        log.info("metrics on :%d/metrics", settings.metrics_port)
    feeds = _feeds(settings)
    client = _client(settings)
    kafka_conf = _kafka_conf(settings)
    publishers: list[TransactionalPublisher] = []
    try:
        log.info("cfkafka %s: %s", __version__, await client.verify(settings.account_id))
        for feed in list(feeds):
            try:
                await _probe(client, feed, settings.account_id)
            except AuthError as exc:
                if not settings.skip_unauthorized:
                    raise
                log.warning("skipping feed %s (CF_SKIP_UNAUTHORIZED_FEEDS): %s", feed.name, exc)
                feeds.remove(feed)
                continue
            log.info("feed %s authorized for account %s", feed.name, settings.account_id)
        if not feeds:
            print("cfkafka: no authorized feed to run", file=sys.stderr)
            return EXIT_CONFIG
        try:
            schema_ids = await _prepare_kafka(settings, feeds, stop)
        except SchemaRegistryError as exc:
            print(f"cfkafka: schema registry refused a schema: {exc}", file=sys.stderr)
            return 1
        if schema_ids is None:
            return 0
        policy = FeedPolicy(
            poll_interval_s=settings.poll_interval_s,
            settle_lag_s=settings.settle_lag_s,
            start_lookback_s=settings.start_lookback_s,
            per_page=settings.per_page,
        )
        store = KafkaCheckpointStore(kafka_conf)
        runners = []
        for feed in feeds:
            # One transactional producer per feed x scope: transactions are sequential per
            # producer, and a stable id lets a restart fence exactly its predecessor.
            publisher = TransactionalPublisher(
                kafka_conf,
                f"{settings.connector_name}-{feed.name}-{settings.account_id}",
                timeout_s=settings.transaction_timeout_s,
            )
            publishers.append(publisher)
            runners.append(FeedRunner(
                feed, settings.account_id, client=client, publisher=publisher, store=store,
                encoder=Encoder(schema_ids[feed.name], schemas.load(feed.schema)),
                policy=policy, clock=_now, stop=stop,
            ))
        await asyncio.gather(*(runner.run() for runner in runners))
        published = ", ".join(f"{r.feed.name} {r.published}" for r in runners)
        log.info("stopped cleanly; events published this run: %s", published)
        return 0
    finally:
        for publisher in publishers:
            await asyncio.to_thread(publisher.close)
        await client.aclose()


if __name__ == "__main__":
    raise SystemExit(main())
