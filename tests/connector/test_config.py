"""The YAML configuration file: accounts, zones, feeds, secrets, pass-through, env overrides."""

from pathlib import Path

import pytest

from connector.config import from_document, load
from connector.errors import ConfigError
from connector.jobs import jobs_from

A1 = "0123456789abcdef0123456789abcdef"
A2 = "fedcba9876543210fedcba9876543210"
Z1 = "023e105f4ecef8ad9ca31a8372d0c353"
Z2 = "372e67954025e0ba6aaa6d586b9e0b59"
Z3 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

FULL = f"""
cloudflare:
  poll_interval_s: 30
  settle_lag_s: 5
  skip_unauthorized_feeds: true
  logpull:
    fields: [ClientIP, RayID, EdgeStartTimestamp]
    sample: 0.5
    cve_2021_44228: true
    requests_per_minute: 10
accounts:
  - id: "{A1}"
    name: prod
    api_token: {{env: CF_TOKEN_PROD}}
    feeds: [audit_logs, access_requests, members, http_requests, user_audit_logs]
    zones:
      - "{Z1}"
      - {{id: "{Z2}", name: example.com, feeds: [firewall_events, http_requests]}}
  - id: "{A2}"
    api_email: sec@example.com
    api_key: {{file: KEYFILE}}
    feeds: [audit_logs_v2, access_users, firewall_events]
    zones: ["{Z3}"]
kafka:
  bootstrap.servers: broker:9093
  security.protocol: SASL_SSL
  sasl.mechanism: SCRAM-SHA-512
  sasl.password: {{env: KAFKA_PASSWORD}}
schema_registry:
  url: http://registry:8081/
  basic.auth.user.info: {{file: KEYFILE}}
connector:
  name: prod-cfkafka
  topic_partitions: 6
  metrics_port: 9400
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    key = tmp_path / "key"
    key.write_text("k" * 37 + "\n")
    path = tmp_path / "cfkafka.yaml"
    path.write_text(FULL.replace("KEYFILE", str(key)))
    return path


ENV = {"CF_TOKEN_PROD": "t" * 40, "KAFKA_PASSWORD": "hunter2"}


def test_full_file(config_file: Path) -> None:
    s = load(config_file, ENV)
    prod, other = s.accounts
    assert prod.account_id == A1 and prod.name == "prod"
    assert prod.credentials.headers() == {"Authorization": "Bearer " + "t" * 40}
    assert prod.feeds == ("audit_logs", "access_requests", "members", "user_audit_logs")
    assert [(z.zone_id, z.feeds) for z in prod.zones] == [
        (Z1, ("http_requests",)), (Z2, ("firewall_events", "http_requests"))]
    assert other.credentials.headers() == {"X-Auth-Email": "sec@example.com",
                                           "X-Auth-Key": "k" * 37}
    assert other.feeds == ("audit_logs_v2", "access_users")
    assert other.zones[0].feeds == ("firewall_events",)
    assert s.poll_interval_s == 30.0 and s.settle_lag_s == 5.0 and s.skip_unauthorized
    assert s.logpull_fields == ("ClientIP", "RayID", "EdgeStartTimestamp")
    assert s.logpull_options == {"sample": "0.5", "CVE-2021-44228": "true"}
    assert s.logpull_requests_per_minute == 10
    assert s.bootstrap_servers == "broker:9093"
    assert s.kafka_conf == {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                            "sasl.password": "hunter2"}
    assert s.registry_url == "http://registry:8081"
    assert s.registry_conf == {"basic.auth.user.info": "k" * 37}
    assert (s.connector_name, s.topic_partitions, s.metrics_port) == ("prod-cfkafka", 6, 9400)
    assert "t" * 40 not in repr(s) and "k" * 37 not in repr(s.accounts)


def test_every_feed_x_scope_becomes_a_job_with_its_accounts_credential(config_file: Path) -> None:
    s = load(config_file, ENV)
    jobs = jobs_from(s)
    assert [(j.feed, j.scope, j.account.account_id) for j in jobs] == [
        ("audit_logs", f"account:{A1}", A1),
        ("access_requests", f"account:{A1}", A1),
        ("members", f"account:{A1}", A1),
        ("user_audit_logs", f"user:{A1}", A1),
        ("http_requests", f"zone:{Z1}", A1),
        ("firewall_events", f"zone:{Z2}", A1),
        ("http_requests", f"zone:{Z2}", A1),
        ("audit_logs_v2", f"account:{A2}", A2),
        ("access_users", f"account:{A2}", A2),
        ("firewall_events", f"zone:{Z3}", A2),
    ]
    suffixes = [j.transactional_id_suffix for j in jobs]
    assert len(set(suffixes)) == len(suffixes), "every job fences only its own predecessor"
    user_job = jobs[3]
    assert user_job.subjects == {"cloudflare.audit_logs.v1": "cloudflare.audit_logs"}


def test_environment_overrides_the_file(config_file: Path) -> None:
    s = load(config_file, {**ENV, "CF_POLL_INTERVAL_S": "7", "KAFKA_BOOTSTRAP_SERVERS": "b:1",
                           "KAFKA_CONF_SASL_MECHANISM": "PLAIN"})
    assert s.poll_interval_s == 7.0
    assert s.bootstrap_servers == "b:1"
    assert s.kafka_conf["sasl.mechanism"] == "PLAIN"


def test_file_without_accounts_takes_the_account_from_the_environment() -> None:
    s = from_document({"connector": {"name": "x"}},
                      {"CF_ACCOUNT_ID": A1, "CF_API_TOKEN": "t", "CF_FEEDS": "members"})
    assert s.account_id == A1 and s.feeds == ("members",) and s.connector_name == "x"


def _account(**extra: object) -> dict[str, object]:
    return {"accounts": [{"id": A1, "api_token": "t", **extra}]}


@pytest.mark.parametrize(
    ("document", "env", "message"),
    [
        ({"clouflare": {}}, {}, r"clouflare in f: unknown key; did you mean cloudflare\?"),
        ({"cloudflare": {"poll_interval": 3}, **_account()}, {},
         r"cloudflare.poll_interval in f: unknown key; did you mean poll_interval_s\?"),
        ({"cloudflare": {"logpull": {"sampel": 1}}, **_account()}, {},
         r"cloudflare.logpull.sampel in f: unknown key; did you mean sample\?"),
        ({"cloudflare": {"per_page": 5000}, **_account()}, {},
         r"cloudflare.per_page in f='5000' must be between 1 and 1000"),
        ({"cloudflare": {"settle_lag_s": "soon"}, **_account()}, {},
         r"cloudflare.settle_lag_s in f='soon' is not a valid float"),
        ({"cloudflare": {"skip_unauthorized_feeds": "maybe"}, **_account()}, {},
         "must be true or false"),
        ({"accounts": []}, {}, "accounts in f: expected a non-empty list"),
        ({"accounts": [{"api_token": "t"}]}, {}, r"accounts\[0\] in f: has no id"),
        ({"accounts": [{"id": "nope", "api_token": "t"}]}, {},
         r"accounts\[0\].id in f must be a 32-character hex account id"),
        ({"accounts": [{"id": A1}]}, {}, r"accounts\[0\] in f: has no credential"),
        (_account(api_email="a@b.c"), {}, "not both"),
        ({"accounts": [{"id": A1, "api_email": "a@b.c"}]}, {},
         r"accounts\[0\].api_key in f: is not set"),
        (_account(api_token={"env": "NOPE"}), {}, "environment variable NOPE is not set"),
        ({"accounts": [{"id": A1, "api_token": {"file": "/nonexistent/x"}}]}, {},
         r"accounts\[0\].api_token in f: cannot read secret file /nonexistent/x"),
        (_account(api_token={"vault": "x"}), {}, r"expected a string, \{env: NAME\}"),
        (_account(feeds=["dns"]), {}, r"accounts\[0\].feeds in f has unknown feeds \['dns'\]"),
        (_account(feeds=[]), {}, r"accounts\[0\].feeds in f is empty"),
        (_account(feeds=["http_requests"]), {},
         r"accounts\[0\].zones in f: is empty \(http_requests are pulled per zone\)"),
        (_account(zones=[Z1]), {}, r"accounts\[0\].zones\[0\] in f: has no feeds"),
        (_account(zones=[{"id": Z1, "feeds": ["audit_logs"]}]), {},
         r"accounts\[0\].zones\[0\].feeds in f has unknown feeds \['audit_logs'\]"),
        (_account(zones=[{"id": "bad", "feeds": ["http_requests"]}]), {},
         r"accounts\[0\].zones\[0\].id in f has invalid zone ids"),
        (_account(zones=[{"id": Z1, "feed": []}]), {},
         r"accounts\[0\].zones\[0\].feed in f: unknown key; did you mean feeds\?"),
        ({"accounts": [{"id": A1, "api_token": "t"}, {"id": A1, "api_token": "u"}]}, {},
         r"accounts\[1\] in f: 0123456789abcdef0123456789abcdef is configured twice "
         r"\(also in accounts\[0\] in f\)"),
        (_account(), {"CF_ACCOUNT_ID": A1}, "CF_ACCOUNT_ID set in the environment, but f lists"),
        ({"kafka": ["x"], **_account()}, {}, "kafka in f: expected a mapping, got list"),
    ],
)
def test_invalid_files_name_the_key(document: object, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_document(document, env, "f")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load(tmp_path / "missing.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - id: x\n   api_token: y\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line 3, column 4 is not valid YAML"):
        load(bad, {})


def test_the_example_file_in_the_repository_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "cfkafka.example.yaml"
    text = example.read_text()
    for name in ("cf_global_key", "registry_user_info"):
        secret = tmp_path / name
        secret.write_text("s3cret\n")
        text = text.replace(f"/run/secrets/{name}", str(secret))
    path = tmp_path / "cfkafka.yaml"
    path.write_text(text)
    s = load(path, {"CF_API_TOKEN_PROD": "t", "KAFKA_PASSWORD": "p"})
    assert [a.name for a in s.accounts] == ["production", "legacy"]
    assert s.accounts[1].feeds == ("audit_logs", "user_audit_logs")
    assert s.kafka_conf["sasl.password"] == "p"
    assert len(jobs_from(s)) == 5 + 3 + 2
