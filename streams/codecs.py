"""Confluent-wire Avro for the streams worker: decode raw records, encode SIEM events.

Faust moves raw bytes (``raw`` serializer, never pickle); this module does the Avro. Every
schema is registered once at start; the decoder caches writer schemas by id, so no event
costs a registry call (except the first of a new raw schema id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

import schemas
from schemas.registry import Decoder, Encoder, register

from .routing import ALERTS, LEGACY_AUDIT, ROUTES

SIEM_AUDIT_SCHEMA = LEGACY_AUDIT.schema
SIEM_AUDIT_SUBJECT = f"{LEGACY_AUDIT.topic}-value"


@dataclass(frozen=True)
class Codecs:
    """Decoder for any registered raw schema and an encoder per SIEM schema."""

    raw: Decoder
    siem: Encoder
    ocsf: Mapping[str, Encoder]
    #: ``siem.alerts.v1`` (Detection Finding, its own subject)
    alerts: Encoder | None = None

    def decode_raw(self, data: bytes | None) -> dict[str, Any]:
        """Decode one raw value; raises ``schemas.registry.WireFormatError``."""
        return self.raw.decode(data)

    def encode_siem(self, record: Mapping[str, Any]) -> bytes:
        """Encode one legacy ``siem.audit`` event; raises ``ValueError``/``TypeError``."""
        return self.siem.encode(record)

    def encode_alert(self, finding: Mapping[str, Any]) -> bytes:
        """Encode one alert finding for ``siem.alerts.v1``."""
        if self.alerts is None:
            msg = "no encoder for siem.alerts.v1"
            raise ValueError(msg)
        return self.alerts.encode(finding)

    def encode(self, schema: str, record: Mapping[str, Any]) -> bytes:
        """Encode one OCSF record of class ``schema`` (``ocsf.http_activity``, ...)."""
        return self.ocsf[schema].encode(record)


def connect(client: SchemaRegistryClient) -> Codecs:
    """Register every SIEM schema (BACKWARD) under ``<topic>-value`` (alerts too); build the
    codecs."""
    schema_id = register(client, SIEM_AUDIT_SUBJECT, schemas.text(SIEM_AUDIT_SCHEMA), "BACKWARD")
    ocsf = {
        route.schema: Encoder(
            register(client, f"{route.topic}-value", schemas.text(route.schema), "BACKWARD"),
            schemas.load(route.schema),
        )
        for route in ROUTES
    }
    alerts = Encoder(
        register(client, f"{ALERTS.topic}-value", schemas.text(ALERTS.schema), "BACKWARD"),
        schemas.load(ALERTS.schema),
    )
    return Codecs(
        raw=Decoder(client), siem=Encoder(schema_id, schemas.load(SIEM_AUDIT_SCHEMA)), ocsf=ocsf,
        alerts=alerts,
    )
