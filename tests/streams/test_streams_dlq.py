"""DLQ headers, and the raw handler dead-lettering garbage bytes and going on."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from test_streams_handlers import Wiring
from test_streams_pipeline import Raw

from streams.dlq import DeadLetter, headers, one_line
from streams.topics import DLQ

sys.path.insert(0, str(Path(__file__).parent / "ocsf"))
from ocsf_samples import samples  # noqa: E402

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


def test_garbage_goes_to_the_dlq_and_the_stream_keeps_going(
    wiring: Callable[..., Wiring], raw: Raw
):
    w = wiring()
    w.raw("audit_logs", (b"k1", b"\x00\x00\x00\x00\x63garbage", None), partition=1, offset=0)
    w.raw("audit_logs", (b"k2", b"not avro at all", None), partition=1, offset=1)
    good = raw.message("audit_logs", samples("audit_logs", 1)[0])
    table = w.raw("audit_logs", good, partition=1, offset=2)

    assert w.handlers.stats.dead_letters == 2
    first, second = w.sink.to(DLQ)
    assert (first.key, first.value, first.partition) == (
        b"k1", b"\x00\x00\x00\x00\x63garbage", 1)
    got = dict(first.headers or [])
    assert got["dlq.stage"] == b"decode"
    assert got["dlq.source.offset"] == b"0"
    assert got["dlq.source.partition"] == b"1"
    assert b"unknown schema id 99" in got["dlq.reason"]
    assert (second.key, dict(second.headers or [])["dlq.source.offset"]) == (b"k2", b"1")
    # dead letters are not remembered: a fixed record with the same key is not a duplicate
    assert table.get(b"k1") is None and table.get(b"k2") is None
    # the record after them is processed as usual
    assert {r.topic for r in w.sink.records} - {DLQ, table.topic}
    assert table.get(good[0]) is not None
    assert (w.handlers.stats.received, w.handlers.stats.sent) == (3, 1)
