"""streams.app.Supervisor: ``STREAMS_PROCESSES`` worker processes, restarted when they fail."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from streams.app import Supervisor, child_env
from streams.settings import Settings


class FakeChild:
    """A process whose exit codes are scripted: ``None`` while running."""

    def __init__(self, pid: int, codes: list[int | None]) -> None:
        self.pid = pid
        self.codes = codes
        self.signals: list[int] = []

    def poll(self) -> int | None:
        if self.signals:  # SIGTERM: a clean stop
            return 0
        return self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


class Spawner:
    def __init__(self, scripts: list[list[int | None]]) -> None:
        self.scripts = scripts
        self.started: list[tuple[list[str], dict[str, str]]] = []
        self.children: list[FakeChild] = []

    def __call__(self, argv: list[str], env: dict[str, str]) -> FakeChild:
        self.started.append((argv, env))
        script = self.scripts.pop(0) if self.scripts else [None]
        child = FakeChild(len(self.started), script)
        self.children.append(child)
        return child


def settings(**kw: Any) -> Settings:
    return Settings(**{"app_id": "app", "instance_id": "host", "datadir": "/d",
                       "processes": 2, **kw})


def test_each_process_gets_its_own_instance_data_directory_and_metrics_port():
    env = child_env({"KEEP": "1"}, settings(metrics_port=9400), 1)
    assert env["KEEP"] == "1" and env["STREAMS_PROCESSES"] == "1"
    assert env["STREAMS_INSTANCE_ID"] == "host-p1"
    assert Path(env["STREAMS_DATADIR"]) == Path("/d/process-1")
    assert env["STREAMS_METRICS_PORT"] == "9401"
    assert "STREAMS_METRICS_PORT" not in child_env({}, settings(), 0)


def test_a_failed_process_is_started_again_and_stop_ends_them_all(
    monkeypatch: pytest.MonkeyPatch,
):
    spawner = Spawner([[None, None, 3], [None]])  # process 0 exits with 3 (the watchdog)
    supervisor = Supervisor(settings(), {}, "info", spawner)
    polls = {"n": 0}

    def sleep(_: float) -> None:
        polls["n"] += 1
        if polls["n"] == 6:
            supervisor.stop()

    monkeypatch.setattr("streams.app.time.sleep", sleep)
    assert supervisor.run() == 0
    instances = [env["STREAMS_INSTANCE_ID"] for _, env in spawner.started]
    assert instances == ["host-p0", "host-p1", "host-p0"]  # 0 restarted, same identity
    assert spawner.started[0][0][1:] == ["-m", "streams", "-l", "info"]
    assert all(c.signals == [signal.SIGTERM] for c in spawner.children[1:])


def test_a_process_that_keeps_failing_stops_the_supervisor(monkeypatch: pytest.MonkeyPatch):
    spawner = Spawner([[1]] * 20)
    supervisor = Supervisor(settings(processes=1), {}, "info", spawner)
    monkeypatch.setattr("streams.app.time.sleep", lambda _: None)
    assert supervisor.run() == 1
    assert len(spawner.started) == Supervisor.RESTARTS + 1
