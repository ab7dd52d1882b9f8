import pytest

from connector.errors import ConfigError
from connector.settings import Secret, Settings

ACCOUNT = "0123456789abcdef0123456789abcdef"


def test_minimal_token_settings_and_defaults():
    s = Settings.from_env({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x" * 40})
    assert s.credentials.kind == "token"
    assert s.credentials.headers() == {"Authorization": "Bearer " + "x" * 40}
    assert s.settle_lag_s == 60.0
    assert s.per_page == 1000
    assert "x" * 40 not in repr(s)


def test_global_key_and_passthrough():
    s = Settings.from_env({
        "CF_ACCOUNT_ID": ACCOUNT, "CF_API_EMAIL": "a@b.c", "CF_API_KEY": "k" * 37,
        "KAFKA_CONF_SASL_MECHANISM": "PLAIN", "SR_CONF_BASIC_AUTH_USER_INFO": "u:p",
        "SCHEMA_REGISTRY_URL": "http://sr:8081/", "CF_SETTLE_LAG_S": "2.5",
    })
    assert s.credentials.headers() == {"X-Auth-Email": "a@b.c", "X-Auth-Key": "k" * 37}
    assert s.kafka_conf == {"sasl.mechanism": "PLAIN"}
    assert s.registry_conf == {"basic.auth.user.info": "u:p"}
    assert s.registry_url == "http://sr:8081"
    assert s.settle_lag_s == 2.5
    assert "k" * 37 not in repr(s)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "CF_ACCOUNT_ID is not set"),
        ({"CF_ACCOUNT_ID": "nope", "CF_API_TOKEN": "x"}, "32-character hex"),
        ({"CF_ACCOUNT_ID": ACCOUNT}, "CF_API_TOKEN is not set"),
        ({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_EMAIL": "a@b.c"}, "CF_API_KEY is not set"),
        ({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x", "CF_API_KEY": "y"}, "not both"),
        ({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x", "CF_PER_PAGE": "5000"}, "CF_PER_PAGE"),
        ({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x", "CF_SETTLE_LAG_S": "soon"}, "valid float"),
    ],
)
def test_invalid_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_feeds_are_validated():
    s = Settings.from_env({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x",
                           "CF_FEEDS": "audit_logs, access_requests,audit_logs"})
    assert s.feeds == ("audit_logs", "access_requests")
    with pytest.raises(ConfigError, match="CF_FEEDS has unknown feeds \\['dns'\\]"):
        Settings.from_env({"CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x", "CF_FEEDS": "dns"})


def test_secret_never_prints():
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"


def test_client_settings_keep_their_secrets_out_of_reprs():
    s = Settings.from_env({
        "CF_ACCOUNT_ID": ACCOUNT, "CF_API_TOKEN": "x" * 40,
        "KAFKA_CONF_SASL_USERNAME": "siem", "KAFKA_CONF_SASL_PASSWORD": "hunter2-kafka",
        "KAFKA_CONF_SSL_KEY_PASSWORD": "hunter2-key", "KAFKA_CONF_SASL_JAAS_CONFIG": "hunter2-j",
        "SR_CONF_BASIC_AUTH_USER_INFO": "key:hunter2-registry",
    })
    assert s.kafka_conf["sasl.password"] == "hunter2-kafka"  # the clients get the values
    assert s.registry_conf == {"basic.auth.user.info": "key:hunter2-registry"}
    for shown in (repr(s), str(s), repr(s.kafka_conf), f"{s.registry_conf}"):
        assert "hunter2" not in shown
    assert "'sasl.username': 'siem'" in repr(s) and "'sasl.password': '**********'" in repr(s)
