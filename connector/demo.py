"""``cfkafka demo``: local Kafka + registry + simulator + connector + stream worker, live.

Starts everything on this machine (or uses ``KAFKA_BOOTSTRAP_SERVERS`` and
``SCHEMA_REGISTRY_URL`` if both are set), prints events as they arrive in
``cloudflare.audit_logs.v1`` and ``siem.audit.v1``, and stops everything cleanly on
Ctrl-C or after ``DEMO_SECONDS``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import Consumer

from infra.procs import Service, ServiceError
from schemas.registry import Decoder, WireFormatError, registry_client

RAW, SIEM = "cloudflare.audit_logs.v1", "siem.audit.v1"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="cfkafka demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("DEMO_SECONDS", 0)),
                        help="stop after this many seconds (default: DEMO_SECONDS, 0 = Ctrl-C)")
    parser.add_argument("--show", type=int, default=int(os.environ.get("DEMO_SHOW", 8)),
                        help="events to print per topic per second at most")
    args = parser.parse_args(list(argv or []))
    from infra.select import stack_from_environment

    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="cfkafka-demo-"))
    _say(f"logs and state in {workdir}")
    _say("starting Kafka + schema registry (first run downloads jars from Maven Central)...")
    try:
        with stack_from_environment() as stack:
            _say(f"Kafka {stack.bootstrap}   schema registry {stack.registry_url}")
            services: list[Service] = []
            try:
                services = _start_services(stack, workdir, services)
                return _watch(stack, args.seconds, args.show, services, stopping)
            finally:  # stop our processes while Kafka is still up
                for service in reversed(services):
                    code = service.stop()
                    _say(f"stopped {service.name} (exit {code})")
                _say("stopping Kafka and the schema registry")
    except KeyboardInterrupt:
        _say("Ctrl-C: stopped")
        return 0
    except ServiceError as exc:
        _say(f"error: {exc}")
        return 1


def _start_services(stack: Any, workdir: Path, services: list[Service]) -> list[Service]:
    """Start simulator, connector and worker, appending each to ``services`` as it starts."""
    from sim.config import DEFAULT_API_TOKEN

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CF_", "STREAMS_"))}
    base.update(KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap, SCHEMA_REGISTRY_URL=stack.registry_url)
    account = "0123456789abcdef0123456789abcdef"
    sim = Service("simulator", [sys.executable, "-m", "sim", "--port", "0", "--account-id",
                                account, "--events-per-second", "3", "--initial-events", "120"],
                  env=base, log_path=workdir / "sim.log").start()
    services.append(sim)
    base_url = sim.wait_for("SIM READY", 30).split("SIM READY", 1)[1].split()[0]
    _say(f"Cloudflare API simulator at {base_url}")
    connector_env = {**base, "CF_API_BASE_URL": base_url, "CF_API_TOKEN": DEFAULT_API_TOKEN,
                     "CF_ACCOUNT_ID": account, "CF_SETTLE_LAG_S": "2", "CF_POLL_INTERVAL_S": "2",
                     "CF_START_LOOKBACK_S": "86400", "CFKAFKA_CONNECTOR_NAME": "cfkafka-demo"}
    connector = Service("connector", [sys.executable, "-m", "connector", "run"],
                        env=connector_env, log_path=workdir / "connector.log").start()
    services.append(connector)
    streams_env = {**base, "STREAMS_APP_ID": "cfkafka-demo-streams",
                   "STREAMS_DATADIR": str(workdir / "streams-data")}
    worker = Service("streams", [sys.executable, "-m", "streams"], env=streams_env,
                     log_path=workdir / "streams.log", cwd=workdir).start()
    services.append(worker)
    connector.wait_for("registered as id", 120)
    _say("connector running (log: connector.log); stream worker starting (log: streams.log)")
    return services


def _watch(stack: Any, seconds: float, show: int, services: list[Service],
           stopping: list[int]) -> int:
    with registry_client(stack.registry_url) as client:
        return _consume(stack, Decoder(client), seconds, show, services, stopping)


def _consume(stack: Any, decoder: Decoder, seconds: float, show: int, services: list[Service],
             stopping: list[int]) -> int:
    consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": f"demo-{os.getpid()}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.auto.commit": False})
    consumer.subscribe([RAW, SIEM])
    counts = {RAW: 0, SIEM: 0}
    shown: dict[str, int] = {}
    started = last_summary = time.monotonic()
    try:
        while not stopping and (seconds <= 0 or time.monotonic() - started < seconds):
            for service in services:
                if not service.running:
                    text = f"{service.name} stopped unexpectedly; see {service.log_path}"
                    raise ServiceError(text)
            msg = consumer.poll(0.5)
            now = time.monotonic()
            if now - last_summary >= 5:
                _say(f"totals: {RAW} {counts[RAW]}   {SIEM} {counts[SIEM]}")
                last_summary = now
            if msg is None or msg.error():
                continue
            topic = msg.topic() or ""
            counts[topic] += 1
            second = f"{topic}{int(now)}"
            shown[second] = shown.get(second, 0) + 1
            if shown[second] <= show:
                try:
                    _print_event(topic, decoder.decode(msg.value()))
                except WireFormatError as exc:
                    _say(f"{topic}: undecodable message ({exc})")
    finally:
        consumer.close()
    _say(f"done: {RAW} {counts[RAW]} events, {SIEM} {counts[SIEM]} events")
    return 0


def _print_event(topic: str, value: dict[str, Any]) -> None:
    if topic == RAW:
        action = (value.get("action") or {}).get("type")
        actor = value.get("actor") or {}
        who = actor.get("email") or actor.get("type")
        print(f"raw   {value['when']:<28} {action:<22} {who:<28} {actor.get('ip') or ''}",
              flush=True)
    else:
        print(f"siem  {value.get('time_raw', ''):<28} {value.get('class_name', ''):<22} "
              f"{value.get('activity_name', '')}  {value.get('status', '')}  "
              f"{value.get('actor_user_email') or ''}", flush=True)


def _say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)
