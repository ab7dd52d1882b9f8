"""A real single-node Kafka broker and an Apicurio schema registry, run as local JVMs.

The jars come from Maven Central through ``infra/pom.xml`` (see :func:`stage`); no Docker
is needed, only Java 17+ and Maven. :class:`LocalStack` picks free ports on 127.0.0.1,
formats a fresh KRaft data directory, starts the broker (combined broker + controller) and
the registry concurrently and waits until both really answer.

A stack is either attached (the processes belong to this Python process and are stopped by
:meth:`LocalStack.stop` / the context manager) or detached (``detach=True``: the JVMs run
in their own session, survive the caller and can be found again from :class:`StackState`,
which is what ``cfkafka dev up|down|status`` uses).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

POM = Path(__file__).resolve().with_name("pom.xml")
MIN_JAVA = 17  # Kafka 4 brokers
MIN_JAVA_REGISTRY = 21  # Apicurio Registry 3.3 is compiled for Java 21
# Where JDKs are usually installed, searched after $JAVA_HOME and PATH (one "*" each).
JVM_SEARCH_GLOBS: tuple[str, ...] = (
    "/usr/lib/jvm/*/bin/java",
    "/usr/local/lib/jvm/*/bin/java",
    "/opt/java/*/bin/java",
    "/Library/Java/JavaVirtualMachines/*/Contents/Home/bin/java",
    "~/.sdkman/candidates/java/*/bin/java",
)
CACHE_ENV = "CFKAFKA_CACHE"
_SENTINEL = ".staged"
_READY_TOPIC = "__cfkafka_ready_probe"


#: the local stack's SASL listener's one user (PLAIN; a throwaway dev credential)
SASL_USER = "cfkafka"
SASL_PASSWORD = "cfkafka-dev-only"  # noqa: S105 - the local test broker's, nothing else


class StackError(RuntimeError):
    """The local stack cannot be staged, started or stopped; the message names the fix."""


@dataclass(frozen=True)
class StackInfo:
    """Where clients find the broker and the Confluent-compatible registry API."""

    bootstrap: str
    registry_url: str
    #: a second listener that takes SASL_PLAINTEXT + PLAIN with ``SASL_USER`` /
    #: ``SASL_PASSWORD`` (the local stack's; None elsewhere): tests of secured clients
    sasl_bootstrap: str | None = None

    def env(self) -> dict[str, str]:
        """The environment variables the composition roots read (docs/DESIGN.md), and
        ``CFKAFKA_DEV_SASL_BOOTSTRAP`` (tests' secured clients) when there is a SASL listener."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "SCHEMA_REGISTRY_URL": self.registry_url}
        if self.sasl_bootstrap:
            env["CFKAFKA_DEV_SASL_BOOTSTRAP"] = self.sasl_bootstrap
        return env


# --------------------------------------------------------------------------- tools


def _java_candidates() -> list[str]:
    """$JAVA_HOME/bin/java, ``java`` on PATH, then JDKs in the usual install directories."""
    found: list[str] = []
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home, "bin", "java"), os.X_OK):
        found.append(str(Path(home, "bin", "java")))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    for pattern in JVM_SEARCH_GLOBS:
        root, _, rest = pattern.partition("*")
        base = Path(root).expanduser()
        if base.is_dir():
            found.extend(str(p) for p in sorted(base.glob("*" + rest)) if os.access(p, os.X_OK))
    unique: dict[str, str] = {}
    for java in found:
        unique.setdefault(os.path.realpath(java), java)
    return list(unique.values())


def find_java(min_version: int = MIN_JAVA, *, purpose: str = "Kafka 4") -> str:
    """The first ``java`` of at least ``min_version`` ($JAVA_HOME, PATH, usual JDK dirs)."""
    candidates = _java_candidates()
    if not candidates:
        msg = (
            f"java not found on PATH: install Java {min_version}+ "
            f"(e.g. apt-get install openjdk-{min_version}-jre-headless) or set JAVA_HOME"
        )
        raise StackError(msg)
    versions = {java: java_version(java) for java in candidates}
    for java, version in versions.items():
        if version >= min_version:
            return java
    seen = ", ".join(f"{java} is Java {version}" for java, version in versions.items())
    msg = (
        f"{purpose} needs Java {min_version}+ but {seen}: install Java {min_version}+ "
        f"(e.g. apt-get install openjdk-{min_version}-jre-headless) and put it first on PATH "
        "or set JAVA_HOME"
    )
    raise StackError(msg)


@functools.cache
def java_version(java: str) -> int:
    """The feature version of ``java`` (8 for 1.8.0_x, 17 for 17.0.x)."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        msg = (
            f"cannot run {java} -version ({exc}): install Java 17+ "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        )
        raise StackError(msg) from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        msg = f"cannot parse the output of {java} -version: {out.stderr.strip()[:200]!r}"
        raise StackError(msg)
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        msg = (
            "mvn not found on PATH: install Maven 3.8+ (e.g. apt-get install maven); it downloads "
            "the Kafka and Apicurio jars from Maven Central once"
        )
        raise StackError(msg)
    return mvn


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- staging


def cache_root() -> Path:
    """``$CFKAFKA_CACHE`` or ``~/.cache/cfkafka``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cfkafka"


def stage(cache_dir: Path | None = None) -> Path:
    """Download and unpack the stack once; return the staged directory.

    The result lives in ``<cache_dir or cache_root()>/stack-<sha256(pom.xml)[:12]>`` and holds
    ``kafka-libs/*.jar`` and ``apicurio/quarkus-run.jar``. A sentinel file marks a complete
    stage, so an interrupted one is redone; later calls return at once.
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    base = cache_dir if cache_dir is not None else cache_root()
    target = base / f"stack-{digest}"
    if (target / _SENTINEL).exists():
        return target
    with _file_lock(base / f"stack-{digest}.lock"):
        if (target / _SENTINEL).exists():
            return target
        mvn = _find_mvn()
        find_java()  # maven needs it too, and the error names the fix
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        cmd = [mvn, "-q", "-B", "package", "-f", str(POM), f"-Dstage.dir={target}"]
        log.info("staging the local Kafka stack into %s (maven, once)", target)
        started = time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            msg = f"maven did not finish staging within 30 min: {' '.join(cmd)}"
            raise StackError(msg) from exc
        if done.returncode != 0:
            output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
            msg = (
                f"maven failed to stage the stack (exit {done.returncode}); it needs Maven Central "
                f"(or a mirror in ~/.m2/settings.xml). Command: {' '.join(cmd)}\n{output}"
            )
            raise StackError(msg)
        if not _kafka_jars(target) or not (target / "apicurio" / "quarkus-run.jar").is_file():
            msg = f"maven finished but {target} lacks kafka-libs/*.jar or apicurio/quarkus-run.jar"
            raise StackError(msg)
        (target / _SENTINEL).write_text(f"{time.time():.0f}\n")
        log.info("staged in %.1f s", time.monotonic() - started)
    return target


def _kafka_jars(stage_dir: Path) -> list[Path]:
    return sorted((stage_dir / "kafka-libs").glob("*.jar"))


# --------------------------------------------------------------------------- processes


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cmdline(pid: int) -> str | None:
    """The command line of ``pid``, "" if it is gone or a zombie, None if unknowable."""
    proc = Path("/proc", str(pid))
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                return ""
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    try:
        out = subprocess.run(
            ["ps", "-ww", "-o", "stat=,command=", "-p", str(pid)],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except OSError:
        return None
    line = out.stdout.strip()
    if not line or line.startswith("Z"):
        return ""
    return line


def pid_running(pid: int, marker: str) -> bool:
    """True when ``pid`` is alive, not a zombie, and its command line contains ``marker``."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own exited child: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process reusing the pid
    cmdline = _cmdline(pid)
    return cmdline is None or marker in cmdline


@dataclass
class _Proc:
    name: str
    pid: int
    log: Path
    marker: str
    popen: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_running(self.pid, self.marker)

    def exit_note(self) -> str:
        if self.popen is not None and self.popen.returncode is not None:
            return f"exit code {self.popen.returncode}"
        return "exited"

    def signal(self, sig: signal.Signals) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def _spawn(name: str, cmd: Sequence[str], log_path: Path, cwd: Path, marker: str,
           *, detach: bool) -> _Proc:
    if not detach:
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                list(cmd), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
            )
        return _Proc(name, popen.pid, log_path, marker, popen)
    # Detached: a throwaway sh in a new session starts the JVM in the background and exits,
    # so the JVM is nobody's child here (no zombie, no ResourceWarning) and outlives us.
    script = 'log=$1; shift; "$@" >"$log" 2>&1 </dev/null & echo $!'
    launcher = subprocess.run(
        ["/bin/sh", "-c", script, "cfkafka-spawn", str(log_path), *cmd],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30, check=False, start_new_session=True,
    )
    if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
        msg = f"could not start {name}: {launcher.stderr.strip() or launcher.stdout.strip()}"
        raise StackError(msg)
    return _Proc(name, int(launcher.stdout.strip()), log_path, marker)


# --------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class StackState:
    """Everything needed to find and stop a (detached) :class:`LocalStack` again; JSON-able."""

    workdir: str
    log_dir: str
    stage_dir: str
    broker_port: int
    controller_port: int
    registry_port: int
    broker_pid: int
    registry_pid: int
    owns_workdir: bool = False
    cds_pending: list[tuple[str, str]] = field(default_factory=list)
    #: the SASL listener's port (0: none, a stack started by an older version)
    sasl_port: int = 0

    @property
    def info(self) -> StackInfo:
        return _info(self.broker_port, self.registry_port, self.sasl_port)

    @property
    def marker(self) -> str:
        return _marker(Path(self.workdir))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        fields = dict(data)
        fields["cds_pending"] = [(str(a), str(b)) for a, b in fields.get("cds_pending", [])]
        return cls(**fields)


def _info(broker_port: int, registry_port: int, sasl_port: int = 0) -> StackInfo:
    return StackInfo(
        bootstrap=f"127.0.0.1:{broker_port}",
        registry_url=f"http://127.0.0.1:{registry_port}/apis/ccompat/v7",
        sasl_bootstrap=f"127.0.0.1:{sasl_port}" if sasl_port else None,
    )


def _marker(workdir: Path) -> str:
    return f"-Dcfkafka.stack={workdir}"


def cluster_id() -> str:
    """22 characters of URL-safe base64 of a random UUID, never starting with ``-``.

    Like Kafka's ``Uuid.randomUuid()``: a leading dash would be read as an option by
    ``kafka-storage format -t <id>`` (one start in 64 failed that way).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def server_properties(data_dir: Path, broker_port: int, controller_port: int,
                      sasl_port: int = 0) -> str:
    """The single-node combined-mode KRaft configuration (docs: LOCAL-STACK.md section 1),
    with a SASL_PLAINTEXT (PLAIN) listener on ``sasl_port`` when given."""
    listeners = f"PLAINTEXT://127.0.0.1:{broker_port}"
    if sasl_port:
        listeners += f",SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"{listeners},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": listeners,
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"),
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
    }
    if sasl_port:
        props |= {
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required"
                f' user_{SASL_USER}="{SASL_PASSWORD}";'),
        }
    return "".join(f"{key}={value}\n" for key, value in props.items())


class LocalStack:
    """Kafka 4 (KRaft, one node) + Apicurio Registry 3 as local JVM processes.

    ``with LocalStack() as info: ...`` starts both on free ports and stops them afterwards.
    Without ``workdir`` a temporary directory is used and removed on :meth:`stop`.
    """

    BROKER_JVM = ("-Xms256m", "-Xmx512m", "-XX:+UseSerialGC")
    REGISTRY_JVM = ("-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        log_dir: Path | None = None,
        stage_dir: Path | None = None,
        detach: bool = False,
        cds: bool = True,
    ) -> None:
        self._workdir_arg = workdir
        self._log_dir_arg = log_dir
        self._stage_dir_arg = stage_dir
        self._detach = detach
        self._cds = cds
        self._procs: list[_Proc] = []
        self._state: StackState | None = None
        self._broker_cmd: list[str] = []

    # ---------------------------------------------------------------- public API

    @classmethod
    def attach(cls, state: StackState) -> LocalStack:
        """A handle on a stack started elsewhere (e.g. by ``cfkafka dev up``)."""
        stack = cls(Path(state.workdir), log_dir=Path(state.log_dir),
                     stage_dir=Path(state.stage_dir), detach=True)
        stack._state = state
        marker = state.marker
        stack._procs = [
            _Proc("kafka", state.broker_pid, Path(state.log_dir) / "kafka.log", marker),
            _Proc("registry", state.registry_pid, Path(state.log_dir) / "registry.log", marker),
        ]
        return stack

    @property
    def state(self) -> StackState:
        if self._state is None:
            msg = "the stack is not started"
            raise StackError(msg)
        return self._state

    @property
    def info(self) -> StackInfo:
        return self.state.info

    def running(self) -> bool:
        """True when both processes are alive (says nothing about readiness)."""
        return bool(self._procs) and all(p.running() for p in self._procs)

    def start(self, timeout_s: float = 180) -> StackInfo:
        """Stage if needed, start broker and registry, wait until both answer."""
        if self._procs:
            msg = "the stack is already started"
            raise StackError(msg)
        started = time.monotonic()
        deadline = started + timeout_s
        java = find_java()
        registry_java = find_java(MIN_JAVA_REGISTRY, purpose="Apicurio Registry 3.3")
        stage_dir = self._stage_dir_arg or stage()
        owns_workdir = self._workdir_arg is None
        if self._workdir_arg is None:
            workdir = Path(tempfile.mkdtemp(prefix="cfkafka-stack-"))
        else:
            workdir = self._workdir_arg.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        log_dir = (self._log_dir_arg or workdir).resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        marker = _marker(workdir)
        broker_port, controller_port, registry_port, mgmt_port, sasl_port = free_ports(5)

        data_dir = workdir / "kafka-data"
        shutil.rmtree(data_dir, ignore_errors=True)
        props = workdir / "server.properties"
        props.write_text(server_properties(data_dir, broker_port, controller_port, sasl_port))

        classpath = os.pathsep.join(str(p) for p in _kafka_jars(stage_dir))
        if not classpath:
            msg = f"{stage_dir}/kafka-libs has no jars: delete {stage_dir} and stage again"
            raise StackError(msg)
        cds_pending: list[tuple[str, str]] = []
        broker_cds = self._cds_flags(java, stage_dir, "kafka", cds_pending)
        registry_cds = self._cds_flags(registry_java, stage_dir, "registry", cds_pending)

        registry_cmd = [
            registry_java, *self.REGISTRY_JVM, *registry_cds, marker,
            "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={registry_port}",
            "-Dquarkus.management.host=127.0.0.1", f"-Dquarkus.management.port={mgmt_port}",
            "-Dapicurio.import.work-dir=" + str(workdir),
            "-jar", str(stage_dir / "apicurio" / "quarkus-run.jar"),
        ]
        self._procs = []
        self._state = None
        try:
            self._procs.append(_spawn("registry", registry_cmd, log_dir / "registry.log",
                                      workdir, marker, detach=self._detach))
            self._format(java, classpath, broker_cds, props, log_dir / "kafka-format.log",
                         deadline)
            broker_cmd = [java, *self.BROKER_JVM, *broker_cds, marker, "-cp", classpath,
                          "kafka.Kafka", str(props)]
            self._broker_cmd = broker_cmd
            self._procs.insert(0, _spawn("kafka", broker_cmd, log_dir / "kafka.log", workdir,
                                         marker, detach=self._detach))
            self._state = StackState(
                workdir=str(workdir), log_dir=str(log_dir), stage_dir=str(stage_dir),
                broker_port=broker_port, controller_port=controller_port,
                registry_port=registry_port, broker_pid=self._procs[0].pid,
                registry_pid=self._procs[1].pid, owns_workdir=owns_workdir,
                cds_pending=cds_pending, sasl_port=sasl_port,
            )
            self._wait_ready(deadline, timeout_s)
        except BaseException:
            self._stop_procs(timeout_s=15)
            self._finish(cds_pending, workdir if owns_workdir else None)
            self._state = None
            raise
        log.info("local stack ready in %.1f s: %s", time.monotonic() - started, self._state.info)
        return self._state.info

    def stop_broker(self, timeout_s: float = 30) -> None:
        """Stop only the broker (SIGTERM, data kept), to test a Kafka outage."""
        broker = next(p for p in self._procs if p.name == "kafka")
        broker.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while broker.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if broker.running():
            broker.signal(signal.SIGKILL)
        if broker.popen is not None:
            broker.popen.wait(timeout=10)

    def start_broker(self, timeout_s: float = 120) -> None:
        """Start the broker again after :meth:`stop_broker`, same port and data."""
        state = self.state
        log_path = Path(state.log_dir) / "kafka-restarted.log"
        proc = _spawn("kafka", self._broker_cmd, log_path, Path(state.workdir), state.marker,
                      detach=self._detach)
        self._procs = [proc if p.name == "kafka" else p for p in self._procs]
        self._wait_ready(time.monotonic() + timeout_s, timeout_s)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM both processes, wait up to ``timeout_s``, then SIGKILL what is left."""
        state = self._state
        self._stop_procs(timeout_s)
        if state is not None:
            self._finish(state.cds_pending, Path(state.workdir) if state.owns_workdir else None)
        self._state = None

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- internals

    def _cds_flags(self, java: str, stage_dir: Path, name: str,
                   pending: list[tuple[str, str]]) -> list[str]:
        """AppCDS: dump a dynamic archive on the first clean exit, use it afterwards."""
        if not self._cds:
            return []
        tag = re.sub(r"[^A-Za-z0-9.]+", "_", os.path.realpath(java))
        archive = stage_dir / "cds" / f"{name}-{hashlib.sha256(tag.encode()).hexdigest()[:10]}.jsa"
        if archive.is_file() and archive.stat().st_size > 0:
            return [f"-XX:SharedArchiveFile={archive}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]
        archive.parent.mkdir(parents=True, exist_ok=True)
        tmp = archive.with_name(f"{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
        pending.append((str(tmp), str(archive)))
        return [f"-XX:ArchiveClassesAtExit={tmp}", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]

    @staticmethod
    def _format(java: str, classpath: str, cds: list[str], props: Path, log_path: Path,
                deadline: float) -> None:
        # The dump flag is for the broker only; a read-only archive is fine here.
        flags = [f for f in cds if not f.startswith("-XX:ArchiveClassesAtExit")]
        cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *flags,
               "-cp", classpath, "kafka.tools.StorageTool", "format",
               "-t", cluster_id(), "-c", str(props)]
        try:
            with log_path.open("wb") as out:
                code = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, check=False,
                                      timeout=max(deadline - time.monotonic(), 10)).returncode
        except subprocess.TimeoutExpired as exc:
            msg = f"kafka storage format timed out; see {log_path}"
            raise StackError(msg) from exc
        if code != 0:
            msg = f"kafka storage format failed (exit {code}), {log_path}:\n{_tail(log_path)}"
            raise StackError(msg)

    def _wait_ready(self, deadline: float, timeout_s: float) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.cimpl import NewTopic

        state = self.state
        info = state.info
        admin: AdminClient | None = None
        kafka_ok = registry_ok = False
        while True:
            for proc in self._procs:
                if not proc.running():
                    msg = (f"{proc.name} {proc.exit_note()} while starting; last lines of "
                           f"{proc.log}:\n{_tail(proc.log)}")
                    raise StackError(msg)
            if not kafka_ok and _port_open(state.broker_port):
                if admin is None:
                    admin = AdminClient({"bootstrap.servers": info.bootstrap,
                                         "socket.timeout.ms": 5000})
                try:
                    admin.list_topics(timeout=2)
                    futures = admin.create_topics(
                        [NewTopic(_READY_TOPIC, num_partitions=1, replication_factor=1)],
                        validate_only=True, request_timeout=5,
                    )
                    futures[_READY_TOPIC].result(timeout=10)
                    kafka_ok = True
                    elapsed = timeout_s - (deadline - time.monotonic())
                    log.debug("broker ready after %.1f s", elapsed)
                except (KafkaException, concurrent.futures.TimeoutError) as exc:
                    log.debug("broker not ready yet: %s", exc)
            if not registry_ok:
                registry_ok = _http_ok(f"{info.registry_url}/subjects")
                if registry_ok:
                    log.debug("registry ready after %.1f s",
                              timeout_s - (deadline - time.monotonic()))
            if kafka_ok and registry_ok:
                return
            if time.monotonic() > deadline:
                pending = (("kafka", kafka_ok), ("registry", registry_ok))
                waiting = [name for name, ok in pending if not ok]
                tails = "\n".join(f"--- {p.log}:\n{_tail(p.log, 20)}" for p in self._procs
                                  if p.name in waiting)
                msg = f"{' and '.join(waiting)} not ready after {timeout_s:.0f} s\n{tails}"
                raise StackError(msg)
            time.sleep(0.2)

    def _stop_procs(self, timeout_s: float) -> None:
        procs = [p for p in self._procs if p.running()]
        for proc in procs:
            proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(p.running() for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in procs:
            if proc.running():
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it",
                            proc.name, proc.pid, timeout_s)
                proc.signal(signal.SIGKILL)
        for proc in procs:
            if proc.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(timeout=10)
        kill_deadline = time.monotonic() + 10
        while any(p.running() for p in procs) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
        self._procs = []

    @staticmethod
    def _finish(cds_pending: list[tuple[str, str]], remove_dir: Path | None) -> None:
        for tmp_name, final_name in cds_pending:
            tmp, final = Path(tmp_name), Path(final_name)
            if tmp.is_file() and tmp.stat().st_size > 0 and not final.exists():
                os.replace(tmp, final)
                log.info("saved class-data archive %s", final)
            tmp.unlink(missing_ok=True)
        if remove_dir is not None:
            shutil.rmtree(remove_dir, ignore_errors=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _main() -> None:  # pragma: no cover - manual timing helper: python -m infra.stack
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    began = time.monotonic()
    stack = LocalStack()
    info = stack.start()
    ready = time.monotonic() - began
    stack.stop()
    log.info("ready %.1f s, stopped %.1f s: %s", ready, time.monotonic() - began - ready, info)


if __name__ == "__main__":  # pragma: no cover
    _main()
