"""Fixtures shared by the streams pipeline tests: codecs on an in-memory registry, and raw
messages encoded as the connector publishes them."""

from __future__ import annotations

import pytest
from test_streams_codecs import MockRegistry
from test_streams_pipeline import Raw

from streams.codecs import Codecs, connect


@pytest.fixture
def codecs() -> Codecs:
    registry = MockRegistry()
    found = connect(registry)
    found.raw._client = registry  # noqa: SLF001 - same registry for raw schemas
    return found


@pytest.fixture
def raw(codecs: Codecs) -> Raw:
    return Raw(codecs.raw._client)  # noqa: SLF001
