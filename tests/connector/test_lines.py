"""connector.lines: choosing the native encoder, falling back to Python, and its errors."""

from __future__ import annotations

import importlib
import logging
from typing import Any

import pytest

import schemas
from connector import lines
from connector.errors import RecordError
from connector.feeds.http_requests import HttpRequests
from connector.lines import CompiledLineCodec, LineCodec
from schemas.registry import Encoder

FEED = HttpRequests()
ENCODER = Encoder(3, schemas.load(FEED.schema))
LINE = b'{"RayID":"00ab","ClientIP":"192.0.2.1","EdgeResponseStatus":200,"Extra1":[1]}'


def make(native: bool | None = None) -> CompiledLineCodec:
    return CompiledLineCodec(ENCODER, FEED.schema, FEED.key_field, FEED.json_fields,
                             native=native)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the looked-up module, so the next codec looks again."""
    monkeypatch.setattr(lines, "_native", {})


def test_native_is_used_when_installed(fresh: None) -> None:
    codec = make()
    assert codec.native is not None
    assert codec(LINE) == LineCodec(ENCODER, FEED.schema, FEED.key_field, FEED.json_fields)(LINE)


@pytest.mark.parametrize("value", ["0", "false", "OFF", "no"])
def test_env_switch_keeps_the_python_path(fresh: None, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture, value: str) -> None:
    monkeypatch.setenv(lines.NATIVE_ENV, value)
    with caplog.at_level(logging.INFO, logger="connector.lines"):
        first, second = make(), make()
    assert first.native is None and second.native is None
    assert first(LINE) == make(native=False)(LINE)
    assert len([r for r in caplog.records if "disabled" in r.getMessage()]) == 1
    with pytest.raises(RuntimeError, match="native encoder is not available"):
        make(native=True)


def test_missing_extension_is_logged_once_and_python_encodes(
        fresh: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real = importlib.import_module

    def no_native(name: str, *args: Any) -> Any:
        if name == "cfkafka_native":
            msg = "No module named 'cfkafka_native'"
            raise ImportError(msg)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_native)
    with caplog.at_level(logging.WARNING, logger="connector.lines"):
        codecs = [make() for _ in range(3)]
    assert all(c.native is None for c in codecs)
    warnings = [r for r in caplog.records if "not installed" in r.getMessage()]
    assert len(warnings) == 1
    key, value = codecs[0](LINE)
    assert key == b"00ab" and value.startswith(ENCODER.header)
    assert codecs[0].fallbacks == 0
    with pytest.raises(RecordError):
        codecs[0](b"not json")


def test_unsupported_schema_keeps_the_python_path(fresh: None) -> None:
    # the key field is not a string field: native refuses the schema, Python decides per line
    codec = CompiledLineCodec(ENCODER, FEED.schema, "EdgeResponseStatus", FEED.json_fields)
    assert codec.native is None
    with pytest.raises(RecordError, match="dedup key"):
        codec(LINE)


def test_too_deep_json_is_a_record_error_on_both_paths() -> None:
    deep = b'{"RayID":"a","JA4Signals":' + b"[" * 5000 + b"]" * 5000 + b"}"
    for codec in (make(), make(native=False), LineCodec(ENCODER, FEED.schema, FEED.key_field,
                                                        FEED.json_fields)):
        with pytest.raises(RecordError, match="not JSON"):
            codec(deep)
