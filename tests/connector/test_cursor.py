from datetime import UTC, datetime, timedelta

import pytest

from connector.cursor import HighWaterMark, format_time, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T20:19:48Z", datetime(2026, 11, 22, 20, 19, 48, tzinfo=UTC)),
        ("2026-11-22T20:19:48.480205Z", datetime(2026, 11, 22, 20, 19, 48, 480205, tzinfo=UTC)),
        ("2026-11-22T20:19:48.4Z", datetime(2026, 11, 22, 20, 19, 48, 400000, tzinfo=UTC)),
        ("2026-11-22T20:19:48.123456789Z", datetime(2026, 11, 22, 20, 19, 48, 123456, tzinfo=UTC)),
        ("2026-11-22T21:19:48+01:00", datetime(2026, 11, 22, 20, 19, 48, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_cloudflare_precisions(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "None"])
def test_parse_time_rejects_garbage(text):
    with pytest.raises(ValueError):  # noqa: PT011
        parse_time(text)


def test_format_time_round_trips_with_microseconds():
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert format_time(moment) == "2026-01-02T03:04:05.000006Z"
    assert parse_time(format_time(moment)) == moment


T0 = datetime(2026, 11, 22, 20, 0, 0, tzinfo=UTC)


def test_boundary_event_returned_by_inclusive_since_is_not_new():
    mark = HighWaterMark(T0, frozenset({"a", "b"}))
    assert not mark.is_new(T0, "a")
    assert not mark.is_new(T0, "b")
    assert mark.is_new(T0, "c"), "a tie at the boundary that was not yet published is new"
    assert mark.is_new(T0 + timedelta(microseconds=1), "a")
    assert not mark.is_new(T0 - timedelta(seconds=1), "z")


def test_advance_keeps_every_id_tied_at_the_newest_time():
    mark = HighWaterMark(T0, frozenset({"a"}))
    later = T0 + timedelta(seconds=1)
    advanced = mark.advance([(T0, "b"), (later, "c"), (later, "d"), (T0, "e")])
    assert advanced == HighWaterMark(later, frozenset({"c", "d"}))
    same = mark.advance([(T0, "b")])
    assert same == HighWaterMark(T0, frozenset({"a", "b"}))
    assert mark.advance([]) == mark


def test_offset_round_trip_is_flat_primitives():
    mark = HighWaterMark(T0 + timedelta(microseconds=480205), frozenset({"x", "y"}))
    offset = mark.to_offset()
    assert all(isinstance(v, str) for v in offset.values())
    assert offset == {"since": "2026-11-22T20:00:00.480205Z", "ids": "x,y"}
    assert HighWaterMark.from_offset(offset) == mark
    assert HighWaterMark.from_offset({"since": "2026-11-22T20:00:00Z"}).ids == frozenset()
