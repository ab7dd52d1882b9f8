"""streams.settings.Settings.from_env, and the ``cfkafka streams`` entry point in
streams.app (arguments, exit codes, the composition of the worker)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from test_streams_codecs import MockRegistry

import streams.app
import streams.startup
import streams.worker
from streams.app import build, describe, main, options, parse_args
from streams.codecs import Codecs
from streams.enrich import Roster
from streams.settings import ConfigError, Settings
from streams.topics import enabled, tables
from streams.worker import WorkerError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults():
    s = Settings.from_env({})
    assert (s.app_id, s.store, s.processing_guarantee) == (
        "cfkafka-streams",
        "rocksdb://",
        "exactly_once",
    )
    assert (s.topic_partitions, s.replication_factor, s.dedup_horizon_s) == (3, -1, 604800)
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert (s.commit_interval_s, s.transaction_timeout_s, s.max_batch) == (0.1, 10, 2000)
    assert s.instance_id == ""


def test_from_env():
    s = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2",
            "SCHEMA_REGISTRY_URL": "http://r/apis/ccompat/v7/",
            "STREAMS_STORE": "memory://",
            "STREAMS_PROCESSING_GUARANTEE": "at_least_once",
            "STREAMS_DEDUP_HORIZON_S": "60",
            "CFKAFKA_TOPIC_PARTITIONS": "6",
            "STREAMS_INSTANCE_ID": " worker-2 ",
            "STREAMS_TRANSACTION_TIMEOUT_S": "30",
            "STREAMS_MAX_BATCH": "500",
            "STREAMS_COMMIT_RETRY_S": "15",
        }
    )
    assert s.bootstrap_servers == "a:1,b:2"
    assert s.registry_url == "http://r/apis/ccompat/v7"
    assert (s.store, s.processing_guarantee, s.dedup_horizon_s, s.topic_partitions) == (
        "memory://",
        "at_least_once",
        60,
        6,
    )
    assert (s.instance_id, s.transaction_timeout_s, s.max_batch) == ("worker-2", 30, 500)
    assert (s.commit_retry_s, Settings.from_env({}).commit_retry_s) == (15, 120)


def test_route_settings():
    s = Settings.from_env(
        {
            "STREAMS_SAMPLE_HTTP_ACTIVITY": "0.25",
            "STREAMS_MASK_AUTHENTICATION": "email,ip",
            "STREAMS_MASK_HTTP_ACTIVITY": "ip",
            "STREAMS_MASK_AUDIT": "email",
            "STREAMS_MASK_KEY": "s3cret",
            "STREAMS_LEGACY_AUDIT": "false",
            "STREAMS_METRICS_PORT": "9401",
        }
    )
    assert s.sample_rates == {"http_activity": 0.25}
    assert s.masks == {
        "authentication": frozenset({"email", "ip"}),
        "http_activity": frozenset({"ip"}),
        "audit": frozenset({"email"}),
    }
    assert s.mask_key == b"s3cret"
    assert "s3cret" not in repr(s)
    assert (s.legacy_audit, s.metrics_port) == (False, 9401)


def test_route_defaults():
    s = Settings.from_env({"STREAMS_SAMPLE_HTTP_ACTIVITY": "1"})
    assert (s.sample_rates, s.masks, s.mask_key, s.legacy_audit, s.metrics_port) == (
        {}, {}, None, True, 0
    )


def test_datasets_and_alert_settings():
    s = Settings.from_env({"STREAMS_DATASETS": "members, audit_logs,members",
                           "STREAMS_ALERTS": "off", "STREAMS_ALERT_DENIALS_THRESHOLD": "7"})
    assert s.datasets == ("audit_logs", "members")  # in the known order, once each
    assert s.alerts is False
    assert s.alert_config.denials_threshold == 7


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STREAMS_SAMPLE_HTTP_ACTIVITY": "0"}, "STREAMS_SAMPLE_HTTP_ACTIVITY"),
        ({"STREAMS_SAMPLE_HTTP_ACTIVITY": "1.5"}, "STREAMS_SAMPLE_HTTP_ACTIVITY"),
        ({"STREAMS_SAMPLE_HTTP_ACTIVITY": "half"}, "STREAMS_SAMPLE_HTTP_ACTIVITY"),
        ({"STREAMS_MASK_INVENTORY": "email,phone"}, "STREAMS_MASK_INVENTORY"),
        ({"STREAMS_LEGACY_AUDIT": "maybe"}, "STREAMS_LEGACY_AUDIT"),
        ({"STREAMS_METRICS_PORT": "70000"}, "STREAMS_METRICS_PORT"),
        ({"STREAMS_PROCESSING_GUARANTEE": "at_most_once"}, "STREAMS_PROCESSING_GUARANTEE"),
        ({"CFKAFKA_TOPIC_PARTITIONS": "three"}, "CFKAFKA_TOPIC_PARTITIONS"),
        ({"STREAMS_DEDUP_HORIZON_S": "0"}, "STREAMS_DEDUP_HORIZON_S"),
        ({"STREAMS_STORE": "redis://"}, "STREAMS_STORE"),
        ({"STREAMS_STORE": "rocksdb"}, "STREAMS_STORE"),
        ({"STREAMS_TRANSACTION_TIMEOUT_S": "0"}, "STREAMS_TRANSACTION_TIMEOUT_S"),
        ({"STREAMS_TRANSACTION_TIMEOUT_S": "ten"}, "STREAMS_TRANSACTION_TIMEOUT_S"),
        ({"STREAMS_MAX_BATCH": "0"}, "STREAMS_MAX_BATCH"),
        ({"STREAMS_COMMIT_RETRY_S": "0"}, "STREAMS_COMMIT_RETRY_S"),
        ({"STREAMS_COMMIT_RETRY_S": "2m"}, "STREAMS_COMMIT_RETRY_S"),
        ({"STREAMS_MAX_BATCH": "1e3"}, "STREAMS_MAX_BATCH"),
        ({"STREAMS_DATASETS": "audit_logs,nope"}, "STREAMS_DATASETS"),
        ({"STREAMS_DATASETS": " , "}, "STREAMS_DATASETS"),
        ({"STREAMS_ALERT_DENIALS_THRESHOLD": "many"}, "STREAMS_ALERT_DENIALS_THRESHOLD"),
    ],
)
def test_invalid(env: dict[str, str], named: str):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize("store", ["memory://", "rocksdb://", "rocksdb:///var/lib/x"])
def test_store_schemes(store: str):
    assert Settings.from_env({"STREAMS_STORE": store}).store == store


def test_commit_interval():
    assert Settings.from_env({"STREAMS_COMMIT_INTERVAL_S": "1.5"}).commit_interval_s == 1.5
    for edge in ("0.01", "60"):
        assert Settings.from_env({"STREAMS_COMMIT_INTERVAL_S": edge}).commit_interval_s == float(
            edge)
    for bad in ("0", "0.009", "61", "soon", "nan"):
        with pytest.raises(ConfigError, match="STREAMS_COMMIT_INTERVAL_S"):
            Settings.from_env({"STREAMS_COMMIT_INTERVAL_S": bad})


def test_transactional_id():
    assert Settings(app_id="app", instance_id="w1").transactional_id == "app-w1"
    derived = Settings(app_id="app", datadir="/data/a").transactional_id
    assert derived.startswith("app-") and len(derived) > len("app-")
    assert derived == Settings(app_id="app", datadir="/data/a").transactional_id, "stable"
    assert derived != Settings(app_id="app", datadir="/data/b").transactional_id
    assert derived != Settings(app_id="other", datadir="/data/a").transactional_id


def test_names_derived_from_the_app_id():
    s = Settings(app_id="app")
    assert s.changelog("audit_logs-seen") == "app-audit_logs-seen-changelog"
    assert s.alert_events == "app-alert-events"


# --- streams.app: arguments, main, the composition root ---------------------------------


def test_parse_args():
    args = parse_args([])
    assert (args.loglevel, args.datadir) == ("info", None)
    args = parse_args(["-l", "debug", "--datadir", "/d"])
    assert (args.loglevel, args.datadir) == ("debug", "/d")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["-l", "loud"])
    assert exit_info.value.code == 2


def test_main_exits_2_naming_a_bad_setting(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]):
    def run(settings: Settings) -> int:
        raise AssertionError("must not run")

    monkeypatch.setattr(streams.app, "run", run)
    assert main([], {"STREAMS_MAX_BATCH": "lots"}) == 2
    err = capsys.readouterr().err
    assert err.startswith("cfkafka streams: ") and "STREAMS_MAX_BATCH" in err


def test_main_runs_with_the_settings_and_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch):
    seen: list[Settings] = []

    def run(settings: Settings) -> int:
        seen.append(settings)
        return 7

    monkeypatch.setattr(streams.app, "run", run)
    env = {"STREAMS_DATADIR": "/from-env", "STREAMS_APP_ID": "x", "STREAMS_STORE": "memory://"}
    assert main(["-D", "/from-args"], env) == 7
    assert main([], env) == 7
    assert [(s.app_id, s.datadir, s.store) for s in seen] == [
        ("x", "/from-args", "memory://"), ("x", "/from-env", "memory://")]


def test_python_m_streams_exits_2_on_a_bad_setting():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMS_", "CFKAFKA_"))}
    env["STREAMS_PROCESSING_GUARANTEE"] = "maybe_once"
    done = subprocess.run([sys.executable, "-m", "streams"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "STREAMS_PROCESSING_GUARANTEE" in done.stderr


def test_options_follow_the_settings():
    on = options(Settings(app_id="app", masks={"audit": frozenset({"email"})}), Roster())
    assert on.alert_rules and on.alert_topic == "app-alert-events"
    assert on.enricher is not None and set(on.maskers) == {"audit"}
    off = options(Settings(alerts=False, enrich=False, legacy_audit=False), Roster())
    assert (off.alert_rules, off.enricher, off.legacy_audit, dict(off.maskers)) == (
        (), None, False, {})


def test_build_composes_a_worker_for_the_settings(codecs: Codecs, tmp_path: Path):
    settings = Settings(app_id="app", datasets=("audit_logs", "members"), store="memory://",
                        topic_partitions=5, datadir=str(tmp_path))
    worker = build(settings, codecs, Roster())
    assert {name: t.changelog for name, t in worker.tables.items()} == tables(settings)
    assert set(worker.datasets) == {d.topic for d in enabled(settings)}
    assert set(worker.handlers.metrics) == {"audit_logs", "members"}
    assert worker.handlers.partitions == 5 and worker.handlers.codecs is codecs
    assert worker.alert_topic == "app-alert-events"
    line = describe(settings)
    assert settings.transactional_id in line and "store=memory://" in line


class _Worker:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.handlers = None

    def run(self) -> int:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return int(self.outcome)


@pytest.mark.parametrize(("prepared", "outcome", "code"), [
    (streams.startup.TopologyError("wrong partition counts"), 0, 2),
    (KafkaException("no broker"), 0, 1),
    (None, WorkerError("fenced"), 1),
    (None, 0, 0),
])
def test_run_exit_codes(monkeypatch: pytest.MonkeyPatch, codecs: Codecs, prepared: Any,
                        outcome: Any, code: int):
    def prepare(settings: Settings) -> Codecs:
        if prepared is not None:
            raise prepared
        return codecs

    ran: list[bool] = []
    monkeypatch.setattr(streams.startup, "prepare", prepare)
    monkeypatch.setattr(streams.app, "build",
                        lambda s, c, r: ran.append(True) or _Worker(outcome))
    monkeypatch.setattr(streams.app, "install_signals", lambda worker: None)
    watched: list[Any] = []
    monkeypatch.setattr(streams.app, "watch_commits", watched.append)
    assert streams.app.run(Settings(enrich=False, metrics_port=0)) == code
    assert ran == ([True] if prepared is None else [])
    assert len(watched) == len(ran)  # a running worker has its commit watchdog


SECURE_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "broker:9093",
    "KAFKA_CONF_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_CONF_SASL_MECHANISM": "PLAIN",
    "KAFKA_CONF_SASL_USERNAME": "siem",
    "KAFKA_CONF_SASL_PASSWORD": "hunter2-kafka",
    "KAFKA_CONF_COMPRESSION_TYPE": "zstd",
    # settings the worker's guarantees need: ignored
    "KAFKA_CONF_ISOLATION_LEVEL": "read_uncommitted",
    "KAFKA_CONF_ENABLE_IDEMPOTENCE": "false",
    "KAFKA_CONF_ENABLE_AUTO_COMMIT": "true",
    "KAFKA_CONF_GROUP_ID": "other",
    "SR_CONF_BASIC_AUTH_USER_INFO": "key:hunter2-registry",
}
SECURITY = {"bootstrap.servers": "broker:9093", "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN", "sasl.username": "siem", "sasl.password": "hunter2-kafka"}


def test_kafka_and_registry_client_settings_pass_through_with_secrets_masked():
    s = Settings.from_env(SECURE_ENV)
    assert s.client_conf().items() >= SECURITY.items()
    assert s.registry_conf == {"basic.auth.user.info": "key:hunter2-registry"}
    shown = repr(s)
    assert "hunter2" not in shown and "hunter2" not in str(s.kafka_conf)
    assert "'sasl.password': '**********'" in shown and "'sasl.username': 'siem'" in shown
    assert Settings.from_env({}).client_conf() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_every_worker_client_gets_the_client_settings(
        monkeypatch: pytest.MonkeyPatch, codecs: Codecs, tmp_path: Path):
    settings = dataclasses.replace(Settings.from_env(SECURE_ENV), app_id="app",
                                   store="memory://", datadir=str(tmp_path))
    worker = build(settings, codecs, Roster())
    consumer = worker._consumer_conf()  # noqa: SLF001
    producer = worker._producer_conf()  # noqa: SLF001
    for conf in (consumer, producer):
        assert conf.items() >= SECURITY.items()
    # tuning may be changed; what exactly-once needs may not
    assert producer["compression.type"] == "zstd"
    assert producer["enable.idempotence"] is True
    assert producer["transactional.id"] == settings.transactional_id
    assert (consumer["isolation.level"], consumer["enable.auto.commit"],
            consumer["group.id"]) == ("read_committed", False, "app")
    restored: list[dict[str, Any]] = []
    monkeypatch.setattr(streams.worker, "restore", lambda conf, parts: restored.append(conf) or 0)
    worker.on_assign(None, [])  # the changelog restore's consumer
    assert restored[0].items() >= SECURITY.items()


def test_startup_and_the_roster_reader_use_the_client_settings(
        monkeypatch: pytest.MonkeyPatch, codecs: Codecs):
    settings = Settings.from_env({**SECURE_ENV, "STREAMS_METRICS_PORT": "0"})
    seen: dict[str, Any] = {}

    class Admin:
        def __init__(self, conf: dict[str, Any]) -> None:
            seen["admin"] = conf

    def registry(url: str, conf: Any = None) -> Any:
        seen["registry"] = conf
        return MockRegistry()

    monkeypatch.setattr(streams.startup, "AdminClient", Admin)
    for name in ("ensure_topics", "check_partitions"):
        monkeypatch.setattr(streams.startup, name, lambda *a, **k: [])
    monkeypatch.setattr(streams.startup, "resolve_replication", lambda admin, r: 1)
    monkeypatch.setattr(streams.startup, "partition_counts", lambda admin, names: {})
    monkeypatch.setattr(streams.startup, "registry_client", registry)
    streams.startup.prepare(settings)
    assert seen["admin"].items() >= SECURITY.items()
    assert seen["registry"] == {"basic.auth.user.info": "key:hunter2-registry"}

    class Reader:
        def __init__(self, conf: dict[str, Any], *args: Any) -> None:
            seen["roster"] = conf

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

    monkeypatch.setattr(streams.startup, "prepare", lambda s: codecs)
    monkeypatch.setattr(streams.app, "RosterReader", Reader)
    monkeypatch.setattr(streams.app, "build", lambda s, c, r: _Worker(0))
    monkeypatch.setattr(streams.app, "install_signals", lambda worker: None)
    monkeypatch.setattr(streams.app, "watch_commits", lambda worker: None)
    assert streams.app.run(settings) == 0
    assert seen["roster"].items() >= SECURITY.items()
