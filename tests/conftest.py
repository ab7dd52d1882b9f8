"""Shared fixtures for all tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.select import stack_from_environment
from infra.stack import StackInfo


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    """A real Kafka broker + Confluent-compatible registry for the whole session.

    From KAFKA_BOOTSTRAP_SERVERS + SCHEMA_REGISTRY_URL when both are set, else Docker
    (testcontainers) when an engine answers, else local JVMs (infra/stack.py).
    """
    with stack_from_environment() as info:
        yield info
