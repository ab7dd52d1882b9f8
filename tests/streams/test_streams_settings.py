"""streams.app.Settings.from_env and the ``cfkafka streams`` argv translation."""

from __future__ import annotations

import pytest

from streams.__main__ import faust_argv
from streams.app import ConfigError, Settings


def test_defaults():
    s = Settings.from_env({})
    assert (s.app_id, s.store, s.processing_guarantee) == (
        "cfkafka-streams",
        "rocksdb://",
        "exactly_once",
    )
    assert (s.topic_partitions, s.replication_factor, s.dedup_horizon_s) == (3, -1, 604800)
    assert s.broker_url == "kafka://127.0.0.1:9092"


def test_from_env():
    s = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2",
            "SCHEMA_REGISTRY_URL": "http://r/apis/ccompat/v7/",
            "STREAMS_STORE": "memory://",
            "STREAMS_PROCESSING_GUARANTEE": "at_least_once",
            "STREAMS_DEDUP_HORIZON_S": "60",
            "CFKAFKA_TOPIC_PARTITIONS": "6",
        }
    )
    assert s.broker_url == "kafka://a:1;kafka://b:2"
    assert s.registry_url == "http://r/apis/ccompat/v7"
    assert (s.store, s.processing_guarantee, s.dedup_horizon_s, s.topic_partitions) == (
        "memory://",
        "at_least_once",
        60,
        6,
    )


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


@pytest.mark.parametrize(
    "env",
    [
        {"STREAMS_SAMPLE_HTTP_ACTIVITY": "0"},
        {"STREAMS_SAMPLE_HTTP_ACTIVITY": "1.5"},
        {"STREAMS_SAMPLE_HTTP_ACTIVITY": "half"},
        {"STREAMS_MASK_INVENTORY": "email,phone"},
        {"STREAMS_LEGACY_AUDIT": "maybe"},
        {"STREAMS_METRICS_PORT": "70000"},
        {"STREAMS_PROCESSING_GUARANTEE": "at_most_once"},
        {"CFKAFKA_TOPIC_PARTITIONS": "three"},
        {"STREAMS_DEDUP_HORIZON_S": "0"},
    ],
)
def test_invalid(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_faust_argv_defaults():
    assert faust_argv([]) == ["-A", "streams.app", "-l", "info", "worker", "--without-web"]


def test_faust_argv_moves_global_options_before_worker():
    assert faust_argv(["--datadir", "/d", "-l", "debug", "--concurrency=2"]) == [
        "-A",
        "streams.app",
        "--datadir",
        "/d",
        "-l",
        "debug",
        "worker",
        "--without-web",
        "--concurrency=2",
    ]


def test_commit_interval():
    assert Settings.from_env({}).commit_interval_s == 1.0
    assert Settings.from_env({"STREAMS_COMMIT_INTERVAL_S": "1.5"}).commit_interval_s == 1.5
    for bad in ("0", "61", "soon"):
        with pytest.raises(ConfigError, match="STREAMS_COMMIT_INTERVAL_S"):
            Settings.from_env({"STREAMS_COMMIT_INTERVAL_S": bad})
