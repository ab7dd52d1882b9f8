"""Jobs: one feed x one scope, with what it needs from Cloudflare and Kafka, and its runner.

The composition root (``cli.py``) turns settings into jobs, probes them (permissions),
registers their schemas, creates their topics, and runs their runners concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import schemas
from connector import convert
from connector.checkpoints import CheckpointStore
from connector.client import CloudflareClient
from connector.clientconf import kafka_client_conf
from connector.errors import AuthError
from connector.feeds import FEEDS
from connector.feeds.base import PullFeed
from connector.feeds.firewall_events import FirewallEvents, NodeSettings
from connector.feeds.http_requests import GAPS_TOPIC, HttpRequests, logpull_source
from connector.governor import Governor
from connector.lines import CompiledLineCodec
from connector.publisher import Publisher
from connector.runner import FeedPolicy, FeedRunner
from connector.settings import Account, Credentials, Settings
from connector.snapshots import (
    SNAPSHOT_FEEDS,
    TOPIC_CONFIG,
    KafkaRosterReader,
    SnapshotFeed,
    SnapshotPolicy,
    SnapshotRunner,
)
from connector.topics import TopicSpec
from connector.window_runner import WindowRunner
from connector.windows import Window
from schemas.registry import Encoder

log = logging.getLogger(__name__)
ZONE_FEEDS: dict[str, type[Any]] = {
    HttpRequests.name: HttpRequests, FirewallEvents.name: FirewallEvents
}


class Runner(Protocol):
    """What the composition root runs."""

    published: int

    async def run(self) -> None:
        """Run until the stop event is set."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Job:
    """One feed for one scope."""

    feed: str
    scope_id: str
    scope_kind: str
    permission: str
    subjects: dict[str, str]  # topic -> schema name
    topic_specs: list[TopicSpec]
    probe: Callable[[CloudflareClient], Any]
    make_runner: Callable[..., Runner]
    account: Account  # whose credential the job uses
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """``account:<id>``, ``user:<account id>`` or ``zone:<id>``."""
        return f"{self.scope_kind}:{self.scope_id}"

    @property
    def transactional_id_suffix(self) -> str:
        """Stable per feed x scope, so a restart fences exactly its predecessor."""
        return f"{self.feed}-{self.scope_id}"


def feed_scopes() -> dict[str, str]:
    """Every feed name -> the scope it is pulled for: ``account``, ``user`` or ``zone``."""
    scopes = {name: feed.scope for name, feed in FEEDS.items()}
    scopes.update({name: "account" for name in SNAPSHOT_FEEDS})
    scopes.update({name: "zone" for name in ZONE_FEEDS})
    return scopes


def jobs_from(settings: Settings) -> list[Job]:
    """Every enabled feed x scope, account by account."""
    jobs = []
    graphql: dict[Credentials, Governor] = {}  # GraphQL's own budget, per credential
    for account in settings.accounts:
        for name in account.feeds:
            if name in SNAPSHOT_FEEDS:
                jobs.append(_snapshot_job(SNAPSHOT_FEEDS[name](), account, settings))
            else:
                jobs.append(_account_job(FEEDS[name](), account, settings))
        for zone in account.zones:
            for name in zone.feeds:
                if name == FirewallEvents.name:
                    governor = graphql.setdefault(account.credentials, Governor(
                        settings.graphql_requests_per_5min / 300, 10))
                    jobs.append(_graphql_job(FirewallEvents(), account, zone.zone_id, settings,
                                             governor))
                else:
                    jobs.append(_zone_job(HttpRequests(), account, zone.zone_id, settings))
    return jobs


def _permission_error(exc: AuthError, feed: str, permission: str) -> AuthError:
    msg = f"{exc} (feed {feed} needs the token permission '{permission}')"
    return AuthError(msg, status=exc.status, code=exc.code, url=exc.url)


def _account_job(feed: PullFeed, owner: Account, settings: Settings) -> Job:
    account = owner.account_id

    async def probe(client: CloudflareClient) -> None:
        now = _now()
        try:
            await client.get(feed.url(account), feed.first_page(now - timedelta(minutes=1), now, 1))
        except AuthError as exc:
            raise _permission_error(exc, feed.name, feed.permission) from None

    def make_runner(*, client: CloudflareClient, publisher: Publisher, store: CheckpointStore,
                    schema_ids: Mapping[str, int], stop: asyncio.Event) -> Runner:
        return FeedRunner(
            feed, account, client=client, publisher=publisher, store=store,
            encoder=Encoder(schema_ids[feed.topic], schemas.load(feed.schema)),
            policy=FeedPolicy(
                poll_interval_s=settings.poll_interval_s, settle_lag_s=settings.settle_lag_s,
                start_lookback_s=settings.start_lookback_s, per_page=settings.per_page,
            ),
            clock=_now, stop=stop,
        )

    return Job(feed.name, account, feed.scope, feed.permission, {feed.topic: feed.schema},
               [TopicSpec(feed.topic, settings.topic_partitions)], probe, make_runner, owner)


def _zone_job(feed: HttpRequests, owner: Account, zone: str, settings: Settings) -> Job:
    state: dict[str, Any] = {}

    async def probe(client: CloudflareClient) -> None:
        try:
            available = await client.get(feed.fields_url(zone))
        except AuthError as exc:
            raise _permission_error(exc, feed.name, feed.permission) from None
        wanted = list(settings.logpull_fields) or feed.schema_fields()
        fields = feed.usable_fields(wanted, available)
        missing = sorted(set(wanted) - set(fields))
        if missing:
            log.warning("zone %s does not offer %d requested fields, not requested: %s",
                        zone, len(missing), ", ".join(missing))
        state["fields"] = fields

    def make_runner(*, client: CloudflareClient, publisher: Publisher, store: CheckpointStore,
                    schema_ids: Mapping[str, int], stop: asyncio.Event) -> Runner:
        encoder = Encoder(schema_ids[feed.topic], schemas.load(feed.schema))
        gaps = Encoder(schema_ids[GAPS_TOPIC], schemas.load("cloudflare.gaps"))
        codec = CompiledLineCodec(encoder, feed.schema, feed.key_field, feed.json_fields,
                                  expected=state["fields"])
        # decompressed pieces, encode_chunk, send_many (the default; CFKAFKA_LOGPULL_BATCHED)
        in_pieces = settings.logpull_batched
        return WindowRunner(
            feed, zone, publisher=publisher, store=store,
            source=logpull_source(
                client, feed, zone, state["fields"], settings.logpull_options,
                Governor(settings.logpull_requests_per_minute / 60,
                         settings.logpull_requests_per_minute),
                chunks=in_pieces,
            ),
            encode=codec, chunks=codec if in_pieces else None,
            encode_gap=gaps.encode, policy=feed.policy, clock=_now, stop=stop,
            start_lookback_s=settings.start_lookback_s, poll_interval_s=settings.poll_interval_s,
        )

    return Job(
        feed.name, zone, "zone", feed.permission,
        {feed.topic: feed.schema, GAPS_TOPIC: "cloudflare.gaps"},
        [TopicSpec(feed.topic, settings.topic_partitions), TopicSpec(GAPS_TOPIC, 1)],
        probe, make_runner, owner, state,
    )


def _snapshot_job(feed: SnapshotFeed, owner: Account, settings: Settings) -> Job:
    account = owner.account_id

    async def probe(client: CloudflareClient) -> None:
        try:
            await client.get(feed.url(account), feed.params(1, feed.min_per_page))
        except AuthError as exc:
            raise _permission_error(exc, feed.name, feed.permission) from None

    def make_runner(*, client: CloudflareClient, publisher: Publisher, store: CheckpointStore,
                    schema_ids: Mapping[str, int], stop: asyncio.Event) -> Runner:
        return SnapshotRunner(
            feed, account, client=client, publisher=publisher, store=store,
            reader=KafkaRosterReader(settings_kafka_conf(settings)),
            encoder=Encoder(schema_ids[feed.topic], schemas.load(feed.schema)),
            policy=SnapshotPolicy(interval_s=settings.snapshot_interval_s), clock=_now,
            stop=stop,
        )

    return Job(feed.name, account, "account", feed.permission, {feed.topic: feed.schema},
               [TopicSpec(feed.topic, settings.topic_partitions, TOPIC_CONFIG)], probe,
               make_runner, owner)


def settings_kafka_conf(settings: Settings) -> dict[str, Any]:
    """Kafka client settings: bootstrap servers plus the ``KAFKA_CONF_*`` pass-through."""
    return kafka_client_conf(settings.bootstrap_servers, settings.kafka_conf)


def _graphql_job(
    feed: FirewallEvents, owner: Account, zone: str, settings: Settings, governor: Governor
) -> Job:
    state: dict[str, Any] = {}

    async def probe(client: CloudflareClient) -> None:
        try:
            node: NodeSettings = await feed.settings(client, zone, governor)
        except AuthError as exc:
            raise _permission_error(exc, feed.name, feed.permission) from None
        state["node"] = node

    def make_runner(*, client: CloudflareClient, publisher: Publisher, store: CheckpointStore,
                    schema_ids: Mapping[str, int], stop: asyncio.Event) -> Runner:
        node: NodeSettings = state["node"]
        fields = feed.fields(node)
        encoder = Encoder(schema_ids[feed.topic], schemas.load(feed.schema))
        raw_schema = schemas.raw(feed.schema)

        def encode(record: dict[str, Any]) -> tuple[bytes, bytes]:
            return feed.key(record).encode(), encoder.encode(
                convert.to_record(raw_schema, record))

        def source(window: Window) -> AsyncIterator[dict[str, Any]]:
            return feed.records(client, zone, window, fields, node.max_page_size, governor)

        gaps = Encoder(schema_ids[GAPS_TOPIC], schemas.load("cloudflare.gaps"))
        return WindowRunner(
            feed, zone, publisher=publisher, store=store, source=source, encode=encode,
            encode_gap=gaps.encode, policy=feed.policy(node), clock=_now, stop=stop,
            start_lookback_s=settings.start_lookback_s, poll_interval_s=settings.poll_interval_s,
        )

    return Job(
        feed.name, zone, "zone", feed.permission,
        {feed.topic: feed.schema, GAPS_TOPIC: "cloudflare.gaps"},
        [TopicSpec(feed.topic, settings.topic_partitions), TopicSpec(GAPS_TOPIC, 1)],
        probe, make_runner, owner, state,
    )
