"""The worker's short path (``streams.lane.NativeLane``) gives what the general path gives.

Two workers, built alike (real handlers, native transforms, enricher, memory tables), one
with its lanes and one without, handle the same consumed records; every produce (topic,
partition, key, value, headers, whether a delivery report was asked), every table write,
the counters, the metrics and the learned name books must agree. The records are
simulator samples with duplicates, the same with odd values, and records the lane must
leave to the general path (no key, a key that is not UTF-8, another schema id, a scope
header that is not UTF-8, no headers). Each case also checks the lane handled most records,
so a lane that always declines fails.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from fake_kafka import FakeMessage
from test_streams_codecs import MockRegistry
from test_streams_native import DATASET_NAME, odd_values

import schemas
from schemas.registry import Encoder, register
from streams.app import options
from streams.codecs import Codecs, connect
from streams.enrich import Roster
from streams.handlers import Handlers, Stats
from streams.lane import NativeLane, scope_of
from streams.metrics import AgentMetrics
from streams.native import transforms
from streams.ocsf import DATASETS as OCSF_DATASETS
from streams.settings import Settings
from streams.state import MemoryBackend
from streams.worker import Worker

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import headers_of, key_of, samples, topic_value  # noqa: E402

TOPIC = f"cloudflare.{DATASET_NAME}.v1"
NOW = 1_790_000_000.0
PARTITIONS = 3

pytestmark = pytest.mark.skipif(not transforms(connect(MockRegistry())),
                                reason="the native extension is not built")


class Message(FakeMessage):
    """A consumed record with headers."""

    def __init__(self, offset: int, key: bytes | None, value: bytes | None,
                 headers: list[tuple[str, bytes]] | None) -> None:
        super().__init__(TOPIC, offset % PARTITIONS, offset, key, value, None,
                         1_789_999_000_000 + offset)
        self._headers = headers

    def headers(self) -> list[tuple[str, bytes]] | None:  # type: ignore[override]
        return self._headers


class Producer:
    """Records every produce; ``refuse`` raises for the n-th produce calls."""

    def __init__(self) -> None:
        self.produced: list[tuple[Any, ...]] = []
        self.refuse: dict[int, Exception] = {}
        self.calls = 0

    def begin_transaction(self) -> None:
        pass

    def poll(self, timeout: float = 0) -> int:
        return 0

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                partition: int = -1, headers: Any = None,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        self.calls += 1
        refused = self.refuse.pop(self.calls, None)
        if refused is not None:
            raise refused
        kept = [(n, v) for n, v in headers or () if n != "dlq.time"]  # the clock's
        self.produced.append((topic, partition, key, value, kept or None,
                              on_delivery is not None))


@pytest.fixture(scope="module")
def setup() -> tuple[Codecs, Encoder]:
    registry = MockRegistry()
    codecs = connect(registry)
    raw = OCSF_DATASETS[DATASET_NAME].raw_schema
    schema_id = register(registry, f"{TOPIC}-value", schemas.text(raw))
    return codecs, Encoder(schema_id, schemas.load(raw))


def worker(codecs: Codecs, *, lanes: bool, **overrides: Any) -> Worker:
    settings = Settings(**{"datasets": (DATASET_NAME,), "legacy_audit": False,
                           "alerts": False, "store": "memory://",
                           "instance_id": "lane-test"} | overrides)
    handlers = Handlers(codecs, options(settings, Roster(), codecs), PARTITIONS, Stats(),
                        {DATASET_NAME: AgentMetrics(DATASET_NAME)}, lambda: NOW)
    made = Worker(settings, handlers, lambda t, n: MemoryBackend())
    if not lanes:
        made.lanes = {}
    made.producer = Producer()
    made.assigned = {(TOPIC, p) for p in range(PARTITIONS)}
    made._begin()  # noqa: SLF001
    return made


def messages(encoder: Encoder, seed: int) -> list[Message]:
    rng = random.Random(seed)
    scope = headers_of(DATASET_NAME)["scope"].encode()
    headers = [("cf.feed", DATASET_NAME.encode()), ("cf.scope", scope)]
    pairs = [(key_of(DATASET_NAME, r), topic_value(DATASET_NAME, r))
             for r in samples(DATASET_NAME, 200, seed)]
    pairs += list(odd_values(200, seed))
    out: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None]] = []
    for key, value in pairs:
        out.append((key.encode(), encoder.encode(value), headers))
    out += [out[i] for i in rng.sample(range(len(out)), 40)]  # duplicates
    key, value, _ = out[0]
    assert key is not None and value is not None
    out += [
        (None, value, headers),  # no key: the general path's dead letter
        (b"\xff\xfe" + key, value, headers),  # a key that is not UTF-8
        (key + b"-other-id", value[:1] + (999_999).to_bytes(4, "big") + value[5:], headers),
        (key + b"-bad-scope", value, [("cf.scope", b"\xff")]),
        (key + b"-two-scopes", value, [("cf.scope", b"zone:x"), ("cf.scope", scope)]),
        (key + b"-no-headers", value, None),
        (key + b"-no-value", None, headers),
    ]
    rng.shuffle(out)
    return [Message(offset, k, v, h) for offset, (k, v, h) in enumerate(out)]


def handled(made: Worker, records: list[Message]) -> dict[str, Any]:
    for message in records:
        made.handle(message)
    metrics = made.handlers.metrics[DATASET_NAME]
    names = made.handlers.options.enricher.names  # type: ignore[union-attr]
    assert names is not None
    return {
        "produced": made.producer.produced,
        "tables": {n: dict(p.pending) for t in made.tables.values()
                   for n, p in t.partitions.items()},
        "positions": made.positions,
        "stats": made.stats,
        "metrics": (metrics.received, metrics._sent, metrics._pending,  # noqa: SLF001
                    metrics._timestamp),  # noqa: SLF001
        "names": (dict(names.accounts), dict(names.zones)),
    }


def counting(made: Worker) -> list[bool]:
    """Wrap the worker's lane: what each call returned."""
    calls: list[bool] = []
    lane = made.lanes[TOPIC]

    def call(*args: Any) -> bool:
        result = lane(*args)
        calls.append(result)
        return result

    made.lanes[TOPIC] = call  # type: ignore[assignment]
    return calls


@pytest.mark.parametrize("overrides", [{}, {"zone_names": {"unknown-zone": "named"}}],
                         ids=["learning", "named"])
def test_the_lane_gives_what_the_general_path_gives(setup: tuple[Codecs, Encoder],
                                                    overrides: dict[str, Any]) -> None:
    codecs, encoder = setup
    records = messages(encoder, 21)
    general = handled(worker(codecs, lanes=False, **overrides), records)
    fast = worker(codecs, lanes=True, **overrides)
    calls = counting(fast)
    assert handled(fast, records) == general
    assert sum(calls) >= 350, sum(calls)  # samples, most odd values and the duplicates
    assert not all(calls)  # the cases it must leave to the general path did go there
    assert general["stats"].duplicates >= 40
    assert general["stats"].dead_letters >= 1


def test_no_lane_for_configurations_the_native_run_does_not_cover(
        setup: tuple[Codecs, Encoder]) -> None:
    codecs, _ = setup
    assert TOPIC in worker(codecs, lanes=True).lanes
    assert worker(codecs, lanes=True, alerts=True).lanes == {}
    assert worker(codecs, lanes=True, sample_rates={"http_activity": 0.5}).lanes == {}
    assert worker(codecs, lanes=True, processing_guarantee="at_least_once").lanes == {}
    assert worker(codecs, lanes=True, masks={"http_activity": frozenset({"ip"})}).lanes == {}


@pytest.mark.parametrize("refused", [1, 2], ids=["siem record", "changelog record"])
def test_a_refused_produce_goes_the_general_way(setup: tuple[Codecs, Encoder],
                                                refused: int) -> None:
    """A full queue on the SIEM record: the lane declines and the general path sends it;
    on the changelog record: the worker's ``_send`` sends it (after waiting for room)."""
    codecs, encoder = setup
    records = messages(encoder, 4)[:20]
    general = handled(worker(codecs, lanes=False), records)
    fast = worker(codecs, lanes=True)
    fast.producer.refuse[refused] = BufferError("queue full")
    assert handled(fast, records) == general


def test_a_kafka_error_on_the_changelog_record_is_the_general_paths(
        setup: tuple[Codecs, Encoder]) -> None:
    """The changelog produce fails twice (the lane's try and ``_send``'s): the record goes
    to the dead letters, as when the general path's write fails."""
    codecs, encoder = setup
    records = [m for m in messages(encoder, 5) if m.key() and m.value()][:1]
    error = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"))
    results = []
    for lanes in (False, True):
        made = worker(codecs, lanes=lanes)
        # the general path: SIEM record (1), changelog (2: refused), DLQ (3); the lane:
        # SIEM record (1), changelog (2: refused), ``_send``'s changelog (3: refused), DLQ
        made.producer.refuse = {2: error} if not lanes else {2: error, 3: error}
        results.append(handled(made, records))
    assert results[0] == results[1]
    assert results[0]["stats"].dead_letters == 1


def test_scope_of_reads_the_last_scope_header() -> None:
    assert scope_of(Message(0, b"k", b"v", None)) is None
    assert scope_of(Message(0, b"k", b"v", [("cf.scope", b"a"), ("cf.scope", b"b")])) == "b"
    assert scope_of(Message(0, b"k", b"v", [("cf.scope", b"\xff")])) is None
    assert scope_of(Message(0, b"k", b"v", [("cf.feed", b"x")])) is None


def test_lane_of_needs_a_direct_native_transform(setup: tuple[Codecs, Encoder]) -> None:
    codecs, _ = setup
    made = worker(codecs, lanes=True)
    dataset = made.datasets[TOPIC]
    assert isinstance(NativeLane.of(made.handlers, dataset), NativeLane)
    plain = Handlers(codecs, options(Settings(enrich=False), Roster()), PARTITIONS, Stats(),
                     {DATASET_NAME: AgentMetrics(DATASET_NAME)})
    assert NativeLane.of(plain, dataset) is None  # no native transforms in its options
