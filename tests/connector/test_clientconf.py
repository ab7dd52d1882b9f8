"""connector.clientconf: the ``KAFKA_CONF_*``/``SR_CONF_*`` pass-through, the masked repr,
and what a refusal by the broker or the registry is reported as."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.schema_registry.error import SchemaRegistryError

from connector.clientconf import MASK, AuthFailures, ClientConf, passthrough, registry_refusal
from connector.errors import ConfigError, KafkaAuthError, RegistryConfigError

URL = "http://registry:8081"


def test_passthrough_maps_names_and_masks_only_secrets():
    conf = passthrough({"KAFKA_CONF_SASL_USERNAME": "siem", "KAFKA_CONF_SASL_PASSWORD": "pw1",
                        "KAFKA_CONF_SSL_KEY_PEM": "pem", "KAFKA_CONF_SASL_OAUTHBEARER_CONFIG": "c",
                        "KAFKA_CONF_SSL_CA_LOCATION": "/ca.pem", "OTHER": "x"}, "KAFKA_CONF_")
    assert conf == {"sasl.username": "siem", "sasl.password": "pw1", "ssl.key.pem": "pem",
                    "sasl.oauthbearer.config": "c", "ssl.ca.location": "/ca.pem"}
    assert isinstance(conf, dict)
    assert repr(conf) == str(conf) == repr({
        "sasl.username": "siem", "sasl.password": MASK, "ssl.key.pem": MASK,
        "sasl.oauthbearer.config": MASK, "ssl.ca.location": "/ca.pem"})
    assert repr(ClientConf()) == "{}"


class _Admin:
    def __init__(self, errors: list[KafkaError], refused: AuthFailures) -> None:
        self.errors, self.refused = errors, refused

    def poll(self, timeout: float) -> int:  # serves the queued error callbacks
        for error in self.errors:
            self.refused(error)
        return len(self.errors)


def test_auth_failures_name_the_settings_only_after_a_refusal():
    refused = AuthFailures()
    refused.check(_Admin([KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")],
                         refused))  # an outage: nothing to say, the caller retries
    denied = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: Authentication"
                        " failed: Invalid username or password")
    with pytest.raises(KafkaAuthError, match="Invalid username or password") as raised:
        refused.check(_Admin([denied], refused))
    assert "KAFKA_CONF_SASL_PASSWORD" in str(raised.value)
    assert isinstance(raised.value, ConfigError)  # exit 2


@pytest.mark.parametrize(("status", "code", "names"), [
    (401, 40101, "SR_CONF_BASIC_AUTH_USER_INFO"),
    (403, None, "SR_CONF_BASIC_AUTH_USER_INFO"),
    (404, None, "SCHEMA_REGISTRY_URL"),
    (404, -1, "SCHEMA_REGISTRY_URL"),
])
def test_registry_refusals_caused_by_settings_name_them(status: int, code: Any, names: str):
    found = registry_refusal(SchemaRegistryError(status, code, "no"), URL)
    assert isinstance(found, RegistryConfigError) and isinstance(found, ConfigError)
    assert names in str(found) and URL in str(found) and f"HTTP {status}" in str(found)


@pytest.mark.parametrize(("status", "code"), [
    (404, 40401),  # subject not found: a registry answering
    (409, 409),  # incompatible schema
    (422, 42201),  # invalid schema
    (500, 50001),
    (None, None),  # no answer
])
def test_other_registry_errors_are_not_settings_errors(status: Any, code: Any):
    assert registry_refusal(SchemaRegistryError(status, code, "no"), URL) is None
