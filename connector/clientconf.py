"""Kafka and schema registry client settings from the environment (``KAFKA_CONF_*``,
``SR_CONF_*``), with their secrets kept out of reprs and logs, and what a refusal of them
by the broker or the registry means.

``KAFKA_CONF_SASL_PASSWORD=...`` becomes the librdkafka setting ``sasl.password``. The
connector and the stream worker both read them; a ``ClientConf`` is the plain ``dict`` the
clients take, whose repr shows every setting's name but masks the values of secret ones
(passwords, keys, tokens, JAAS and basic-auth user info).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.errors import KafkaAuthError, RegistryConfigError

#: a setting whose name contains one of these holds a secret (``sasl.password``,
#: ``ssl.key.password``, ``ssl.key.pem``, ``sasl.oauthbearer.client.secret``,
#: ``sasl.jaas.config``, ``basic.auth.user.info``, ``bearer.auth.token``, ...)
SECRET_PARTS = ("password", "secret", "jaas", "user.info", "token", "key.pem",
                "oauthbearer.config", "credential")

MASK = "**********"


def is_secret(name: str) -> bool:
    """Whether the client setting ``name`` holds a secret."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_PARTS)


class ClientConf(dict[str, str]):
    """Client settings (a ``dict``); the repr masks the values of secret settings."""

    def __repr__(self) -> str:
        """``{'sasl.mechanism': 'PLAIN', 'sasl.password': '**********'}``."""
        shown = {name: MASK if is_secret(name) else value for name, value in self.items()}
        return repr(shown)  # ``str`` too: a dict's ``str`` is its ``repr``


def kafka_client_conf(bootstrap_servers: str, kafka_conf: Mapping[str, str]) -> dict[str, Any]:
    """What every Kafka client starts from: ``bootstrap.servers`` and the ``KAFKA_CONF_*``
    settings (each client then adds those its guarantees need)."""
    return {"bootstrap.servers": bootstrap_servers, **kafka_conf}


def passthrough(env: Mapping[str, str], prefix: str) -> ClientConf:
    """``KAFKA_CONF_SASL_MECHANISM=PLAIN`` -> ``{"sasl.mechanism": "PLAIN"}`` (for ``prefix``
    ``KAFKA_CONF_``)."""
    return ClientConf({
        name[len(prefix):].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(prefix)
    })


class AuthFailures:
    """A librdkafka ``error_cb`` that remembers the broker's last refusal of the client's
    credentials (SASL or TLS), to name the fix when a call then fails on "transport"."""

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, error: Any) -> None:
        from confluent_kafka import KafkaError

        if error.code() == KafkaError._AUTHENTICATION:  # noqa: SLF001 - librdkafka's name
            self.last = str(error.str())

    def watching(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        """``conf`` with this as its ``error_cb`` (for the ``AdminClient`` to ``check``)."""
        return {**conf, "error_cb": self}

    def check(self, admin: Any) -> None:
        """Raise ``KafkaAuthError`` (naming the settings to fix) when the broker refused
        the credentials of ``admin`` (an ``AdminClient`` made with this ``error_cb``: its
        callbacks are served here). Call it when a call of ``admin`` failed."""
        admin.poll(0)
        if self.last is not None:
            msg = (f"Kafka refused the client's credentials ({self.last}): check"
                   " KAFKA_CONF_SECURITY_PROTOCOL, KAFKA_CONF_SASL_MECHANISM,"
                   " KAFKA_CONF_SASL_USERNAME and KAFKA_CONF_SASL_PASSWORD (or the"
                   " KAFKA_CONF_SSL_* settings)")
            raise KafkaAuthError(msg)


def registry_refusal(error: Any, url: str) -> RegistryConfigError | None:
    """A ``SchemaRegistryError`` that settings cause, as the error naming them (None for
    others: an incompatible schema, a registry that is down, ...). A 404 without a
    registry error code is a URL that is not a registry's API: the calls made at start-up
    do not look up anything that may be missing."""
    status = getattr(error, "http_status_code", None)
    code = getattr(error, "error_code", None)
    detail = getattr(error, "error_message", None) or str(error)
    if status in (401, 403):
        return RegistryConfigError(
            f"the schema registry {url} refused the client's credentials (HTTP {status}:"
            f" {detail}): check SR_CONF_BASIC_AUTH_USER_INFO and"
            " SR_CONF_BASIC_AUTH_CREDENTIALS_SOURCE (or SR_CONF_BEARER_AUTH_*)")
    if status == 404 and (code is None or not 40400 <= code < 40500):
        return RegistryConfigError(
            f"{url} is not a schema registry's API (HTTP 404): check SCHEMA_REGISTRY_URL"
            " (a Confluent-compatible API; Apicurio's ends in /apis/ccompat/v7)")
    return None
