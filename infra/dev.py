"""``cfkafka dev up|down|status``: a detached local Kafka + registry for development.

``up`` starts a :class:`infra.stack.LocalStack` whose JVMs outlive the command, records it in
``$CFKAFKA_HOME/dev.json`` (default ``~/.cache/cfkafka/dev.json``) and prints shell exports,
so ``eval "$(cfkafka dev up)"`` points the connector, streams and tests at it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from infra.stack import SASL_PASSWORD, SASL_USER, LocalStack, StackError, StackInfo, StackState

HOME_ENV = "CFKAFKA_HOME"
EXIT_STOPPED = 3


def home() -> Path:
    """``$CFKAFKA_HOME`` or ``~/.cache/cfkafka``."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cfkafka"


def state_file() -> Path:
    return home() / "dev.json"


def load_state() -> StackState | None:
    """The recorded dev stack, or None when there is none (or the file is unreadable)."""
    try:
        return StackState.from_json(json.loads(state_file().read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _exports(info: StackInfo) -> str:
    return "".join(f"export {key}={value}\n" for key, value in info.env().items())


def _running(state: StackState | None) -> bool:
    return state is not None and LocalStack.attach(state).running()


def up(timeout_s: float) -> int:
    state = load_state()
    if state is not None and _running(state):
        print(f"# dev stack already running (logs in {state.log_dir})", file=sys.stderr)
        sys.stdout.write(_exports(state.info))
        return 0
    if state is not None:  # stale: a process died; clean up what is left
        LocalStack.attach(state).stop()
        state_file().unlink(missing_ok=True)
    workdir = home() / "dev"
    stack = LocalStack(workdir, detach=True)
    print(f"# starting Kafka + Apicurio Registry in {workdir} ...", file=sys.stderr)
    try:
        info = stack.start(timeout_s)
    except StackError as exc:
        print(f"cfkafka dev up: {exc}", file=sys.stderr)
        return 1
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(stack.state.to_json(), indent=2) + "\n")
    tmp.replace(path)
    print(f"# dev stack running; logs in {stack.state.log_dir}; stop: cfkafka dev down",
          file=sys.stderr)
    sys.stdout.write(_exports(info))
    return 0


def status() -> int:
    state = load_state()
    if state is None or not _running(state):
        print("stopped")
        return EXIT_STOPPED
    info = state.info
    print("running")
    print(f"kafka     {info.bootstrap} (pid {state.broker_pid})")
    print(f"registry  {info.registry_url} (pid {state.registry_pid})")
    if info.sasl_bootstrap:
        print(f"sasl      {info.sasl_bootstrap} (SASL_PLAINTEXT, PLAIN, user {SASL_USER},"
              f" password {SASL_PASSWORD})")
    print(f"logs      {state.log_dir}")
    return 0


def down(timeout_s: float) -> int:
    state = load_state()
    if state is None:
        print("stopped (nothing was running)")
        return 0
    LocalStack.attach(state).stop(timeout_s)
    state_file().unlink(missing_ok=True)
    print("stopped")
    return 0


def main(argv: list[str]) -> int:
    """Entry point for ``cfkafka dev``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="cfkafka dev", description="A local Kafka + schema registry for development."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cmd_up = commands.add_parser("up", help="start Kafka + registry in the background")
    cmd_up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait (180)")
    commands.add_parser("status", help="running (exit 0) or stopped (exit 3)")
    cmd_down = commands.add_parser("down", help="stop the background stack")
    cmd_down.add_argument("--timeout", type=float, default=30.0,
                          help="seconds before SIGKILL (30)")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.timeout)
    if args.command == "status":
        return status()
    return down(args.timeout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
