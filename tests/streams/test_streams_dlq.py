"""DLQ headers, and the agent dead-lettering garbage bytes (Faust test_context, memory://)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from streams.dlq import DeadLetter, headers, one_line

NOW = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_headers():
    got = dict(headers(DeadLetter("decode", "bad\nbytes"), "cloudflare.audit_logs.v1", 2, 41, NOW))
    assert got == {
        "dlq.reason": b"bad bytes",
        "dlq.stage": b"decode",
        "dlq.source": b"cloudflare.audit_logs.v1/2/41",
        "dlq.source.topic": b"cloudflare.audit_logs.v1",
        "dlq.source.partition": b"2",
        "dlq.source.offset": b"41",
        "dlq.time": b"2024-05-01T12:00:00.123Z",
    }


def test_one_line_truncates():
    assert one_line("x" * 600, limit=10) == "x" * 9 + "…"


class Sent:
    """Stands in for ``agents.publish``: records each call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, topic, key, value, source, headers=None, partition=None) -> None:
        self.calls.append(
            {
                "topic": topic,
                "key": key,
                "value": value,
                "partition": source.partition if partition is None else partition,
                "headers": headers,
            }
        )


def test_agent_sends_garbage_to_the_dlq_and_keeps_going(agents_under_test):
    from streams.app import app

    agents, sent = agents_under_test
    before = agents.stats.dead_letters

    async def run() -> None:
        app.loop = asyncio.get_running_loop()
        app.finalize()
        app.flow_control.resume()
        async with agents.process_raw.test_context() as agent:
            await agent.put(b"\x00\x00\x00\x00\x63garbage", key=b"k1", partition=1)
            await agent.put(b"not avro at all", key=b"k2", partition=1)

    asyncio.run(run())
    assert agents.stats.dead_letters - before == 2
    assert {c["topic"] for c in sent.calls} == {"cloudflare.dlq.v1"}
    first, second = sent.calls
    assert (first["key"], first["value"], first["partition"]) == (
        b"k1",
        b"\x00\x00\x00\x00\x63garbage",
        1,
    )
    got = dict(first["headers"])
    assert got["dlq.stage"] == b"decode"
    assert got["dlq.source.offset"] == b"0"
    assert got["dlq.source.partition"] == b"1"
    assert b"unknown schema id 99" in got["dlq.reason"]
    assert dict(second["headers"])["dlq.source.offset"] == b"1"
    assert second["key"] == b"k2"
