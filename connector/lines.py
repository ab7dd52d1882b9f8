"""Encoding NDJSON lines of a feed into (Kafka key, Confluent-framed Avro value).

Three codecs, one result (tested byte for byte):

- ``LineCodec``: ``json.loads`` + ``convert.to_record`` + fastavro, the schema-driven reference;
- ``CompiledLineCodec`` on its Python path: guarded orjson + ``fastencode``'s compiled encoder;
- ``CompiledLineCodec`` with the native encoder (``cfkafka_native``, Rust, built from
  ``native/`` by ``make install``): one pass from JSON text to Avro bytes, no Python objects
  per field. It encodes the common line and hands every other line (unknown fields for
  ``extra``, mistyped values, bad JSON, a missing key, ...) to the Python path, so ``extra``
  and dead-letter decisions are always Python's.

Without ``cfkafka_native`` (not built, or ``CFKAFKA_NATIVE=0``) the Python path does
everything; that is logged once per process.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

import schemas
from connector import convert
from connector.errors import RecordError
from connector.fastencode import compile_encoder, loads_line, native_spec
from schemas.registry import Encoder

log = logging.getLogger(__name__)

#: Set to 0/false/off/no to keep the native encoder out (for comparisons and diagnosis).
NATIVE_ENV = "CFKAFKA_NATIVE"


def keyed_record(
    line: bytes, key_field: str, loads: Callable[[bytes], Any]
) -> tuple[bytes, dict[str, Any]]:
    """Parse one NDJSON line into (the dedup key as bytes, the record); ``RecordError`` if not."""
    try:
        raw = loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        msg = f"not JSON: {exc}"
        raise RecordError(msg) from exc
    if not isinstance(raw, dict):
        msg = "NDJSON line is not an object"
        raise RecordError(msg)
    key = raw.get(key_field)
    if not isinstance(key, str) or not key:
        msg = f"record has no {key_field!r} (the dedup key)"
        raise RecordError(msg)
    return key.encode(), raw


class LineCodec:
    """JSON line -> schema-driven record -> Avro, keyed by ``key_field`` (the dedup key)."""

    def __init__(self, encoder: Encoder, schema: str, key_field: str,
                 json_fields: frozenset[str] = frozenset()) -> None:
        """Bind to a registered schema (``encoder``) and the feed's key field."""
        self._encoder = encoder
        self._schema: Mapping[str, Any] = schemas.raw(schema)
        self._key_field = key_field
        self._json_fields = json_fields

    def __call__(self, line: bytes) -> tuple[bytes, bytes]:
        """Return (key, value); raise ``RecordError`` for a line that is not a valid record."""
        key, raw = keyed_record(line, self._key_field, json.loads)
        value = convert.to_record(self._schema, raw, self._json_fields)
        return key, self._encoder.encode(value)


# ------------------------------------------------------------------------------ native


class NativeCodec(Protocol):
    """``cfkafka_native.Codec`` (see native/cfkafka_native.pyi)."""

    def encode(self, line: bytes) -> tuple[bytes, bytes] | None:
        """(key, value), or None when the Python path must encode the line."""

    def encode_lines(self, lines: list[bytes]) -> list[tuple[bytes, bytes] | None]:
        """``encode`` of every line, in order."""

    def encode_chunk(
        self, data: bytes, last: bool = False
    ) -> tuple[list[bytes], list[bytes | None], int]:
        """Split and encode a piece of the stream: (keys, values, bytes consumed)."""


_native: dict[str, Any] = {}  # "module": the module or None, once looked up


def native_module() -> Any | None:
    """The ``cfkafka_native`` module, or None (logged once) if it is missing or disabled."""
    if "module" not in _native:
        module: Any | None = None
        if os.environ.get(NATIVE_ENV, "1").strip().lower() in ("0", "false", "off", "no"):
            log.info("native encoder disabled (%s); using the Python encoder", NATIVE_ENV)
        else:
            try:
                module = importlib.import_module("cfkafka_native")
                log.info("encoding with the native encoder (cfkafka_native %s)",
                         getattr(module, "__version__", "?"))
            except ImportError as exc:
                log.warning("native encoder cfkafka_native is not installed (%s): encoding "
                            "with the Python path, several times slower (make install "
                            "builds it from native/)", exc)
        _native["module"] = module
    return _native["module"]


def native_codec(schema_json: Mapping[str, Any], json_fields: frozenset[str], key_field: str,
                 prefix: bytes) -> NativeCodec | None:
    """A native codec for the schema, or None (Python path) if unavailable or unsupported."""
    module = native_module()
    if module is None:
        return None
    try:
        fields, extra = native_spec(schema_json, json_fields)
        return cast(NativeCodec, module.Codec(fields, extra, key_field, prefix))
    except ValueError as exc:
        log.info("native encoder not used for %s: %s", schema_json.get("name"), exc)
        return None


class CompiledLineCodec:
    """The fast path for flat, high-volume feeds (Logpull): native, else orjson + compiled.

    Same bytes as ``LineCodec`` (tested). ``native``: None uses ``cfkafka_native`` when it is
    installed, False never does, True requires it (``RuntimeError`` if unavailable).
    ``fallbacks`` counts the lines the native encoder handed to the Python path.
    """

    def __init__(self, encoder: Encoder, schema: str, key_field: str,
                 json_fields: frozenset[str] = frozenset(),
                 expected: Iterable[str] | None = None, *, native: bool | None = None) -> None:
        """Compile the schema once, with the registered schema id's wire header."""
        raw_schema = schemas.raw(schema)
        self._key_field = key_field
        self._encode = compile_encoder(raw_schema, json_fields, expected=expected,
                                       prefix=encoder.header)
        self.native = None if native is False else native_codec(
            raw_schema, json_fields, key_field, encoder.header)
        if native and self.native is None:
            msg = f"the native encoder is not available for {schema}"
            raise RuntimeError(msg)
        self.fallbacks = 0

    def __call__(self, line: bytes) -> tuple[bytes, bytes]:
        """Return (key, value); raise ``RecordError`` for a line that is not a valid record."""
        if self.native is not None:
            pair = self.native.encode(line)
            if pair is not None:
                return pair
            self.fallbacks += 1
        return self.python(line)

    def python(self, line: bytes) -> tuple[bytes, bytes]:
        """The Python path for one line (the reference the native encoder is tested against)."""
        key, raw = keyed_record(line, self._key_field, loads_line)
        return key, self._encode(raw)

    def encode_chunk(
        self, data: bytes, last: bool = False
    ) -> tuple[list[bytes], list[bytes | None], int]:
        """Split a piece of the decompressed stream into lines and encode what it can.

        Returns (keys, values, consumed), one entry per line in order: the key and framed
        value, or, where ``values[i]`` is None, the raw line in ``keys[i]`` for the caller to
        pass to ``python`` (which raises ``RecordError`` for a bad one) after its own line
        checks. ``data[consumed:]`` is an unfinished line to put before the next piece; with
        ``last`` a non-blank tail is a line too. Empty lines are skipped (as
        ``CloudflareClient.stream_lines`` does). Lines are never held beyond the call.
        """
        if self.native is not None:
            keys, values, consumed = self.native.encode_chunk(data, last)
            self.fallbacks += values.count(None)
            return keys, values, consumed
        end = data.rfind(b"\n") + 1
        lines = [x for x in data[:end].split(b"\n") if x]
        if last:
            if data[end:].strip():
                lines.append(data[end:])
            end = len(data)
        return lines, [None] * len(lines), end
