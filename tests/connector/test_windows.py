from datetime import UTC, datetime, timedelta

import pytest

from connector.windows import Plan, Window, WindowPolicy, plan_windows

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
H, M = timedelta(hours=1), timedelta(minutes=1)
POLICY = WindowPolicy()


def test_caught_up_feed_waits_for_a_minimum_window():
    assert plan_windows(NOW - 5 * M - 30 * timedelta(seconds=1), NOW, POLICY) == Plan(())
    plan = plan_windows(NOW - 7 * M, NOW, POLICY)
    assert plan.windows == (Window(NOW - 7 * M, NOW - 5 * M),)


@pytest.mark.parametrize("behind_h", [1.5, 6, 30])
def test_catch_up_uses_full_hour_windows_and_never_ends_inside_the_lag(behind_h):
    last = NOW - timedelta(hours=behind_h)
    plan = plan_windows(last, NOW, POLICY, limit=1000)
    assert plan.gap is None
    assert plan.windows[0].start == last
    assert all(w.seconds <= 3600 for w in plan.windows)
    assert all(w.seconds == 3600 for w in plan.windows[:-1]), "catch-up uses full windows"
    assert plan.windows[-1].end == NOW - 5 * M
    for a, b in zip(plan.windows, plan.windows[1:], strict=False):
        assert a.end == b.start, "half-open windows tile the range: no overlap, no hole"


def test_cursor_past_the_horizon_yields_a_gap_and_restarts_at_the_horizon():
    last = NOW - timedelta(days=9)
    plan = plan_windows(last, NOW, POLICY, limit=500)
    assert plan.gap == Window(last, NOW - POLICY.horizon)
    assert plan.windows[0].start == NOW - POLICY.horizon
    assert plan.windows[-1].end == NOW - 5 * M


def test_limit_bounds_the_plan():
    plan = plan_windows(NOW - timedelta(days=3), NOW, POLICY, limit=4)
    assert len(plan.windows) == 4
