"""Benchmark: Logpull http_requests from the simulator to Kafka, end to end, events/s.

Usage: ``python bench/logpull_bench.py [--lines N | --quick] [--fields all|subset]
[--gzip-level L] [--profile]``

Starts a LocalStack (real Kafka 4 + Apicurio; or uses ``KAFKA_BOOTSTRAP_SERVERS`` and
``SCHEMA_REGISTRY_URL`` when both are set), registers the schemas and creates the topics
like ``cfkafka run``, starts the Cloudflare simulator as a separate process (``python -m
sim``) with a Logpull rate such that one 10-minute window holds N lines, then runs each
stage in a fresh child process (so every peak RSS is that stage's own) on the same window:

- ``stream``:    the connector's ``CloudflareClient.stream_lines`` only (HTTP + gunzip + split)
- ``parse``:     stream + ``fastencode.loads_line`` (guarded orjson), no encode, no Kafka
- ``connector``: the real ``WindowRunner.fetch`` built by ``jobs._zone_job`` (CompiledLineCodec,
                 TransactionalPublisher, KafkaCheckpointStore), one transaction with its
                 checkpoint, timed from the request to the returned commit
- ``ceiling``:   stream + encode with the same codec, kept in memory (that part is the
                 "stream + parse + encode, no Kafka" row), then, timed separately, the same
                 records produced by confluent-kafka with ``publisher.producer_conf``
                 (transactional, idempotent, acks=all, murmur2_random, linger 20 ms) in one
                 transaction, committed

Peak RSS is ``VmHWM`` of the child (``/proc/self/status``). CPU seconds of the child, the
simulator and the broker are read from ``/proc/<pid>/stat`` around each timed section.
Progress goes to stderr, the Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOW_S = 600  # one 10-minute window (Logpull: <= 1 h, >= 1 min old, < 7 days old)
TOPIC = "cloudflare.http_requests.v1"
# A realistic SIEM field list: 55 fields (bench/encode_bench.py's 71 minus 16 rarely used).
SUBSET = (
    "RayID", "EdgeStartTimestamp", "EdgeEndTimestamp", "ClientIP", "ClientASN", "ClientCountry",
    "ClientCity", "ClientDeviceType", "ClientIPClass", "ClientRequestBytes", "ClientRequestHost",
    "ClientRequestMethod", "ClientRequestPath", "ClientRequestProtocol", "ClientRequestReferer",
    "ClientRequestScheme", "ClientRequestSource", "ClientRequestURI", "ClientRequestUserAgent",
    "ClientSSLCipher", "ClientSSLProtocol", "ClientSrcPort", "ClientTCPRTTMs", "BotScore",
    "BotScoreSrc", "BotTags", "BotDetectionIDs", "JA3Hash", "JA4", "JA4Signals",
    "CacheCacheStatus", "CacheResponseBytes", "EdgeColoCode", "EdgeColoID", "EdgeRequestHost",
    "EdgeResponseBodyBytes", "EdgeResponseBytes", "EdgeResponseCompressionRatio",
    "EdgeResponseContentType", "EdgeResponseStatus", "EdgeServerIP", "EdgeTimeToFirstByteMs",
    "OriginIP", "OriginResponseStatus", "OriginResponseDurationMs", "OriginSSLProtocol",
    "SecurityAction", "SecurityActions", "SecurityRuleID", "SecurityRuleIDs", "SecuritySources",
    "WAFAttackScore", "WAFSQLiAttackScore", "WAFXSSAttackScore", "ZoneName",
)
_TICK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` (all threads), seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def vm_kib(key: str, pid: str = "self") -> int:
    """A ``/proc/<pid>/status`` value in KiB (VmHWM = peak RSS, VmRSS = current RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------ child


def _env(spec: dict[str, Any]) -> dict[str, str]:
    env = {
        "CF_API_TOKEN": spec["token"], "CF_ACCOUNT_ID": spec["account_id"],
        "CF_ZONE_IDS": spec["zone_id"], "CF_FEEDS": "http_requests",
        "CF_API_BASE_URL": spec["api_base"], "KAFKA_BOOTSTRAP_SERVERS": spec["bootstrap"],
        "SCHEMA_REGISTRY_URL": spec["registry"], "CFKAFKA_CONNECTOR_NAME": "bench",
        "CFKAFKA_TRANSACTION_TIMEOUT_S": str(spec["txn_timeout_s"]),
    }
    if spec["fields"]:
        env["CF_LOGPULL_FIELDS"] = ",".join(spec["fields"])
    return env


class Meter:
    """Wall time and CPU seconds of this process, the simulator and the broker."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.pids = {"self": os.getpid(), "sim": spec["sim_pid"], "broker": spec["broker_pid"]}

    def __enter__(self) -> Meter:
        self.cpu0 = {k: cpu_s(p) if p else 0.0 for k, p in self.pids.items()}
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = {k: (cpu_s(p) if p else 0.0) - self.cpu0[k] for k, p in self.pids.items()}

    def result(self, count: int, nbytes: int) -> dict[str, Any]:
        return {"wall": self.wall, "count": count, "bytes": nbytes, "cpu": self.cpu}


async def _child(stage: str, spec: dict[str, Any], profile: bool = False) -> dict[str, Any]:
    import schemas
    from connector.checkpoints import KafkaCheckpointStore
    from connector.client import CloudflareClient
    from connector.feeds.http_requests import HttpRequests
    from connector.jobs import jobs_from, settings_kafka_conf
    from connector.lines import CompiledLineCodec
    from connector.publisher import TransactionalPublisher, producer_conf
    from connector.settings import Settings
    from connector.windows import Window
    from schemas.registry import Encoder

    settings = Settings.from_env(_env(spec))
    job = jobs_from(settings)[0]
    client = CloudflareClient(settings.api_base_url, settings.credentials,
                              timeout_s=settings.http_timeout_s)
    await job.probe(client)  # GET .../fields: the field list the runner will request
    fields: list[str] = job.state["fields"]
    window = Window(datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"]))
    kafka_conf = settings_kafka_conf(settings)
    schema_ids = {k: int(v) for k, v in spec["schema_ids"].items()}
    feed = HttpRequests()
    out: dict[str, Any] = {"fields": len(fields), "rss_start_kib": vm_kib("VmRSS")}
    meter = Meter(spec)

    async def lines() -> Any:
        params = feed.params(window, fields, dict(settings.logpull_options))
        async for line in client.stream_lines(feed.url(spec["zone_id"]), params):
            yield line

    if stage == "stream":
        n = nbytes = 0
        with meter:
            async for line in lines():
                n += 1
                nbytes += len(line) + 1
        out["timed"] = meter.result(n, nbytes)
    elif stage == "parse":
        from connector.fastencode import loads_line

        n = nbytes = 0
        with meter:
            async for line in lines():
                loads_line(line)
                n += 1
                nbytes += len(line) + 1
        out["timed"] = meter.result(n, nbytes)
    elif stage == "connector":
        publisher = TransactionalPublisher(kafka_conf, f"bench-connector-{uuid.uuid4().hex[:8]}",
                                           timeout_s=settings.transaction_timeout_s)
        store = KafkaCheckpointStore(kafka_conf)
        runner: Any = job.make_runner(client=client, publisher=publisher, store=store,
                                      schema_ids=schema_ids, stop=asyncio.Event())
        await runner.start()  # init_transactions + checkpoint load: not timed
        out["rss_before_fetch_kib"] = vm_kib("VmRSS")
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        with meter:
            n = await runner.fetch(window)
        if profiler is not None:
            out["profile"] = profile_summary(profiler.stop())
        out["timed"] = meter.result(n, spec["ndjson_bytes"])
        publisher.close()
    elif stage == "ceiling":
        encoder = Encoder(schema_ids[TOPIC], schemas.load(feed.schema))
        codec = CompiledLineCodec(encoder, feed.schema, feed.key_field, feed.json_fields,
                                  expected=fields)
        keys: list[bytes] = []
        values: list[bytes] = []
        kappend, vappend = keys.append, values.append
        nbytes = 0
        with meter:
            async for line in lines():
                key, value = codec(line)
                kappend(key)
                vappend(value)
                nbytes += len(line) + 1
        out["encode"] = meter.result(len(values), nbytes)
        out["avro_bytes"] = sum(map(len, values))
        out["ceiling"] = _ceiling(spec, producer_conf(kafka_conf, f"bench-ceiling-"
                                                      f"{uuid.uuid4().hex[:8]}",
                                                      settings.transaction_timeout_s),
                                  keys, values, feed, meter)
        out["ceiling"]["bytes"] = nbytes
    await client.aclose()
    out["peak_rss_kib"] = vm_kib("VmHWM")
    return out


def _ceiling(spec: dict[str, Any], conf: dict[str, Any], keys: list[bytes],
             values: list[bytes], feed: Any, meter: Meter) -> dict[str, Any]:
    """Produce pre-encoded records in one transaction with the connector's producer settings."""
    from confluent_kafka import Producer

    from connector.checkpoints import OFFSETS_TOPIC, partition_key

    producer = Producer(conf)
    producer.init_transactions(60)  # not timed (the connector's start() is not timed either)
    scope = f"zone:{spec['zone_id']}"
    headers = [("cf.feed", feed.name.encode()), ("cf.scope", scope.encode())]
    produce, poll = producer.produce, producer.poll
    with meter:
        producer.begin_transaction()
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            while True:
                try:
                    produce(TOPIC, value=value, key=key, headers=headers)
                    break
                except BufferError:
                    poll(0.1)
            if not i & 1023:
                poll(0)
        produce(OFFSETS_TOPIC, key=partition_key(feed.partition(spec["zone_id"])),
                value=json.dumps({"window_end": spec["end"]}).encode())
        producer.commit_transaction(spec["txn_timeout_s"])
    producer.flush(0)
    return meter.result(len(values), 0)


def profile_summary(session: Any, top: int = 20) -> dict[str, Any]:
    """Flat self time (leaf samples, by function) and inclusive time (once per stack)."""
    self_t: dict[str, float] = {}
    incl: dict[str, float] = {}
    stack: list[tuple[Any, Any, frozenset[str]]] = [(session.root_frame(), None, frozenset())]
    while stack:
        frame, parent, above = stack.pop()
        if frame is None:
            continue
        synthetic = frame.function.startswith("[")
        owner = parent if synthetic and parent is not None else frame
        name = f"{owner.function} ({owner.file_path_short}:{owner.line_no})"
        if not frame.children:
            self_t[name] = self_t.get(name, 0.0) + frame.time
        if not synthetic and name not in above:  # recursion counted once
            incl[name] = incl.get(name, 0.0) + frame.time
        stack.extend((child, frame, above | {name}) for child in frame.children)
    return {
        "duration": session.duration,
        "self": sorted(self_t.items(), key=lambda kv: -kv[1])[:top],
        "inclusive": sorted(incl.items(), key=lambda kv: -kv[1])[:top * 2],
    }


def child_main(stage: str, spec_path: str, profile: bool) -> int:
    spec = json.loads(Path(spec_path).read_text())
    out = asyncio.run(_child(stage, spec, profile))
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# ------------------------------------------------------------------------------ parent


class Procs:
    """Children of this run, stopped on exit (also on Ctrl-C)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def add(self, proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start_sim(procs: Procs, args: argparse.Namespace, zone_id: str, rps: float,
              log_path: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "sim", "--port", "0", "--zone-id", zone_id,
           "--logpull-rps", f"{rps:.6f}", "--logpull-gzip-level", str(args.gzip_level),
           "--logpull-zone-rate-limit", "1000"]
    proc = procs.add(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=log_path.open("w"), text=True))
    assert proc.stdout is not None  # noqa: S101
    line = proc.stdout.readline()
    if not line.startswith("SIM READY "):
        msg = f"simulator did not start: {line!r} (log {log_path})"
        raise RuntimeError(msg)
    return proc, line.split()[2]


def run_child(procs: Procs, stage: str, spec_path: Path, profile: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage,
           "--spec", str(spec_path)] + (["--child-profile"] if profile else [])
    proc = procs.add(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True))
    stdout, _ = proc.communicate()
    result = next((ln[7:] for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or result is None:
        msg = f"stage {stage} failed (exit {proc.returncode})"
        raise RuntimeError(msg)
    return json.loads(result)


def prepare_kafka(bootstrap: str, registry: str, zone_id: str) -> dict[str, int]:
    """Register schemas and create topics exactly as ``cfkafka run`` does."""
    from connector.cli import _prepare_kafka
    from connector.jobs import jobs_from
    from connector.settings import Settings

    settings = Settings.from_env({
        "CF_API_TOKEN": "x" * 40, "CF_ACCOUNT_ID": "0" * 32, "CF_ZONE_IDS": zone_id,
        "CF_FEEDS": "http_requests", "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SCHEMA_REGISTRY_URL": registry,
    })
    ids = asyncio.run(_prepare_kafka(settings, jobs_from(settings), asyncio.Event()))
    assert ids is not None  # noqa: S101
    return ids


def row(label: str, r: dict[str, Any], rss_kib: int | None, base: float | None) -> str:
    rate = r["count"] / r["wall"]
    mbs = r["bytes"] / r["wall"] / 1e6 if r["bytes"] else 0.0
    cpu = r["cpu"]
    rss = f"{rss_kib / 1024:,.0f}" if rss_kib else "-"
    vs = f"{rate / base:.2f}x" if base else "-"
    return (f"| {label:<44} | {r['count']:>9,} | {r['wall']:>7.1f} | {rate:>9,.0f} | "
            f"{mbs:>6.1f} | {cpu['self']:>5.0f} | {cpu['sim']:>5.0f} | {cpu['broker']:>6.0f} | "
            f"{rss:>8} | {vs:>8} |")


def parent_main(args: argparse.Namespace) -> int:
    from sim.config import DEFAULT_ACCOUNT_ID, DEFAULT_API_TOKEN, DEFAULT_ZONE_ID

    t_start = time.perf_counter()
    n = args.lines
    rps = n / WINDOW_S
    procs = Procs()
    stack = None
    tmp = Path(tempfile.mkdtemp(prefix="cfkafka-logpull-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        registry = os.environ.get("SCHEMA_REGISTRY_URL")
        broker_pid = 0
        if not (bootstrap and registry):
            from infra.stack import LocalStack

            log("starting LocalStack (Kafka 4 + Apicurio)...")
            stack = LocalStack(log_dir=tmp / "stack")
            info = stack.start()
            bootstrap, registry = info.bootstrap, info.registry_url
            broker_pid = stack.state.broker_pid
        log(f"Kafka {bootstrap}, registry {registry} ({time.perf_counter() - t_start:.0f} s)")
        zone_id = DEFAULT_ZONE_ID
        schema_ids = prepare_kafka(bootstrap, registry, zone_id)
        sim, api_base = start_sim(procs, args, zone_id, rps, tmp / "sim.log")
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=6)
        start = end - timedelta(seconds=WINDOW_S)
        truth_url = (api_base.split("/client/v4")[0] + "/__sim/logpull?ray_ids=false&zone_id="
                     f"{zone_id}&start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}")
        with urllib.request.urlopen(truth_url, timeout=60) as resp:  # noqa: S310 - local sim
            expected = json.load(resp)["count"]
        fields = list(SUBSET) if args.fields == "subset" else []
        spec = {
            "token": DEFAULT_API_TOKEN, "account_id": DEFAULT_ACCOUNT_ID, "zone_id": zone_id,
            "api_base": api_base, "bootstrap": bootstrap, "registry": registry,
            "schema_ids": schema_ids, "fields": fields, "start": start.isoformat(),
            "end": end.isoformat(), "txn_timeout_s": args.txn_timeout_s,
            "sim_pid": sim.pid, "broker_pid": broker_pid, "ndjson_bytes": 0,
        }
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        log(f"window {start:%H:%M:%S}..{end:%H:%M:%S} ({WINDOW_S} s at {rps:,.1f}/s): "
            f"{expected:,} lines; fields: {args.fields}; gzip level {args.gzip_level}")

        results: dict[str, dict[str, Any]] = {}
        for stage in ("stream", "parse", "connector", "ceiling"):
            if stage == "connector":
                spec["ndjson_bytes"] = results["stream"]["timed"]["bytes"]
                spec_path.write_text(json.dumps(spec))
            t0 = time.perf_counter()
            log(f"stage {stage}...")
            results[stage] = run_child(procs, stage, spec_path)
            log(f"stage {stage} done in {time.perf_counter() - t0:.0f} s")
        profile = None
        if args.profile:
            log("stage connector again under pyinstrument...")
            profile = run_child(procs, "connector", spec_path, profile=True)

        st, pa, co, ce = (results[k] for k in ("stream", "parse", "connector", "ceiling"))
        for name, got in (("stream", st["timed"]["count"]), ("parse", pa["timed"]["count"]),
                          ("connector", co["timed"]["count"]), ("encode", ce["encode"]["count"])):
            if got != expected:
                log(f"WARNING: stage {name} saw {got:,} lines, expected {expected:,}")
        print_report(args, expected, results, profile, time.perf_counter() - t_start)
        return 0
    finally:
        procs.stop()
        if stack is not None:
            log("stopping LocalStack")
            stack.stop()


def print_report(args: argparse.Namespace, expected: int, results: dict[str, dict[str, Any]],
                 profile: dict[str, Any] | None, wall: float) -> None:
    import confluent_kafka

    st, pa, co, ce = (results[k] for k in ("stream", "parse", "connector", "ceiling"))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    avg_line = st["timed"]["bytes"] / max(1, st["timed"]["count"])
    ceiling_rate = ce["ceiling"]["count"] / ce["ceiling"]["wall"]
    conn_rate = co["timed"]["count"] / co["timed"]["wall"]
    print()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, "
          f"confluent-kafka {confluent_kafka.version()[0]}, librdkafka "
          f"{confluent_kafka.libversion()[0]}; broker, registry and simulator on the same host")
    print(f"window: {expected:,} lines in {WINDOW_S} s of receive time, {co['fields']} fields, "
          f"avg NDJSON line {avg_line:,.0f} B, gzip level {args.gzip_level}, avg Avro value "
          f"{ce['avro_bytes'] / max(1, ce['encode']['count']):,.0f} B; "
          f"transaction.timeout {args.txn_timeout_s} s")
    print()
    print("| stage (one window, one process each)         |    events | wall s |  events/s |"
          "   MB/s | cpu s | sim s | brkr s | peak RSS | vs ceil. |")
    print(f"|{'-' * 46}|{'-' * 10}:|{'-' * 7}:|{'-' * 10}:|{'-' * 7}:|{'-' * 6}:|{'-' * 6}:|"
          f"{'-' * 7}:|{'-' * 9}:|{'-' * 9}:|")
    print(row("stream only (HTTP + gunzip + split)", st["timed"], st["peak_rss_kib"], None))
    print(row("stream + parse (loads_line)", pa["timed"], pa["peak_rss_kib"], None))
    print(row("stream + parse + encode (no Kafka)", ce["encode"], None, None))
    print(row("**connector: WindowRunner.fetch, acks=all txn**", co["timed"],
              co["peak_rss_kib"], ceiling_rate))
    print(row("ceiling: confluent-kafka, pre-encoded, txn", ce["ceiling"], None, ceiling_rate))
    print()
    mbs = co["timed"]["bytes"] / co["timed"]["wall"] / 1e6
    rss0, rss1 = co["rss_start_kib"] / 1024, co["rss_before_fetch_kib"] / 1024
    print(f"connector: {conn_rate:,.0f} events/s, {mbs:.1f} MB/s NDJSON, peak RSS "
          f"{co['peak_rss_kib'] / 1024:,.0f} MiB (RSS {rss0:.0f} MiB after imports, "
          f"{rss1:.0f} MiB before the window); ceiling {ceiling_rate:,.0f} events/s; "
          f"connector/ceiling {conn_rate / ceiling_rate:.2f}")
    print(f"targets: >= 50,000 events/s per process: {'MET' if conn_rate >= 50_000 else 'NOT MET'}"
          f"; peak RSS < 300 MB: {'MET' if co['peak_rss_kib'] * 1024 < 300e6 else 'NOT MET'}")
    print(f"(cpu s = CPU seconds of the stage's process, the simulator and the broker during the "
          f"timed section; the ceiling's peak RSS holds all encoded records: "
          f"{ce['peak_rss_kib'] / 1024:,.0f} MiB); bench wall {wall:.0f} s")
    if profile is not None:
        p = profile["profile"]
        rate = profile["timed"]["count"] / profile["timed"]["wall"]
        print()
        print(f"pyinstrument (1 ms sampling, main thread) of the connector stage, "
              f"{p['duration']:.1f} s sampled, {rate:,.0f} events/s under the profiler")
        print()
        print("top self time:")
        for name, t in p["self"]:
            print(f"  {t:7.2f} s {100 * t / p['duration']:5.1f} %  {name}")
        print()
        print("inclusive (selected):")
        for name, t in p["inclusive"]:
            print(f"  {t:7.2f} s {100 * t / p['duration']:5.1f} %  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000,
                        help="lines in the window (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="200,000 lines (< 2 minutes)")
    parser.add_argument("--fields", choices=("all", "subset"), default="all",
                        help="all: every schema field (the connector's default request); "
                             f"subset: a SIEM list of {len(SUBSET)} fields")
    parser.add_argument("--gzip-level", type=int, default=1, choices=range(0, 10),
                        help="simulator gzip level (default 1, like Cloudflare)")
    parser.add_argument("--txn-timeout-s", type=int, default=600,
                        help="CFKAFKA_TRANSACTION_TIMEOUT_S for the connector and the ceiling "
                             "(default 600: the connector's 60 s is shorter than a 1M window)")
    parser.add_argument("--profile", action="store_true",
                        help="run the connector stage once more under pyinstrument")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.spec, args.child_profile)
    if args.quick and args.lines == 1_000_000:
        args.lines = 200_000
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
