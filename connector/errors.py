"""The connector's exception tree, by the action each error calls for.

::

    ConnectorError
    ├── ConfigError               bad settings: exit 2 at startup
    │   ├── KafkaAuthError        Kafka refused the client's credentials (KAFKA_CONF_*)
    │   └── RegistryConfigError   the registry refused the credentials (SR_CONF_*) or is not
    │                             at SCHEMA_REGISTRY_URL
    ├── SourceError               a Cloudflare API call failed (.status, .code, .url)
    │   ├── RetriableSourceError  429, 5xx, timeouts, resets: wait (.retry_after) and retry
    │   └── FatalSourceError      400/401/403/404, ``success: false``: stop, show the fix
    │       └── AuthError         credentials missing, malformed, wrong or not permitted
    ├── RecordError               one record cannot be encoded: DLQ it, continue
    ├── PublishError              Kafka did not commit the transaction: no checkpoint, retry
    └── CheckpointError           the offsets topic cannot be read
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""


class ConfigError(ConnectorError):
    """A setting is missing or invalid; the message names the setting."""


class KafkaAuthError(ConfigError):
    """The broker refused the Kafka client's credentials (SASL or TLS): no retry helps."""


class RegistryConfigError(ConfigError):
    """The schema registry refused the client's credentials, or ``SCHEMA_REGISTRY_URL`` is
    not a registry's API: no retry helps."""


class SourceError(ConnectorError):
    """A Cloudflare API call failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        url: str = "",
    ) -> None:
        """Keep the HTTP ``status``, Cloudflare error ``code`` and the ``url`` (no secrets)."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.url = url


class RetriableSourceError(SourceError):
    """A transient failure; retry after ``retry_after`` seconds if Cloudflare said so."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        """Like ``SourceError`` plus the server's ``Retry-After`` in seconds."""
        super().__init__(message, status=status, code=code, url=url)
        self.retry_after = retry_after


class FatalSourceError(SourceError):
    """A failure that retrying will not fix."""


class AuthError(FatalSourceError):
    """Credentials are missing, malformed, unknown, or lack a permission."""


class RecordError(ConnectorError):
    """One record cannot be converted or encoded; it goes to the DLQ."""


class PublishError(ConnectorError):
    """A Kafka transaction did not commit; the checkpoint did not move."""


class CheckpointError(ConnectorError):
    """The checkpoint store cannot be read or written."""
