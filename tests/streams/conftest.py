"""Fixtures shared by the streams pipeline tests: codecs on an in-memory registry, and raw
messages encoded as the connector publishes them."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from faust.exceptions import AlreadyConfiguredWarning
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


@pytest.fixture
def agents_under_test(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """``(streams.agents, sent)``: the Faust app on ``memory://``, ``publish`` recording its
    calls in ``sent.calls`` and the codecs on an in-memory registry (``app.codecs``)."""
    from test_streams_dlq import Sent

    from streams import agents
    from streams.app import app

    with warnings.catch_warnings():  # several agent tests set it (Faust warns after the first)
        warnings.simplefilter("ignore", AlreadyConfiguredWarning)
        app.conf.store = "memory://"
    sent = Sent()
    monkeypatch.setattr(agents, "publish", sent)
    monkeypatch.setattr(app, "codecs", connect(MockRegistry()))
    return agents, sent
