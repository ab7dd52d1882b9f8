"""Child processes for the demo and end-to-end tests: start, wait until ready, stop, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class ServiceError(RuntimeError):
    """A child process failed to start or exited early."""


class Service:
    """One child process with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        """Nothing runs until ``start``."""
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        """Start the process (in its own session, so a Ctrl-C reaches only us)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - argv is ours
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while running."""
        return None if self.proc is None else self.proc.poll()

    def output(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(
        self, ready: Callable[[str], bool] | str, timeout_s: float = 120.0, poll_s: float = 0.2
    ) -> str:
        """Wait until ``ready(output)`` (or the text appears); raise if it exits or times out."""
        check = (lambda out: ready in out) if isinstance(ready, str) else ready
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = self.output()
            if check(out):
                return out
            if not self.running:
                msg = f"{self.name} exited with {self.returncode}:\n{out[-3000:]}"
                raise ServiceError(msg)
            time.sleep(poll_s)
        msg = f"{self.name} not ready after {timeout_s:.0f}s:\n{self.output()[-3000:]}"
        raise ServiceError(msg)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; return the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, as ``kill -9``)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
