"""The local Kafka + registry stack: real broker, transactions, registry rules, `cfkafka dev`."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from infra import dev
from infra import stack as stack_mod
from infra.stack import SASL_PASSWORD, SASL_USER, LocalStack, StackError, StackInfo, pid_running

V1 = {
    "type": "record",
    "name": "Probe",
    "namespace": "cfkafka.test",
    "fields": [{"name": "id", "type": "string"}],
}
V2_COMPATIBLE = {**V1, "fields": [*V1["fields"], {"name": "n", "type": "int", "default": 0}]}
V3_INCOMPATIBLE = {**V1, "fields": [*V1["fields"], {"name": "m", "type": "string"}]}


def _consume_all(bootstrap: str, topic: str, expected: int, *, read_committed: bool = False,
                 timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
    })
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            values.append(msg.value())
    finally:
        consumer.close()
    return values


def test_produce_and_consume(stack: StackInfo) -> None:
    topic = f"test.plain.{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": stack.bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=b"hello")
    assert producer.flush(30) == 0
    del producer

    assert _consume_all(stack.bootstrap, topic, 1) == [b"hello"]


def test_transactional_producer_commits(stack: StackInfo) -> None:
    topic = f"test.tx.{uuid.uuid4().hex[:8]}"
    producer = Producer({
        "bootstrap.servers": stack.bootstrap,
        "transactional.id": f"test-tx-{uuid.uuid4().hex[:8]}",
    })
    producer.init_transactions(60)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"committed")
    producer.commit_transaction(30)
    del producer

    assert _consume_all(stack.bootstrap, topic, 1, read_committed=True) == [b"committed"]


def test_registry_enforces_backward_compatibility(stack: StackInfo) -> None:
    assert not stack.registry_url.endswith("/")
    subject = f"test.compat.{uuid.uuid4().hex[:8]}-value"
    with SchemaRegistryClient({"url": stack.registry_url}) as client:
        _check_backward(client, subject)


def _check_backward(client: SchemaRegistryClient, subject: str) -> None:
    first = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    client.set_compatibility(subject_name=subject, level="BACKWARD")
    assert client.get_compatibility(subject) == "BACKWARD"

    second = client.register_schema(subject, Schema(json.dumps(V2_COMPATIBLE), "AVRO"))
    assert second != first
    assert client.get_latest_version(subject).version == 2

    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(V3_INCOMPATIBLE), "AVRO"))
    assert refused.value.http_status_code == 409
    assert client.get_versions(subject) == [1, 2]


def test_dev_up_status_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CFKAFKA_HOME", str(tmp_path))
    assert dev.main(["status"]) == dev.EXIT_STOPPED
    capsys.readouterr()

    assert dev.main(["up"]) == 0
    exports = capsys.readouterr().out
    try:
        env = dict(
            line.removeprefix("export ").split("=", 1) for line in exports.splitlines()
        )
        assert set(env) == {"KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL",
                            "CFKAFKA_DEV_SASL_BOOTSTRAP"}
        state = json.loads((tmp_path / "dev.json").read_text())
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{state['broker_port']}"
        assert env["CFKAFKA_DEV_SASL_BOOTSTRAP"] == f"127.0.0.1:{state['sasl_port']}"

        assert dev.main(["status"]) == 0
        assert env["SCHEMA_REGISTRY_URL"] in capsys.readouterr().out
        assert dev.main(["up"]) == 0  # already running: same addresses, nothing new
        assert capsys.readouterr().out == exports

        producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
        producer.produce("test.dev", value=b"x")
        assert producer.flush(30) == 0
        del producer
        secured = Producer({"bootstrap.servers": env["CFKAFKA_DEV_SASL_BOOTSTRAP"],
                            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                            "sasl.username": SASL_USER, "sasl.password": SASL_PASSWORD})
        secured.produce("test.dev", value=b"y")
        assert secured.flush(30) == 0
        del secured
        with SchemaRegistryClient({"url": env["SCHEMA_REGISTRY_URL"]}) as client:
            assert client.get_subjects() == []
    finally:
        assert dev.main(["down"]) == 0

    marker = f"-Dcfkafka.stack={state['workdir']}"
    assert not pid_running(state["broker_pid"], marker)
    assert not pid_running(state["registry_pid"], marker)
    assert not (tmp_path / "dev.json").exists()
    assert dev.main(["status"]) == dev.EXIT_STOPPED


def test_stack_context_manager_stops_processes(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "work", log_dir=tmp_path / "logs")
    with stack as info:
        state = stack.state
        assert info == state.info
        assert stack.running()
        assert (tmp_path / "logs" / "kafka.log").is_file()
    assert not stack.running()
    assert not pid_running(state.broker_pid, state.marker)
    assert not pid_running(state.registry_pid, state.marker)
    host, port = info.bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0  # nothing listens any more


def test_stage_is_cached() -> None:
    first = stack_mod.stage()
    started = time.monotonic()
    assert stack_mod.stage() == first
    assert time.monotonic() - started < 1
    assert (first / "apicurio" / "quarkus-run.jar").is_file()
    assert list((first / "kafka-libs").glob("kafka_2.13-*.jar"))


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(stack_mod, "JVM_SEARCH_GLOBS", ())

    with pytest.raises(StackError, match=r"java not found on PATH: install Java 17\+"):
        LocalStack(tmp_path / "work").start(timeout_s=5)
    assert not (tmp_path / "work" / "kafka-data").exists()


def test_old_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "java"
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/bin")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(stack_mod, "JVM_SEARCH_GLOBS", ())

    with pytest.raises(StackError, match=r"is Java 11: install Java 17\+ \(e\.g\. apt-get"):
        stack_mod.find_java()


def test_early_exit_reports_the_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(LocalStack, "BROKER_JVM", ("-Xmx512m", "-XX:+NoSuchFlagForCfkafka"))
    with pytest.raises(StackError, match=r"(?s)kafka exit code 1 while starting.*NoSuchFlag"):
        LocalStack(tmp_path / "work").start(timeout_s=60)



def test_cluster_ids_never_start_with_a_dash():
    from infra.stack import cluster_id

    ids = [cluster_id() for _ in range(5000)]
    assert all(len(i) == 22 for i in ids)
    assert not [i for i in ids if i.startswith("-")]
