"""Pick the broker and registry for tests and the demo: environment, Docker, or local JVMs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from infra.stack import LocalStack, StackInfo

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stack_from_environment(timeout_s: float = 180) -> Iterator[StackInfo]:
    """Yield a usable stack, in this order of preference.

    1. ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL`` both set: use them, start nothing.
    2. A Docker engine answers: :class:`infra.containers.ContainerStack`.
    3. Otherwise: :class:`infra.stack.LocalStack` (Java + Maven Central jars).
    """
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    registry = os.environ.get("SCHEMA_REGISTRY_URL", "").strip()
    if bootstrap and registry:
        log.info("using the stack from the environment: %s, %s", bootstrap, registry)
        sasl = os.environ.get("CFKAFKA_DEV_SASL_BOOTSTRAP", "").strip() or None
        yield StackInfo(bootstrap=bootstrap, registry_url=registry.rstrip("/"),
                        sasl_bootstrap=sasl)
        return

    from infra.containers import ContainerStack, docker_available

    if docker_available():
        log.info("Docker is reachable: starting the stack in containers")
        with ContainerStack() as info:
            yield info
        return
    log.info("no Docker engine: starting the stack as local JVMs")
    stack = LocalStack()
    info = stack.start(timeout_s)
    try:
        yield info
    finally:
        stack.stop()
