"""OutRecord: one Kafka record to write, and the DLQ record builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

DLQ_TOPIC = "cloudflare.dlq.v1"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class OutRecord:
    """A record for one topic; ``value=None`` is a tombstone."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)


def dead_letter(
    *, key: bytes | None, value: bytes, reason: str, stage: str, source: str, now: datetime
) -> OutRecord:
    """A DLQ record carrying the original bytes and why they could not be published."""
    one_line = " ".join(reason.split())[:1000]
    return OutRecord(
        topic=DLQ_TOPIC,
        key=key,
        value=value,
        headers=[
            ("dlq.reason", one_line.encode()),
            ("dlq.stage", stage.encode()),
            ("dlq.source", source.encode()),
            ("dlq.time", now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()),
        ],
    )
