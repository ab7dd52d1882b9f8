"""Benchmark: the stream worker (``python -m streams``), events/s and end-to-end latency.

Usage: ``python bench/streams_bench.py [--datasets http_requests access_requests]
[--events-http N] [--events-access N] [--dup-rate R] [--rate EV_S] [--duration S]
[--no-latency] [--no-bare] [--null-ceiling] [--profile]``

Against the broker and registry of ``KAFKA_BOOTSTRAP_SERVERS`` / ``SCHEMA_REGISTRY_URL``
(``eval "$(.venv/bin/cfkafka dev up)"``), in one run:

1. Throughput, per dataset: N raw records (simulator records, as the connector writes them:
   Confluent-wire Avro of ``schemas/cloudflare.<dataset>.avsc``, Kafka key = the dedup key,
   ``cf.feed``/``cf.scope`` headers; a pool of distinct simulator records with a key unique
   to this run written into each; ``--dup-rate`` of them a second copy, shuffled in) are
   produced to ``cloudflare.<dataset>.v1`` first. Then a worker with a fresh
   ``STREAMS_APP_ID`` (its group's offsets committed at the raw topic's ends from before the
   produce, so it reads exactly this run's records), ``exactly_once`` + ``rocksdb://``
   (the defaults), ``STREAMS_DATASETS=<dataset>``, ``STREAMS_LEGACY_AUDIT=false`` is
   started and works through the backlog. events/s = raw records consumed (incl.
   duplicates) / (last − first output record's timestamp), over this run's keys in the
   SIEM topic read ``read_committed``. The output timestamps are CreateTime, set by the
   worker's producer when it sends, so worker start-up is not counted.
2. Latency (``http_requests``, same worker after the backlog): produce at a steady
   ``--rate`` for ``--duration`` s, each raw record's Kafka timestamp = its send time, and
   read the SIEM topic ``read_committed`` meanwhile. Reported: consumer-receive time − raw
   timestamp (the honest end-to-end figure: includes the worker's transaction commit
   interval and the consumer's fetch), and SIEM CreateTime − raw timestamp (in-worker
   latency up to the send, before the commit makes it visible).
3. The no-framework ceiling: one plain confluent-kafka process (``--bare-child``) assigned
   to the same raw records: batch ``consume``, the same ``streams.pipeline.process`` with a
   plain dict as the dedup table, outputs produced transactionally (to
   ``streams-bench.<siem topic>``, same partition as the source, so the real SIEM topics
   get no second copy) with ``send_offsets_to_transaction`` every ``--bare-commit-s`` s or
   ``--bare-commit-n`` records. Measured the same way; ratio = worker / bare.
4. ``--null-ceiling``: the bare loop once more with no transform (a dict lookup, then the
   bytes of one real output, ~7 KB, produced for every new key): what the Kafka client and
   the broker allow on this machine before any of our per-record work.

``--profile`` runs the bare loop and a worker once more under cProfile over the first
``--profile-events`` records and prints µs per event by package and the top functions, with
``process``'s share. ``streams/`` and ``schemas/`` are copied to the temp dir at the start
and every worker and bare loop runs that copy (others edit the tree during a run). Other
consumer groups reading the raw topic (e2e tests' workers) are waited for, then reported.
Progress goes to stderr, the Markdown table to stdout. Worker logs go to a temp dir
(printed at start, kept on failure or with ``--keep``). Workers are stopped with SIGTERM,
then SIGKILL, on exit, SIGTERM and Ctrl-C.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
#: a copy of ``streams/`` and ``schemas/`` taken at the start (``snapshot_code``): the worker
#: and the bare loop run the same code even when the tree is edited during the run
CODE = Path(os.environ.get("STREAMS_BENCH_CODE") or ROOT)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "streams" / "ocsf"))
sys.path.insert(0, str(CODE))

from confluent_kafka import (  # noqa: E402
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # noqa: E402

#: SIEM topic(s) each benchmarked dataset's events are routed to (streams.routing)
SIEM_TOPICS: dict[str, tuple[str, ...]] = {
    "http_requests": ("siem.http_activity.v1",),
    "access_requests": ("siem.authentication.v1",),
}
DEFAULT_EVENTS = {"http_requests": 50_000, "access_requests": 20_000}
BARE_PREFIX = "streams-bench."
ZONE_DATASETS = frozenset({"http_requests", "firewall_events"})
Header = tuple[str, str | bytes | None]
Raw = tuple[bytes, bytes, list[Header]]  # key, value, headers
Offsets = dict[int, int]  # partition -> offset


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live child processes (``/proc``; a worker with
    ``--processes`` N runs N children), 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


CODE_DIRS = ("streams", "schemas")


def code_state() -> dict[str, float]:
    """mtime of every ``streams/``/``schemas/`` source file in the tree."""
    return {str(f.relative_to(ROOT)): f.stat().st_mtime
            for d in CODE_DIRS for f in (ROOT / d).rglob("*.py")}


def snapshot_code(tmp: Path) -> Path:
    """Copy ``streams/`` and ``schemas/`` to ``tmp/code`` (others edit the tree while a
    benchmark runs: the worker imports at its start, the bare loop minutes later)."""
    code = tmp / "code"
    for name in CODE_DIRS:
        shutil.copytree(ROOT / name, code / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return code


def environment() -> tuple[str, str]:
    boot = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    url = os.environ.get("SCHEMA_REGISTRY_URL", "").strip().rstrip("/")
    if not boot or not url:
        sys.exit(
            "streams_bench: KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL must both be set "
            "(a running broker and registry), e.g.:\n"
            '  eval "$(.venv/bin/cfkafka dev up)"'
        )
    return boot, url


# --- raw records ---------------------------------------------------------------------------


def raw_records(
    dataset: str, url: str, run: str, distinct: int, dups: int, seed: int, tag: str = "t",
) -> tuple[list[Raw], set[bytes]]:
    """``distinct`` raw messages with keys unique to ``run`` plus ``dups`` second copies,
    shuffled (a copy can come before its original: the first one seen wins either way)."""
    from ocsf_samples import samples, topic_value  # type: ignore[import-not-found]

    import schemas
    from schemas.registry import Encoder, register, registry_client
    from streams.ocsf import DATASETS as OCSF_DATASETS

    name = OCSF_DATASETS[dataset].raw_schema
    with registry_client(url) as client:
        schema_id = register(client, f"cloudflare.{dataset}.v1-value", schemas.text(name))
    encoder = Encoder(schema_id, schemas.load(name))
    pool = [topic_value(dataset, r) for r in samples(dataset, min(distinct, 2000), seed)]
    scope = f"zone:{run}{'0' * 24}" if dataset in ZONE_DATASETS else f"account:{run}{'0' * 24}"
    headers: list[Header] = [("cf.feed", dataset.encode()), ("cf.scope", scope.encode())]
    id_field = "RayID" if dataset in ZONE_DATASETS else "ray_id"
    messages: list[Raw] = []
    for i in range(distinct):
        key = f"{run}{tag}{i:08x}"
        value = dict(pool[i % len(pool)])
        value[id_field] = key
        messages.append((key.encode(), encoder.encode(value), headers))
    rand = random.Random(seed)
    messages += rand.sample(messages, dups)
    rand.shuffle(messages)
    return messages, {m[0] for m in messages}


# --- Kafka helpers -------------------------------------------------------------------------


def ensure_topics(boot: str, topics: Sequence[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": boot})
    existing = admin.list_topics(timeout=30).topics
    missing = [NewTopic(t, num_partitions=partitions) for t in topics if t not in existing]
    for future in (admin.create_topics(missing).values() if missing else ()):
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def end_offsets(boot: str, topic: str) -> Offsets:
    consumer = Consumer({"bootstrap.servers": boot, "group.id": "streams-bench-probe"})
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        out: Offsets = {}
        for partition in meta.partitions:
            deadline = time.monotonic() + 30
            while True:  # a topic created just now may not have a leader yet
                try:
                    out[partition] = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=10)[1]
                    break
                except KafkaException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        return out
    finally:
        consumer.close()


def commit_offsets(boot: str, group: str, topic: str, offsets: Offsets) -> None:
    """Commit ``group``'s offsets of ``topic`` (the worker starts there, not at the start)."""
    consumer = Consumer({"bootstrap.servers": boot, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def produce_all(boot: str, topic: str, messages: Iterable[Raw]) -> None:
    """Produce in order, partitioned like the connector (murmur2 of the key)."""
    producer = Producer({"bootstrap.servers": boot, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 20})
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError(f"could not produce to {topic}")


@dataclass
class Found:
    """First CreateTime (ms) and count of each wanted key read from the topics."""

    first_ts: dict[bytes, int] = field(default_factory=dict)
    counts: dict[bytes, int] = field(default_factory=dict)

    def add(self, key: bytes | None, ts: int) -> None:
        if key is None:
            return
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first_ts.setdefault(key, ts)


def reader_group() -> str:
    return f"streams-bench-reader-{secrets.token_hex(4)}"


def read_outputs(
    boot: str, starts: Mapping[str, Offsets], wanted: set[bytes], timeout_s: float = 120,
) -> Found:
    """Records with a key in ``wanted`` from each topic's ``starts`` on (read_committed),
    until every wanted key is found and the topics are read to their end (or timeout)."""
    consumer = Consumer({"bootstrap.servers": boot, "group.id": reader_group(),
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    found = Found()
    try:
        consumer.assign([TopicPartition(t, p, o) for t, offs in starts.items()
                         for p, o in offs.items()])
        pending = {(t, p) for t, offs in starts.items() for p in offs}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (pending or len(found.first_ts) < len(wanted)):
            for msg in consumer.consume(1000, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((msg.topic(), msg.partition()))
                        continue
                    raise KafkaException(error)
                pending.add((str(msg.topic()), int(msg.partition() or 0)))  # more may follow
                if msg.key() in wanted:
                    found.add(msg.key(), msg.timestamp()[1])
    finally:
        consumer.close()
    return found


def wait_drained(boot: str, group: str, topic: str, ends: Offsets, timeout_s: float,
                 alive: Any = None) -> float:
    """Wait until ``group`` committed ``topic`` up to ``ends``; events/s by its commits:
    records committed / (drained − first time a commit moved), polled every 0.5 s (a cross-
    check of the output timestamps that other consumers of the raw topic cannot skew)."""
    consumer = Consumer({"bootstrap.servers": boot, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        deadline = time.monotonic() + timeout_s
        done: dict[int, int] = {}
        last_log = time.monotonic()
        first: tuple[float, int] | None = None
        while time.monotonic() < deadline:
            done = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
            now, total = time.monotonic(), sum(max(0, o) for o in done.values())
            if first is None:
                first = (now, total)
            elif first[1] == total:
                first = (now, total)  # nothing committed yet: the clock starts later
            if all(done[p] >= end for p, end in ends.items()):
                return (total - first[1]) / (now - first[0]) if now > first[0] else 0.0
            if alive is not None:
                alive()
            if time.monotonic() - last_log > 15:
                left = sum(max(0, end - done[p]) for p, end in ends.items())
                log(f"  {group}: {left} records left (load {load_text()})")
                last_log = time.monotonic()
            time.sleep(0.5)
        raise TimeoutError(f"{group} did not consume {topic} to {ends}: at {done}")
    finally:
        consumer.close()


# --- the worker ----------------------------------------------------------------------------


class Worker:
    """``python -m streams`` as a subprocess, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path, profile: Path | None = None) -> None:
        self.env, self.log_path, self.profile = env, log_path, profile
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        prof = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, *prof, "-m", "streams"], cwd=CODE, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"worker exited; log {self.log_path}:\n{self.tail()}")

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.alive()
            ready = self.log_path.read_text(errors="replace").count("STREAMS READY")
            if ready >= int(self.env.get("STREAMS_PROCESSES") or 1):  # one per process
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready; log {self.log_path}:\n{self.tail()}")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60 if self.profile else 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


WORKERS: list[Worker] = []


def worker_env(boot: str, url: str, dataset: str, app_id: str, tmp: Path, partitions: int,
               args: argparse.Namespace, processes: int = 1) -> dict[str, str]:
    """The worker's environment: defaults (exactly_once, rocksdb, enrichment on) except
    ``STREAMS_DATASETS``, ``STREAMS_LEGACY_AUDIT=false``, ``STREAMS_ALERTS`` (``--alerts``),
    ``STREAMS_PROCESSES`` and ``STREAMS_COMMIT_INTERVAL_S`` (``--commit-interval``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "CF_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=boot,
        SCHEMA_REGISTRY_URL=url,
        STREAMS_APP_ID=app_id,
        STREAMS_DATADIR=str(tmp / f"data-{app_id}"),
        STREAMS_STORE="rocksdb://",
        STREAMS_PROCESSING_GUARANTEE="exactly_once",
        STREAMS_DATASETS=dataset,
        STREAMS_LEGACY_AUDIT="false",
        STREAMS_SESSION_TIMEOUT_S="10",
        CFKAFKA_TOPIC_PARTITIONS=str(partitions),
        STREAMS_ALERTS="true" if args.alerts else "false",
        STREAMS_PROCESSES=str(processes),
        PYTHONUNBUFFERED="1",
    )
    if args.commit_interval is not None:
        env["STREAMS_COMMIT_INTERVAL_S"] = str(args.commit_interval)
    return env


def start_worker(env: dict[str, str], app_id: str, tmp: Path,
                 profile: Path | None = None) -> Worker:
    worker = Worker(env, tmp / f"worker-{app_id}.log", profile)
    WORKERS.append(worker)
    worker.start()
    return worker


# --- the bare confluent-kafka loop (child process) -----------------------------------------


def bare_loop(spec: Mapping[str, Any]) -> dict[str, Any]:
    """consume (read_committed) -> ``process`` -> produce, one transaction per interval."""
    from schemas.registry import registry_client
    from streams.codecs import connect
    from streams.dlq import DeadLetter
    from streams.pipeline import Output, process
    from streams.routing import DATASET

    boot, topic = spec["bootstrap"], spec["topic"]
    dataset = DATASET[spec["dataset"]]
    starts = {int(p): o for p, o in spec["starts"].items()}
    ends = {int(p): o for p, o in spec["ends"].items()}
    codecs = connect(registry_client(spec["registry"]))
    options = worker_options(spec["env"], codecs)
    consumer = Consumer({
        "bootstrap.servers": boot, "group.id": spec["group"], "enable.auto.commit": False,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
    })
    producer = Producer({
        "bootstrap.servers": boot, "transactional.id": spec["group"], "enable.idempotence": True,
        "acks": "all", "linger.ms": 5,
    })
    producer.init_transactions(30)
    consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
    table: dict[bytes, Any] = {}
    position = dict(starts)
    stats: dict[str, float] = {"received": 0, "sent": 0, "duplicates": 0, "dead_letters": 0,
                               "transactions": 0}
    commit_s, commit_n = float(spec["commit_s"]), int(spec["commit_n"])
    prefix = spec["prefix"]

    def commit() -> None:
        offsets = [TopicPartition(topic, p, o) for p, o in position.items()]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(60)
        stats["transactions"] += 1

    def send(out_topic: str, key: bytes | None, value: bytes | None, partition: int,
             headers: Any) -> None:
        while True:
            try:
                producer.produce(out_topic, key=key, value=value, partition=partition,
                                 headers=headers)
                return
            except BufferError:
                producer.poll(0.05)

    null = bool(spec.get("null"))
    null_topic = ""
    null_value: bytes | None = None
    t0 = time.monotonic()
    producer.begin_transaction()
    pending, last_commit = 0, time.monotonic()
    while any(position[p] < end for p, end in ends.items()):
        for msg in consumer.consume(1000, 0.2):
            if msg.error() is not None:
                raise KafkaException(msg.error())
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None or offset >= ends[partition]:
                continue
            key = msg.key()
            headers = dict(cast("list[tuple[str, bytes]]", msg.headers() or []))
            if null and key is not None:  # the Kafka work alone: no transform
                if key not in table:
                    if null_value is None:  # one real output's bytes, sent for every key
                        first = process(key, msg.value(), headers, {}, codecs, dataset,
                                        options=options)
                        if not isinstance(first, Output):
                            raise RuntimeError(f"--null: no output for the first record: {first}")
                        null_topic, null_value = first.sends[0].topic, first.sends[0].value
                    table[key] = 1
                    send(prefix + null_topic, key, null_value, partition, None)
                    stats["sent"] += 1
                else:
                    stats["duplicates"] += 1
                stats["received"] += 1
                position[partition] = offset + 1
                pending += 1
                continue
            outcome = process(key, msg.value(), headers, table, codecs, dataset, options=options)
            stats["received"] += 1
            if isinstance(outcome, Output):
                table[outcome.key] = int(time.time())
                for item in outcome.sends:
                    send(prefix + item.topic, outcome.key, item.value, partition,
                         list(item.headers) or None)
                stats["sent"] += 1
            elif isinstance(outcome, DeadLetter):
                send(prefix + "cloudflare.dlq.v1", key, msg.value(), partition, None)
                stats["dead_letters"] += 1
            else:
                stats["duplicates"] += 1
            position[partition] = offset + 1
            pending += 1
        producer.poll(0)
        if pending and (pending >= commit_n or time.monotonic() - last_commit >= commit_s):
            commit()
            producer.begin_transaction()
            pending, last_commit = 0, time.monotonic()
    commit()
    stats["wall_s"] = time.monotonic() - t0
    consumer.close()
    return stats


def worker_options(env: Mapping[str, str], codecs: Any = None) -> Any:
    """The ``Options`` the worker builds from ``env`` (``streams.app.options``, with the
    native transforms when given ``codecs``; the enricher's roster stays empty: the
    worker's is fed from the roster topics)."""
    from streams.app import options
    from streams.enrich import Roster
    from streams.settings import Settings

    return options(Settings.from_env(env), Roster(), codecs)


def bare_child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if spec.get("profile"):
        profiler = cProfile.Profile()
        stats = profiler.runcall(bare_loop, spec)
        profiler.dump_stats(spec["profile"])
    else:
        stats = bare_loop(spec)
    stats["cpu_s"] = cpu_seconds(os.getpid())
    print("BARE " + json.dumps(stats), flush=True)


def run_bare(boot: str, url: str, dataset: str, starts: Offsets, ends: Offsets, tmp: Path,
             args: argparse.Namespace, env: Mapping[str, str],
             profile: Path | None = None, null: bool = False) -> dict[str, Any]:
    group = f"streams-bench-bare-{secrets.token_hex(4)}"
    spec = {"bootstrap": boot, "registry": url, "dataset": dataset,
            "topic": f"cloudflare.{dataset}.v1", "group": group, "starts": starts,
            "ends": ends, "commit_s": args.bare_commit_s, "commit_n": args.bare_commit_n,
            "prefix": BARE_PREFIX, "profile": str(profile) if profile else None,
            "null": null,
            "env": {k: v for k, v in env.items() if k.startswith(("STREAMS_", "CFKAFKA_"))}}
    spec_path = tmp / f"{group}.json"
    spec_path.write_text(json.dumps(spec))
    log_path = tmp / f"{group}.log"
    with log_path.open("wb") as out:
        done = subprocess.run([sys.executable, __file__, "--bare-child", str(spec_path)],
                              cwd=ROOT, env={**os.environ, "STREAMS_BENCH_CODE": str(CODE)},
                              stdout=subprocess.PIPE, stderr=out, check=False,
                              timeout=args.timeout)
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("BARE ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bare loop failed ({done.returncode}); log {log_path}:\n"
                           + log_path.read_text(errors="replace")[-3000:])
    result: dict[str, Any] = json.loads(lines[-1][5:])
    return result


# --- phases --------------------------------------------------------------------------------


@dataclass
class Throughput:
    raw: int
    distinct: int
    found: int
    duplicated_outputs: int
    span_s: float
    cpu_s: float = 0.0
    commit_rate: float | None = None

    @property
    def rate(self) -> float:
        return self.raw / self.span_s if self.span_s > 0 else 0.0


def throughput_of(found: Found, raw: int, distinct: int, cpu_s: float) -> Throughput:
    stamps = list(found.first_ts.values())
    span = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0.0
    dup_out = sum(1 for n in found.counts.values() if n > 1)
    return Throughput(raw, distinct, len(stamps), dup_out, span, cpu_s)


@dataclass
class Latency:
    target: float
    produced: int
    received: int
    rate: float
    e2e_ms: list[float]
    send_ms: list[float]


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def latency_phase(boot: str, messages: list[Raw], rate: float, worker: Worker,
                  drain_s: float, raw_idempotent: bool = False) -> Latency:  # noqa: FBT001
    """Produce ``messages`` at ``rate``/s (timestamp = send time) while reading the SIEM topic."""
    raw_topic, siem = "cloudflare.http_requests.v1", SIEM_TOPICS["http_requests"][0]
    sent_ms: dict[bytes, int] = {}
    consumer = Consumer({"bootstrap.servers": boot, "group.id": reader_group(),
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(siem, p, o) for p, o in end_offsets(boot, siem).items()])
    consumer.consume(1, 1.0)  # connect before the clock starts
    # acks=all without idempotence: an idempotent producer alone shows stalls of up to
    # ~0.5 s on this stack (p99 315 ms at 100 ev/s producer -> consumer, no worker; 17 ms
    # without idempotence), which would be counted against the worker (``--raw-idempotent``)
    producer = Producer({"bootstrap.servers": boot, "partitioner": "murmur2_random",
                         "enable.idempotence": raw_idempotent, "acks": "all",
                         "linger.ms": 5})
    done = threading.Event()
    elapsed: list[float] = []

    def pace() -> None:
        t0, i = time.monotonic(), 0
        while i < len(messages):
            due = min(len(messages), int((time.monotonic() - t0) * rate) + 1)
            while i < due:
                key, value, headers = messages[i]
                now_ms = int(time.time() * 1000)
                sent_ms[key] = now_ms
                producer.produce(raw_topic, key=key, value=value, headers=headers,
                                 timestamp=now_ms)
                i += 1
            producer.poll(0)
            time.sleep(0.002)
        elapsed.append(time.monotonic() - t0)
        producer.flush(60)
        done.set()

    thread = threading.Thread(target=pace, daemon=True)
    thread.start()
    e2e: list[float] = []
    send: list[float] = []
    seen: set[bytes] = set()
    deadline: float | None = None
    while len(seen) < len(messages):
        if done.is_set() and deadline is None:
            deadline = time.monotonic() + drain_s
        if deadline is not None and time.monotonic() > deadline:
            break
        # ``consume(n, t)`` waits t for n records: t is added to measurements at low rates,
        # and t = 0 would spin a core the worker needs; 10 ms is both small and cheap
        batch = consumer.consume(500, 0.01)
        recv_ms = time.time() * 1000
        for msg in batch:
            key = msg.key()
            if msg.error() is not None or key not in sent_ms or key in seen:
                continue
            seen.add(key)
            e2e.append(recv_ms - sent_ms[key])
            send.append(msg.timestamp()[1] - sent_ms[key])
        worker.alive()
    thread.join(5)
    consumer.close()
    achieved = len(messages) / elapsed[0] if elapsed else 0.0
    return Latency(rate, len(messages), len(seen), achieved, e2e, send)


@dataclass
class Result:
    dataset: str
    worker: Throughput | None = None
    bare: Throughput | None = None
    bare_stats: dict[str, Any] = field(default_factory=dict)
    #: the bare loop with one fixed output instead of the transform (``--null-ceiling``)
    null: Throughput | None = None
    latencies: list[Latency] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def latency(self) -> Latency | None:
        """The latency at the highest rate measured."""
        return max(self.latencies, key=lambda lat: lat.target, default=None)


def bench_dataset(boot: str, url: str, dataset: str, n: int, tmp: Path, run: str,
                  args: argparse.Namespace) -> Result:
    result = Result(dataset, loads=[load_text()])
    raw_topic = f"cloudflare.{dataset}.v1"
    partitions = len(end_offsets(boot, raw_topic)) if raw_topic_exists(boot, raw_topic) \
        else args.partitions
    siem = SIEM_TOPICS[dataset]
    ensure_topics(boot, [raw_topic, *siem, *(BARE_PREFIX + t for t in siem),
                         BARE_PREFIX + "cloudflare.dlq.v1"], partitions)
    deadline = time.monotonic() + args.wait_others_s
    while (others := other_consumers(boot, raw_topic, "")) and time.monotonic() < deadline:
        log(f"{dataset}: waiting for other consumers of {raw_topic} to leave: "
            f"{', '.join(sorted(others))}")
        time.sleep(10)
    dups = int(n * args.dup_rate)
    log(f"{dataset}: building {n} raw records ({dups} duplicates)...")
    messages, keys = raw_records(dataset, url, run, n - dups, dups, args.seed)
    starts = end_offsets(boot, raw_topic)
    siem_starts = {t: end_offsets(boot, t) for t in siem}
    bare_starts = {BARE_PREFIX + t: end_offsets(boot, BARE_PREFIX + t) for t in siem}
    log(f"{dataset}: producing {len(messages)} records to {raw_topic}...")
    produce_all(boot, raw_topic, messages)
    ends = end_offsets(boot, raw_topic)
    raw_count = sum(ends[p] - starts[p] for p in ends)
    if raw_count != len(messages):
        log(f"{dataset}: note: {raw_count - len(messages)} records from elsewhere in the range")

    app_id = f"streams-bench-{dataset.replace('_', '-')}-{run}"
    commit_offsets(boot, app_id, raw_topic, starts)
    log(f"{dataset}: starting worker {app_id} (load {load_text()})...")
    env = worker_env(boot, url, dataset, app_id, tmp, partitions, args, args.processes)
    worker = start_worker(env, app_id, tmp)
    try:
        worker.wait_ready()
        cpu0 = worker.cpu()
        log(f"{dataset}: worker ready; draining {raw_count} records...")
        others = other_consumers(boot, raw_topic, app_id)
        commit_rate = wait_drained(boot, app_id, raw_topic, ends, args.timeout, worker.alive)
        cpu = worker.cpu() - cpu0
        others |= other_consumers(boot, raw_topic, app_id)
        result.loads.append(load_text())
        found = read_outputs(boot, siem_starts, keys)
        result.worker = throughput_of(found, raw_count, len(keys), cpu)
        result.worker.commit_rate = commit_rate
        if others:
            result.warnings.append(
                f"other consumer groups read {raw_topic} meanwhile ({', '.join(sorted(others))})"
                ": they compete for CPU, and their copies of this run's outputs in the SIEM "
                "topic can skew the output-timestamp rate and the latency")
        log(f"{dataset}: worker {result.worker.rate:,.0f} ev/s ({result.worker.found}/"
            f"{len(keys)} keys out, CPU {cpu:.1f} s, load {load_text()})")
        if dataset == "http_requests" and not args.no_latency:
            others = other_consumers(boot, raw_topic, app_id)
            for k, rate in enumerate(args.rate):
                total = int(rate * args.duration)
                lat_messages, _ = raw_records(dataset, url, run, total, 0, args.seed + 1 + k,
                                              tag=f"l{k}")
                log(f"{dataset}: latency: {total} records at {rate:,.0f}/s...")
                lat = latency_phase(boot, lat_messages, rate, worker, args.latency_drain_s,
                                    args.raw_idempotent)
                result.latencies.append(lat)
                others |= other_consumers(boot, raw_topic, app_id)
                result.loads.append(load_text())
                log(f"{dataset}: latency at {rate:,.0f}/s: {lat.received}/{lat.produced} "
                    f"received, e2e p99 {percentile(lat.e2e_ms, 99):,.0f} ms")
            if others:
                result.warnings.append(f"latency: other consumer groups read {raw_topic} "
                                       f"meanwhile ({', '.join(sorted(others))})")
    finally:
        worker.stop()
        if worker.proc is not None:
            log(f"{dataset}: worker stopped (exit {worker.proc.returncode})")

    if not args.no_bare:
        log(f"{dataset}: bare confluent-kafka loop over the same {raw_count} records...")
        stats = run_bare(boot, url, dataset, starts, ends, tmp, args, env)
        found = read_outputs(boot, bare_starts, keys)
        result.bare = throughput_of(found, raw_count, len(keys), float(stats["cpu_s"]))
        result.bare_stats = stats
        result.loads.append(load_text())
        log(f"{dataset}: bare {result.bare.rate:,.0f} ev/s ({stats})")
    if args.null_ceiling:
        log(f"{dataset}: the bare loop without the transform (--null-ceiling)...")
        null_starts = {t: end_offsets(boot, t) for t in bare_starts}
        stats = run_bare(boot, url, dataset, starts, ends, tmp, args, env, null=True)
        found = read_outputs(boot, null_starts, keys)
        result.null = throughput_of(found, raw_count, len(keys), float(stats["cpu_s"]))
        result.loads.append(load_text())
        log(f"{dataset}: no transform {result.null.rate:,.0f} ev/s ({stats})")
    if args.profile and dataset == "http_requests":
        share = max(1, args.profile_events // len(starts))
        part_ends = {p: min(ends[p], starts[p] + share) for p in starts}
        events = sum(part_ends[p] - starts[p] for p in starts)
        if not args.no_bare:
            prof = tmp / f"bare-{dataset}.prof"
            log(f"{dataset}: bare loop under cProfile over {events} records...")
            run_bare(boot, url, dataset, starts, part_ends, tmp, args, env, profile=prof)
            result.profiles.append(profile_text(prof, events, "the bare loop"))
        prof = tmp / f"worker-{dataset}.prof"
        app_id = f"{app_id}-prof"
        commit_offsets(boot, app_id, raw_topic, starts)
        log(f"{dataset}: worker under cProfile over {events} records...")
        env = worker_env(boot, url, dataset, app_id, tmp, partitions, args)
        worker = start_worker(env, app_id, tmp, profile=prof)
        try:
            worker.wait_ready(600)
            wait_drained(boot, app_id, raw_topic, part_ends, args.timeout, worker.alive)
        finally:
            worker.stop()
        if prof.exists():
            result.profiles.append(profile_text(prof, events, "the worker (incl. start-up)"))
        else:
            log(f"{dataset}: no worker profile written; log {worker.log_path}")
    return result


def other_consumers(boot: str, topic: str, mine: str) -> set[str]:
    """Consumer groups other than ``mine`` with a member assigned part of ``topic`` now."""
    admin = AdminClient({"bootstrap.servers": boot, "log_level": 5})
    try:
        listed = admin.list_consumer_groups(request_timeout=10).result()
        ids = [g.group_id for g in listed.valid if g.group_id != mine]
        if not ids:
            return set()
        found = set()
        for group_id, future in admin.describe_consumer_groups(ids, request_timeout=10).items():
            try:
                group = future.result()
            except KafkaException:
                continue
            for member in group.members:
                assignment = member.assignment
                if assignment and any(tp.topic == topic for tp in assignment.topic_partitions):
                    found.add(group_id)
        return found
    except KafkaException as exc:
        log(f"could not list consumer groups: {exc}")
        return set()


def raw_topic_exists(boot: str, topic: str) -> bool:
    return topic in AdminClient({"bootstrap.servers": boot}).list_topics(timeout=30).topics


# --- report --------------------------------------------------------------------------------


KAFKA_NAMES = ("consume", "produce", "poll", "commit_transaction", "send_offsets_to_transaction",
               "begin_transaction", "flush", "init_transactions")
IDLE_NAMES = ("poll of 'select.epoll'", "select.epoll", "method 'poll' of 'select", "sleep")


def _group(file: str, name: str) -> str:
    """Where a function's own time is spent, by package."""
    if file == "~":
        if "cimpl" in name:
            return "confluent-kafka (librdkafka calls)"
        if "epoll" in name or "select" in name or "sleep" in name:
            return "idle (event loop wait)"
        if "rocksdict" in name or "Rdict" in name:
            return "rocksdict"
        return "builtins (isinstance, json C, dict ops...)"
    parts = Path(file).parts
    for package in ("ocsf", "enrich"):
        if "streams" in parts and package in parts:
            return f"streams/{package} (normalize/enrich)"
    for package in ("streams", "schemas", "fastavro", "json",
                    "asyncio", "confluent_kafka", "rocksdict", "kafka", "logging"):
        if package in parts:
            return package
    return "other"


def profile_text(path: Path, events: int, what: str) -> str:
    stats = pstats.Stats(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in table.values())
    process = [(nc, ct) for (file, _, name), (_, nc, _, ct, _) in table.items()
               if name == "process" and file.endswith("streams/pipeline.py")]
    process_ct = sum(ct for _, ct in process)
    events = sum(nc for nc, _ in process) or events  # the worker may take a few more
    groups: dict[str, float] = {}
    for (file, _, name), (_, _, tt, _, _) in table.items():
        key = _group(file, name)
        groups[key] = groups.get(key, 0.0) + tt
    idle = groups.get("idle (event loop wait)", 0.0)
    busy = total - idle
    lines = [f"### cProfile of {what}: {events:,} raw http_requests records", "",
             f"profiled time {total:.1f} s, of which idle {idle:.1f} s; busy "
             f"{busy / events * 1e6:,.0f} µs/event; `pipeline.process` (cumulative) "
             f"{process_ct / events * 1e6:,.0f} µs/event = {process_ct / busy:.0%} of busy",
             "", "| own time by package | µs/event | share of busy |", "|---|--:|--:|"]
    for key, tt in sorted(groups.items(), key=lambda item: -item[1]):
        if key != "idle (event loop wait)" and tt / busy >= 0.005:
            lines.append(f"| {key} | {tt / events * 1e6:,.0f} | {tt / busy:.0%} |")
    lines += ["", "| function | calls | own µs/event | cumulative µs/event |", "|---|--:|--:|--:|"]
    top = int(os.environ.get("BENCH_PROFILE_TOP", "15"))
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (file, line, name), (_, nc, tt, ct, _) in rows:
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line} {name}"
        lines.append(f"| `{where}` | {nc:,} | {tt / events * 1e6:,.1f} | "
                     f"{ct / events * 1e6:,.1f} |")
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "–" if value is None or value != value else format(value, spec)  # noqa: PLR0124


def print_report(results: list[Result], args: argparse.Namespace, wall: float) -> None:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"machine: {os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"run: {wall:.0f} s; dup rate {args.dup_rate:.0%}; worker exactly_once + rocksdb, "
          f"legacy audit off, enrichment on, alerts {'on' if args.alerts else 'off'}; "
          f"bare commit every {args.bare_commit_s:g} s / "
          f"{args.bare_commit_n:,} records\n")
    print("| dataset | raw records | worker ev/s | worker ev/s (commits) | bare ev/s "
          "| worker/bare | worker CPU s | bare CPU s | e2e p50 ms | e2e p95 ms | e2e p99 ms |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        w, b, lat = r.worker, r.bare, r.latency
        ratio = w.rate / b.rate if w and b and b.rate else None
        e2e = lat.e2e_ms if lat else []
        print(f"| {r.dataset} | {fmt(w.raw if w else None)} | {fmt(w.rate if w else None)} "
              f"| {fmt(w.commit_rate if w else None)} | {fmt(b.rate if b else None)} "
              f"| {fmt(ratio, '.2f')} "
              f"| {fmt(w.cpu_s if w else None, '.1f')} | {fmt(b.cpu_s if b else None, '.1f')} "
              f"| {fmt(percentile(e2e, 50) if lat else None)} "
              f"| {fmt(percentile(e2e, 95) if lat else None)} "
              f"| {fmt(percentile(e2e, 99) if lat else None)} |")
    print()
    for r in results:
        for name, t in (("worker", r.worker), ("bare", r.bare),
                        ("bare without the transform (--null-ceiling)", r.null)):
            if t is None:
                continue
            ok = "ok" if t.found == t.distinct and not t.duplicated_outputs else "MISMATCH"
            print(f"- {r.dataset} {name}: {t.found:,}/{t.distinct:,} distinct keys out, "
                  f"{t.duplicated_outputs} keys out more than once ({ok}); first→last "
                  f"output {t.span_s:.2f} s; {t.raw / t.cpu_s if t.cpu_s else 0:,.0f} "
                  f"events per CPU second"
                  + (f"; by committed offsets {t.commit_rate:,.0f} ev/s"
                     if t.commit_rate is not None else ""))
        for lat in r.latencies:
            print(f"- {r.dataset} latency at {lat.target:,.0f} ev/s: {lat.received:,}/"
                  f"{lat.produced:,} received, {lat.rate:,.0f} ev/s produced; "
                  f"consumer receive − raw timestamp "
                  f"(end to end, read_committed) p50/p95/p99/max "
                  f"{percentile(lat.e2e_ms, 50):.0f}/{percentile(lat.e2e_ms, 95):.0f}/"
                  f"{percentile(lat.e2e_ms, 99):.0f}/{max(lat.e2e_ms, default=0):.0f} ms; "
                  f"SIEM CreateTime − raw timestamp (worker send, before commit) "
                  f"{percentile(lat.send_ms, 50):.0f}/{percentile(lat.send_ms, 95):.0f}/"
                  f"{percentile(lat.send_ms, 99):.0f}/{max(lat.send_ms, default=0):.0f} ms")
        print(f"- {r.dataset} load average (1/5/15 min) before → after phases: "
              + " → ".join(r.loads))
        for warning in r.warnings:
            print(f"- WARNING {r.dataset}: {warning}")
    targets = [r for r in results if r.dataset == "http_requests"]
    for r in results:
        for text in r.profiles:
            print("\n" + text)
    if targets:
        r = targets[0]
        if r.worker:
            met = "met" if r.worker.rate >= 20_000 else "NOT met"
            print(f"\ntarget ≥ 20,000 http_requests ev/s per worker: {met} "
                  f"({r.worker.rate:,.0f})")
        if r.latency:
            p99 = percentile(r.latency.e2e_ms, 99)
            if r.latency.received < r.latency.produced:
                p99 = float("inf")
            print(f"target p99 < 250 ms at {r.latency.target:,.0f} ev/s: "
                  f"{'met' if p99 < 250 else 'NOT met'} ({percentile(r.latency.e2e_ms, 99):.0f}"
                  f" ms over {r.latency.received:,}/{r.latency.produced:,} received)")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--datasets", nargs="+", default=list(SIEM_TOPICS),
                        choices=list(SIEM_TOPICS))
    parser.add_argument("--events-http", type=int, default=DEFAULT_EVENTS["http_requests"],
                        help="raw http_requests records incl. duplicates (default 50,000)")
    parser.add_argument("--events-access", type=int, default=DEFAULT_EVENTS["access_requests"],
                        help="raw access_requests records incl. duplicates (default 20,000)")
    parser.add_argument("--dup-rate", type=float, default=0.05)
    parser.add_argument("--rate", type=float, nargs="+", default=[2000.0],
                        help="latency phase events/s (several: one phase each, in order)")
    parser.add_argument("--latency-drain-s", type=float, default=300.0,
                        help="how long to wait for the outputs after the last send")
    parser.add_argument("--duration", type=float, default=30.0, help="latency phase seconds")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--alerts", action="store_true",
                        help="run the alert rules too (STREAMS_ALERTS; off: dedup, normalize, "
                             "enrich, route only)")
    parser.add_argument("--commit-interval", type=float, default=None,
                        help="the worker's STREAMS_COMMIT_INTERVAL_S (default: its default)")
    parser.add_argument("--processes", type=int, default=1,
                        help="the worker's STREAMS_PROCESSES (worker processes)")
    parser.add_argument("--raw-idempotent", action="store_true",
                        help="latency phase: produce the raw records with an idempotent"
                             " producer (as the connector does; adds its stalls)")
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--null-ceiling", action="store_true",
                        help="also run the bare loop without the transform (one real output's "
                             "bytes for every key): the Kafka work alone on this machine")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the bare loop and the worker (http_requests), extra passes")
    parser.add_argument("--profile-events", type=int, default=5000,
                        help="raw records the profiled passes process")
    parser.add_argument("--bare-commit-s", type=float, default=1.0)
    parser.add_argument("--bare-commit-n", type=int, default=10_000)
    parser.add_argument("--partitions", type=int,
                        default=int(os.environ.get("CFKAFKA_TOPIC_PARTITIONS") or 3),
                        help="partitions of topics the bench creates (raw topic missing)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, seconds")
    parser.add_argument("--wait-others-s", type=float, default=300.0,
                        help="wait up to this long for other consumers of a raw topic "
                             "(e.g. e2e tests' workers) to leave before a dataset's phases")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (worker logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "--bare-child":
        bare_child(argv[1])
        return 0
    args = parse_args(argv)
    boot, url = environment()
    tmp = Path(tempfile.mkdtemp(prefix="streams-bench-"))
    run = secrets.token_hex(4)
    log(f"run {run}; logs in {tmp}; {os.cpu_count()} CPUs, load {load_text()}")
    counts = {"http_requests": args.events_http, "access_requests": args.events_access}

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    global CODE  # noqa: PLW0603 - set once, before any worker or bare loop starts
    code_before = code_state()
    CODE = snapshot_code(tmp)
    sys.path.insert(0, str(CODE))
    results: list[Result] = []
    ok = False
    try:
        for dataset in args.datasets:
            results.append(bench_dataset(boot, url, dataset, counts[dataset], tmp, run, args))
        ok = True
    finally:
        for worker in WORKERS:
            worker.stop()
        if not ok:
            log(f"FAILED; worker and bare-loop logs kept in {tmp}")
        elif not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"logs kept in {tmp}")
    code_after = code_state()
    print_report(results, args, time.monotonic() - t0)
    newest = max(code_before, key=lambda f: code_before[f])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(code_before[newest]))
    print(f"\ncode: streams/ and schemas/ as copied at the start (newest file {newest}, "
          f"{stamp}); every phase ran that copy")
    changed = sorted(f for f in code_after.keys() | code_before.keys()
                     if code_after.get(f) != code_before.get(f))
    if changed:
        print(f"note: changed in the tree during the run (not measured): {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
