"""Confluent Schema Registry wire format and subject registration.

Wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body
(https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format).
Works against Confluent Schema Registry and Apicurio's ``/apis/ccompat/v7`` API.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

MAGIC = 0
_HEADER = struct.Struct(">bI")


class WireFormatError(ValueError):
    """Bytes that are not a Confluent-framed Avro message, or an unknown schema id."""


def registry_client(url: str, conf: Mapping[str, Any] | None = None) -> SchemaRegistryClient:
    """Build a registry client for ``url`` (no trailing slash) with extra client ``conf``."""
    return SchemaRegistryClient({"url": url if url.startswith("mock:") else url.rstrip("/"),
                                 **(conf or {})})


def register(
    client: SchemaRegistryClient, subject: str, schema_text: str, compatibility: str = "BACKWARD"
) -> int:
    """Set ``compatibility`` on ``subject``, then register ``schema_text``; return its id.

    Raises ``SchemaRegistryError`` (with the registry's message) when the schema is incompatible.
    """
    try:
        client.set_compatibility(subject_name=subject, level=compatibility)
    except SchemaRegistryError:
        # Some registries refuse config on a subject that does not exist yet; set it after.
        schema_id = client.register_schema(subject, Schema(schema_text, "AVRO"))
        client.set_compatibility(subject_name=subject, level=compatibility)
        return int(schema_id)
    return int(client.register_schema(subject, Schema(schema_text, "AVRO")))


class Encoder:
    """Encode dicts with one parsed schema into Confluent-framed Avro."""

    def __init__(self, schema_id: int, parsed_schema: Any) -> None:
        """Bind the encoder to a registered ``schema_id`` and its fastavro-parsed schema."""
        self.schema_id = schema_id
        self.schema = parsed_schema
        self.header = _HEADER.pack(MAGIC, schema_id)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return the framed bytes; raise ``ValueError``/``TypeError`` if ``record`` misfits."""
        buf = io.BytesIO()
        buf.write(self.header)
        fastavro.schemaless_writer(buf, self.schema, record, strict_allow_default=True)
        return buf.getvalue()


class Decoder:
    """Decode Confluent-framed Avro, fetching writer schemas by id from the registry (cached)."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        """Use ``client`` to look up writer schemas."""
        self._client = client
        self._schemas: dict[int, Any] = {}

    def schema(self, schema_id: int) -> Any:
        """Return the parsed writer schema for ``schema_id``."""
        parsed = self._schemas.get(schema_id)
        if parsed is None:
            try:
                registered = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                msg = f"unknown schema id {schema_id}: {exc}"
                raise WireFormatError(msg) from exc
            parsed = fastavro.parse_schema(json.loads(registered.schema_str or "null"))
            self._schemas[schema_id] = parsed
        return parsed

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Return the record in ``data``; raises ``WireFormatError`` if it cannot be decoded."""
        if data is None or len(data) < _HEADER.size:
            msg = "message too short for the Confluent wire format"
            raise WireFormatError(msg)
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            msg = f"unknown magic byte {magic}"
            raise WireFormatError(msg)
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER.size :]), self.schema(schema_id), None
            )
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
            msg = f"Avro body does not match schema {schema_id}: {exc}"
            raise WireFormatError(msg) from exc
        if not isinstance(record, dict):
            msg = f"schema {schema_id} is not a record schema"
            raise WireFormatError(msg)
        return record
