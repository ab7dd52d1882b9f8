"""Confluent-wire Avro for the streams worker: decode raw audit logs, encode SIEM events.

Faust moves raw bytes (``raw`` serializer, never pickle); this module does the Avro.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

import schemas
from schemas.registry import Decoder, Encoder, register

from .topics import SIEM_AUDIT

SIEM_AUDIT_SCHEMA = "siem.audit"
SIEM_AUDIT_SUBJECT = f"{SIEM_AUDIT}-value"


@dataclass(frozen=True)
class Codecs:
    """Decoder for any registered raw schema and the encoder for ``siem.audit``."""

    raw: Decoder
    siem: Encoder

    def decode_raw(self, data: bytes | None) -> dict[str, Any]:
        """Decode one raw value; raises ``schemas.registry.WireFormatError``."""
        return self.raw.decode(data)

    def encode_siem(self, record: Mapping[str, Any]) -> bytes:
        """Encode one SIEM event; raises ``ValueError``/``TypeError`` if it does not fit."""
        return self.siem.encode(record)


def connect(client: SchemaRegistryClient) -> Codecs:
    """Register ``siem.audit.avsc`` (BACKWARD) under ``siem.audit.v1-value``; build codecs."""
    schema_id = register(client, SIEM_AUDIT_SUBJECT, schemas.text(SIEM_AUDIT_SCHEMA), "BACKWARD")
    return Codecs(raw=Decoder(client), siem=Encoder(schema_id, schemas.load(SIEM_AUDIT_SCHEMA)))
