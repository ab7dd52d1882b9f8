"""The same stack in Docker (testcontainers), for machines with a running Docker engine.

Kafka runs in KRaft mode from ``confluentinc/cp-kafka``; the registry is Apicurio Registry
3.3 in memory, reached through its Confluent-compatible API. The two containers do not talk
to each other (in-memory Apicurio needs no Kafka), so no shared Docker network is created.
Docker and testcontainers are imported lazily: importing this module never needs them.
"""

from __future__ import annotations

import gc
import warnings
from types import TracebackType
from typing import TYPE_CHECKING

from infra.stack import StackError, StackInfo

if TYPE_CHECKING:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.core.container import DockerContainer

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
REGISTRY_IMAGE = "apicurio/apicurio-registry:3.3.3"
REGISTRY_PORT = 8080
REGISTRY_PATH = "/apis/ccompat/v7"


def docker_available() -> bool:
    """True when a Docker engine answers (the client alone is not enough)."""
    # docker-py leaks its socket when the engine is absent; collect it here, quietly, rather
    # than let a ResourceWarning surface later in some unrelated test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=3)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - any failure means "no usable engine"
            return False
        finally:
            gc.collect()


class ContainerStack:
    """Kafka + Apicurio in containers; same ``start``/``stop``/context-manager API as LocalStack."""

    def __init__(self, *, kafka_image: str = KAFKA_IMAGE,
                 registry_image: str = REGISTRY_IMAGE) -> None:
        self._kafka_image = kafka_image
        self._registry_image = registry_image
        self._kafka: KafkaContainer | None = None
        self._registry: DockerContainer | None = None

    def start(self, timeout_s: float = 180) -> StackInfo:
        """Start both containers and wait until the broker and the registry answer."""
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import HttpWaitStrategy

        try:
            kafka = (
                KafkaContainer(self._kafka_image)
                .with_kraft()
                # one broker: internal topics (transactions too) must have one replica
                .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
                .with_env("KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS", "1")
            )
            self._kafka = kafka
            kafka.start(timeout=int(timeout_s))
            registry = (
                DockerContainer(self._registry_image)
                .with_exposed_ports(REGISTRY_PORT)
                .waiting_for(
                    HttpWaitStrategy(REGISTRY_PORT, f"{REGISTRY_PATH}/subjects")
                    .for_status_code(200)
                    .with_startup_timeout(int(timeout_s))
                )
            )
            self._registry = registry
            registry.start()
            host = registry.get_container_host_ip()
            port = registry.get_exposed_port(REGISTRY_PORT)
            return StackInfo(
                bootstrap=kafka.get_bootstrap_server(),
                registry_url=f"http://{host}:{port}{REGISTRY_PATH}",
            )
        except Exception as exc:
            self.stop()
            msg = f"could not start the Docker stack ({self._kafka_image}, {self._registry_image})"
            raise StackError(msg) from exc

    def stop(self) -> None:
        """Remove both containers (idempotent)."""
        for container in (self._registry, self._kafka):
            if container is not None:
                container.stop()
        self._registry = self._kafka = None

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
