"""Benchmark: Logpull http_requests to Kafka, end to end, events/s.

Usage: ``python bench/logpull_bench.py [--lines N | --quick] [--fields all|subset]
[--gzip-level L] [--source replay|sim] [--stages ...] [--profile]``

Starts a LocalStack (real Kafka 4 + Apicurio; or uses ``KAFKA_BOOTSTRAP_SERVERS`` and
``SCHEMA_REGISTRY_URL`` when both are set), registers the schemas and creates the topics
like ``cfkafka run``, starts the Cloudflare simulator as a separate process (``python -m
sim``) with a Logpull rate such that one 10-minute window holds N lines. With ``--source
replay`` (default) the window's gzip response is recorded from the simulator once and served
byte for byte by a small replay server (``sendfile``), so the source costs next to no CPU, as
a remote Cloudflare would; ``--source sim`` streams from the simulator itself (it generates
~20-30k lines/s here, which then caps every stage). Each stage runs in a fresh child process
(so every peak RSS is that stage's own) on the same window:

- ``stream``:          the connector's ``CloudflareClient.stream_chunks`` only (HTTP + inflate
                       with ISA-L, lines counted)
- ``connector``:       the real ``WindowRunner.fetch`` built by ``jobs._zone_job``: pieces from
                       ``stream_chunks``, ``CompiledLineCodec.encode_chunk`` (native split +
                       encode), ``TransactionalPublisher.send_many``, KafkaCheckpointStore, one
                       transaction with its checkpoint, timed from the request to the returned
                       commit
- ``connector-lines``: the same with ``CFKAFKA_LOGPULL_BATCHED=0``: the previous per-line path
                       (``stream_lines``, httpx's zlib, ``Codec.encode`` and ``send`` per line)
- ``connector-py``:    the connector with ``CFKAFKA_NATIVE=0`` (the Python encoder; not run
                       unless named in ``--stages``: ~2 min per 1M lines)
- ``ceiling``:         stream + encode (``stream_chunks`` + ``encode_chunk``), kept in memory
                       (that part is the "stream + encode, no Kafka" row), then, timed
                       separately, the same records produced by confluent-kafka with
                       ``publisher.producer_conf`` (transactional, idempotent, acks=all,
                       murmur2_random, linger 20 ms) in one transaction

Peak RSS is ``VmHWM`` of the child (``/proc/self/status``). CPU seconds of the child, the
source (simulator or replay server) and the broker are read from ``/proc/<pid>/stat`` around
each timed section. Progress goes to stderr, the Markdown table to stdout.
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
import urllib.parse
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
    """Wall time and CPU seconds of this process, the source (simulator or replay server)
    and the broker."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.pids = {"self": os.getpid(), "src": spec["src_pid"], "broker": spec["broker_pid"]}

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
    if stage == "connector-py":
        os.environ["CFKAFKA_NATIVE"] = "0"  # read when the first codec is built
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

    env = _env(spec)
    if stage == "connector-lines":
        env["CFKAFKA_LOGPULL_BATCHED"] = "0"  # the previous per-line path
    settings = Settings.from_env(env)
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

    async def pieces() -> Any:
        params = feed.params(window, fields, dict(settings.logpull_options))
        async for piece in client.stream_chunks(feed.url(spec["zone_id"]), params):
            yield piece

    def codec() -> CompiledLineCodec:
        encoder = Encoder(schema_ids[TOPIC], schemas.load(feed.schema))
        return CompiledLineCodec(encoder, feed.schema, feed.key_field, feed.json_fields,
                                 expected=fields)

    if stage == "stream":
        n = nbytes = 0
        last = b"\n"
        with meter:
            async for piece in pieces():
                n += piece.count(b"\n")
                nbytes += len(piece)
                last = piece
        n += not last.endswith(b"\n")
        out["timed"] = meter.result(n, nbytes)
    elif stage in ("connector", "connector-py", "connector-lines"):
        publisher = TransactionalPublisher(kafka_conf, f"bench-connector-{uuid.uuid4().hex[:8]}",
                                           timeout_s=settings.transaction_timeout_s)
        store = KafkaCheckpointStore(kafka_conf)
        runner: Any = job.make_runner(client=client, publisher=publisher, store=store,
                                      schema_ids=schema_ids, stop=asyncio.Event())
        line_codec = getattr(runner, "_encode", None)
        out["encoder"] = "native" if getattr(line_codec, "native", None) else "python"
        out["path"] = "pieces" if getattr(runner, "_chunks", None) is not None else "lines"
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
        out["fallbacks"] = getattr(line_codec, "fallbacks", 0)
        publisher.close()
    elif stage == "ceiling":
        line_codec = codec()
        out["encoder"] = "native" if line_codec.native else "python"
        keys: list[bytes] = []
        values: list[bytes] = []
        nbytes = 0
        pending = b""
        with meter:
            async for piece in pieces():
                data = pending + piece if pending else piece
                ks, vs, used = line_codec.encode_chunk(data)
                pending = data[used:]
                keys += ks
                values += vs  # type: ignore[arg-type]  # checked below
                nbytes += len(piece)
            ks, vs, _ = line_codec.encode_chunk(pending, True)
            keys += ks
            values += vs  # type: ignore[arg-type]
            for i in [i for i, v in enumerate(values) if v is None]:  # the Python path
                keys[i], values[i] = line_codec.python(keys[i])
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


# ------------------------------------------------------------------------------ replay


def record_window(api_base: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Fetch the window once from the simulator, as the connector will ask for it (same
    fields and options), keeping the gzip body as sent; return the replay spec."""
    from connector.feeds.http_requests import HttpRequests
    from connector.settings import Settings
    from connector.windows import Window

    settings = Settings.from_env(_env(spec))
    feed = HttpRequests()
    auth = settings.credentials.headers()
    fields_path = api_base + feed.fields_url(spec["zone_id"])
    req = urllib.request.Request(fields_path, headers=auth)  # noqa: S310 - local sim
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        fields_body = resp.read()
        fields_type = resp.headers.get("Content-Type", "application/json")
    available = json.loads(fields_body)
    wanted = list(settings.logpull_fields) or feed.schema_fields()
    fields = feed.usable_fields(wanted, available)
    window = Window(datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"]))
    params = feed.params(window, fields, dict(settings.logpull_options))
    url = api_base + feed.url(spec["zone_id"]) + "?" + urllib.parse.urlencode(params)
    body = tmp / "window.ndjson.gz"
    req = urllib.request.Request(url, headers={**auth, "Accept-Encoding": "gzip"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=600) as resp, body.open("wb") as f:  # noqa: S310
        if resp.headers.get("Content-Encoding") != "gzip":
            msg = "the simulator did not gzip the Logpull response"
            raise RuntimeError(msg)
        while chunk := resp.read(1 << 20):
            f.write(chunk)
    return {"body": str(body), "params": params, "fields_body": fields_body.decode(),
            "fields_type": fields_type, "zone_id": spec["zone_id"]}


def replay_main(spec_path: str) -> int:
    """Serve the recorded window: ``.../logs/received`` (only with the recorded query) and
    ``.../logs/received/fields``; everything else is 404. Prints ``REPLAY READY <base>``."""
    import http.server
    import urllib.parse as up

    spec = json.loads(Path(spec_path).read_text())
    size = Path(spec["body"]).stat().st_size
    logs = f"/client/v4/zones/{spec['zone_id']}/logs/received"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path, _, query = self.path.partition("?")
            if path == logs + "/fields":
                body = spec["fields_body"].encode()
                self.send_response(200)
                self.send_header("Content-Type", spec["fields_type"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if path != logs:
                self.send_error(404)
                return
            got = {k: v[-1] for k, v in up.parse_qs(query, keep_blank_values=True).items()}
            if got != spec["params"]:
                print(f"[replay] refusing a different query: {got}", file=sys.stderr,
                      flush=True)
                self.send_error(400, "not the recorded window")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            with open(spec["body"], "rb") as f:
                offset = 0
                while offset < size:
                    offset += os.sendfile(self.connection.fileno(), f.fileno(), offset,
                                          min(size - offset, 1 << 24))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"REPLAY READY http://127.0.0.1:{server.server_address[1]}/client/v4", flush=True)
    server.serve_forever()
    return 0


def start_replay(procs: Procs, replay_spec: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--replay-server", str(replay_spec)]
    proc = procs.add(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True))
    assert proc.stdout is not None  # noqa: S101
    line = proc.stdout.readline()
    if not line.startswith("REPLAY READY "):
        msg = f"replay server did not start: {line!r}"
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


STAGES = ("stream", "connector", "connector-lines", "ceiling", "connector-py")
DEFAULT_STAGES = ("stream", "connector", "connector-lines", "ceiling")


def row(label: str, r: dict[str, Any], rss_kib: int | None, base: float | None) -> str:
    rate = r["count"] / r["wall"]
    mbs = r["bytes"] / r["wall"] / 1e6 if r["bytes"] else 0.0
    cpu = r["cpu"]
    rss = f"{rss_kib / 1024:,.0f}" if rss_kib else "-"
    vs = f"{rate / base:.2f}x" if base else "-"
    return (f"| {label:<58} | {r['count']:>9,} | {r['wall']:>6.1f} | {rate:>9,.0f} | "
            f"{mbs:>6.1f} | {cpu['self']:>5.1f} | {cpu['src']:>5.1f} | {cpu['broker']:>6.1f} | "
            f"{rss:>8} | {vs:>8} |")


def rate_of(result: dict[str, Any]) -> float:
    """Events/s of a stage's timed part (the ceiling's produce for the ceiling)."""
    r = result["ceiling"] if "ceiling" in result else result["timed"]
    return float(r["count"] / r["wall"])


def run_text(result: dict[str, Any]) -> str:
    """One run: events/s and CPU seconds of the stage's process / wall seconds."""
    r = result["ceiling"] if "ceiling" in result else result["timed"]
    return (f"{r['count'] / r['wall']:,.0f}/s (cpu {r['cpu']['self']:.1f} s, broker "
            f"{r['cpu']['broker']:.1f} s, wall {r['wall']:.1f} s)")


def load_text() -> str:
    """The load averages, as `uptime` shows them (other sessions share this machine)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def parent_main(args: argparse.Namespace) -> int:
    from sim.config import DEFAULT_ACCOUNT_ID, DEFAULT_API_TOKEN, DEFAULT_ZONE_ID

    t_start = time.perf_counter()
    n = args.lines
    rps = n / WINDOW_S
    procs = Procs()
    stack = None
    tmp = Path(tempfile.mkdtemp(prefix="cfkafka-logpull-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stages = [s for s in STAGES if s in args.stages]
    loads = {"start": load_text()}
    log(f"machine {loads['start']}")
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
            "src_pid": sim.pid, "broker_pid": broker_pid, "ndjson_bytes": 0,
        }
        log(f"window {start:%H:%M:%S}..{end:%H:%M:%S} ({WINDOW_S} s at {rps:,.1f}/s): "
            f"{expected:,} lines; fields: {args.fields}; gzip level {args.gzip_level}")
        gz_bytes = 0
        if args.source == "replay":
            t0 = time.perf_counter()
            log("recording the window's gzip response from the simulator...")
            replay = record_window(api_base, spec, tmp)
            gz_bytes = Path(replay["body"]).stat().st_size
            replay_path = tmp / "replay.json"
            replay_path.write_text(json.dumps(replay))
            sim.send_signal(signal.SIGTERM)  # not needed any more: no CPU in the way
            sim.wait(30)
            server, spec["api_base"] = start_replay(procs, replay_path)
            spec["src_pid"] = server.pid
            log(f"recorded {gz_bytes / 1e6:,.0f} MB of gzip in "
                f"{time.perf_counter() - t0:.0f} s; replaying from {spec['api_base']}")
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))

        results: dict[str, dict[str, Any]] = {}
        for stage in ("stream", *[s for s in stages if s != "stream"]):
            if stage != "stream" and not spec["ndjson_bytes"]:
                spec["ndjson_bytes"] = results["stream"]["timed"]["bytes"]
                spec_path.write_text(json.dumps(spec))
            runs = []
            for k in range(args.repeat):
                t0 = time.perf_counter()
                loads[stage if k == 0 else f"{stage}#{k + 1}"] = load_text()
                log(f"stage {stage} run {k + 1}/{args.repeat} ({load_text()})...")
                runs.append(run_child(procs, stage, spec_path))
                log(f"stage {stage} done in {time.perf_counter() - t0:.0f} s")
            results[stage] = max(runs, key=rate_of)  # the least disturbed run
            results[stage]["rates"] = sorted(rate_of(r) for r in runs)
            results[stage]["runs"] = [run_text(r) for r in runs]
        profile = None
        if args.profile:
            log("stage connector again under pyinstrument...")
            profile = run_child(procs, "connector", spec_path, profile=True)
        loads["end"] = load_text()

        for name, r in results.items():
            got = (r.get("timed") or r["encode"])["count"]
            if got != expected:
                log(f"WARNING: stage {name} saw {got:,} lines, expected {expected:,}")
        print_report(args, expected, results, profile, time.perf_counter() - t_start, loads,
                     gz_bytes)
        return 0
    finally:
        procs.stop()
        if stack is not None:
            log("stopping LocalStack")
            stack.stop()
        for leftover in tmp.glob("window.ndjson.gz"):
            leftover.unlink()


LABELS = {
    "stream": "stream only (connector's stream_chunks: HTTP + inflate)",
    "connector": "**connector: WindowRunner.fetch (pieces, native), txn**",
    "connector-lines": "before: WindowRunner.fetch per line (native), txn",
    "connector-py": "connector: WindowRunner.fetch, Python encoder, txn",
    "encode": "stream + encode, no Kafka (ceiling child)",
    "ceiling": "ceiling: confluent-kafka, pre-encoded, txn",
}


def print_report(args: argparse.Namespace, expected: int, results: dict[str, dict[str, Any]],
                 profile: dict[str, Any] | None, wall: float, loads: dict[str, str],
                 gz_bytes: int) -> None:
    import confluent_kafka

    st = results["stream"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    avg_line = st["timed"]["bytes"] / max(1, st["timed"]["count"])
    ce = results.get("ceiling")
    ceiling_rate = ce["ceiling"]["count"] / ce["ceiling"]["wall"] if ce else None
    source = ("replay server (recorded from the simulator, sendfile)" if args.source == "replay"
              else "simulator")
    print()
    print(f"machine: {os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}, "
          f"confluent-kafka {confluent_kafka.version()[0]}, librdkafka "
          f"{confluent_kafka.libversion()[0]}; broker, registry and source on the same host")
    print(f"window: {expected:,} lines in {WINDOW_S} s of receive time, {st['fields']} fields, "
          f"avg NDJSON line {avg_line:,.0f} B, gzip level {args.gzip_level}"
          + (f" ({gz_bytes / 1e6:,.0f} MB gzip)" if gz_bytes else "")
          + (f", avg Avro value {ce['avro_bytes'] / max(1, ce['encode']['count']):,.0f} B"
             if ce else "")
          + f"; transaction.timeout {args.txn_timeout_s} s; source: {source}")
    print("load: " + "; ".join(f"{k}: {v}" for k, v in loads.items()))
    print()
    print(f"| {'stage (one window, one process each)':<58} |    events | wall s |  events/s |"
          "   MB/s | cpu s | src s | brkr s | peak RSS | vs ceil. |")
    print(f"|{'-' * 60}|{'-' * 10}:|{'-' * 7}:|{'-' * 10}:|{'-' * 7}:|{'-' * 6}:|{'-' * 6}:|"
          f"{'-' * 7}:|{'-' * 9}:|{'-' * 9}:|")
    print(row(LABELS["stream"], st["timed"], st["peak_rss_kib"], None))
    for stage in ("connector", "connector-lines", "connector-py"):
        if stage in results:
            r = results[stage]
            print(row(LABELS[stage], r["timed"], r["peak_rss_kib"], ceiling_rate))
    if ce:
        print(row(LABELS["encode"], ce["encode"], None, None))
        print(row(LABELS["ceiling"], ce["ceiling"], None, ceiling_rate))
    print()
    for stage in ("connector", "connector-lines", "connector-py"):
        if stage not in results:
            continue
        r = results[stage]
        rate = r["timed"]["count"] / r["timed"]["wall"]
        mbs = r["timed"]["bytes"] / r["timed"]["wall"] / 1e6
        rss0, rss1 = r["rss_start_kib"] / 1024, r["rss_before_fetch_kib"] / 1024
        vs = f"; /ceiling {rate / ceiling_rate:.2f}" if ceiling_rate else ""
        runs = r.get("rates", [])
        spread = (f" (best of {len(runs)}; all runs: "
                  + ", ".join(f"{x:,.0f}" for x in runs) + ")") if len(runs) > 1 else ""
        print(f"{stage}: {rate:,.0f} events/s{spread}, {mbs:.1f} MB/s NDJSON, "
              f"{r.get('path', '?')} path, encoder {r['encoder']} "
              f"({r.get('fallbacks', 0):,} lines to the Python path), peak RSS "
              f"{r['peak_rss_kib'] / 1024:,.0f} MiB (RSS {rss0:.0f} MiB after imports, "
              f"{rss1:.0f} MiB before the window){vs}")
    if ceiling_rate and ce:
        runs = ce.get("rates", [])
        spread = (f" (best of {len(runs)}; all runs: "
                  + ", ".join(f"{x:,.0f}" for x in runs) + ")") if len(runs) > 1 else ""
        print(f"ceiling: {ceiling_rate:,.0f} events/s{spread}")
    if args.repeat > 1:
        print("runs in order:")
        for stage, r in results.items():
            print(f"  {stage}: " + "; ".join(r.get("runs", [])))
    if "connector" in results:
        co = results["connector"]
        conn_rate = co["timed"]["count"] / co["timed"]["wall"]
        print(f"targets (connector): >= 50,000 events/s per process: "
              f"{'MET' if conn_rate >= 50_000 else 'NOT MET'}; peak RSS < 300 MB: "
              f"{'MET' if co['peak_rss_kib'] * 1024 < 300e6 else 'NOT MET'}")
    print("(cpu s / src s / brkr s = CPU seconds of the stage's process, the source and the "
          "broker during the timed section"
          + (f"; the ceiling's peak RSS holds all encoded records: "
             f"{ce['peak_rss_kib'] / 1024:,.0f} MiB" if ce else "")
          + f"); bench wall {wall:.0f} s")
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
    parser.add_argument("--quick", action="store_true", help="200,000 lines (< 3 minutes)")
    parser.add_argument("--fields", choices=("all", "subset"), default="all",
                        help="all: every schema field (the connector's default request); "
                             f"subset: a SIEM list of {len(SUBSET)} fields")
    parser.add_argument("--gzip-level", type=int, default=1, choices=range(0, 10),
                        help="simulator gzip level (default 1, like Cloudflare)")
    parser.add_argument("--source", choices=("replay", "sim"), default="replay",
                        help="replay: serve the window recorded once from the simulator "
                             "(default); sim: stream from the simulator (caps the rate)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(DEFAULT_STAGES),
                        help="stages to run (stream always runs; default: all but "
                             "connector-py)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every stage N times and report the fastest run (the least "
                             "disturbed by other load on the machine) with all rates")
    parser.add_argument("--txn-timeout-s", type=int, default=600,
                        help="CFKAFKA_TRANSACTION_TIMEOUT_S for the connector and the ceiling "
                             "(default 600; the connector's is 300, short for connector-py)")
    parser.add_argument("--profile", action="store_true",
                        help="run the connector stage once more under pyinstrument")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replay-server", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay_server:
        return replay_main(args.replay_server)
    if args.child:
        return child_main(args.child, args.spec, args.child_profile)
    if args.quick and args.lines == 1_000_000:
        args.lines = 200_000
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
