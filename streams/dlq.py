"""Dead letters: the original key and value plus ``dlq.*`` headers saying why and from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Stage = Literal["decode", "normalize", "encode"]


@dataclass(frozen=True)
class DeadLetter:
    """A record that cannot be processed: ``stage`` failed with ``reason``."""

    stage: Stage
    reason: str


def one_line(text: str, limit: int = 500) -> str:
    """Collapse ``text`` to one line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def headers(
    letter: DeadLetter, topic: str, partition: int, offset: int, now: datetime
) -> list[tuple[str, bytes]]:
    """Return the DLQ headers (DESIGN.md) for a record consumed at ``topic/partition/offset``."""
    stamp = now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    values = {
        "dlq.reason": one_line(letter.reason),
        "dlq.stage": letter.stage,
        "dlq.source": f"{topic}/{partition}/{offset}",
        "dlq.source.topic": topic,
        "dlq.source.partition": str(partition),
        "dlq.source.offset": str(offset),
        "dlq.time": stamp,
    }
    return [(name, value.encode()) for name, value in values.items()]
