"""Fixtures shared by the streams tests: codecs on an in-memory registry, raw messages
encoded as the connector publishes them, and ``Handlers`` writing to a recording sink with
memory-backed table partitions (no Kafka)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_streams_codecs import MockRegistry
from test_streams_handlers import Wiring
from test_streams_pipeline import Raw

from streams.codecs import Codecs, connect
from streams.pipeline import Options


@pytest.fixture
def codecs() -> Codecs:
    registry = MockRegistry()
    found = connect(registry)
    found.raw._client = registry  # noqa: SLF001 - same registry for raw schemas
    return found


@pytest.fixture
def raw(codecs: Codecs) -> Raw:
    return Raw(codecs.raw._client)  # noqa: SLF001


@pytest.fixture
def wiring(codecs: Codecs) -> Callable[..., Wiring]:
    """``wiring(options=..., partitions=3, now=...)``: ``Handlers`` on ``codecs`` whose sink
    records every call (``.sink.records``) and whose tables are ``Partition``s on
    ``MemoryBackend`` (``.table(name, number)``)."""

    def make(options: Options | None = None, partitions: int = 3,
             now: float = 1_780_000_000.0) -> Wiring:
        return Wiring.build(codecs, options or Options(), partitions, now)

    return make
