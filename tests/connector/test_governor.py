import asyncio

import pytest

from connector.governor import HIGH, LOW, MAX_RESET_S, Governor, Quota, parse_rate_limit


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.now += max(seconds, 1e-6)
        await asyncio.sleep(0)


def test_rate_is_enforced_after_the_burst():
    t = FakeTime()
    gov = Governor(rate_per_s=4, burst=10, clock=t.clock, sleep=t.sleep)

    async def go():
        for _ in range(50):
            await gov.acquire()

    asyncio.run(go())
    assert 9.9 <= t.now <= 10.5, "40 requests beyond the burst of 10 at 4/s take 10 s"


def test_a_429_blocks_everybody_until_retry_after():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)

    async def go():
        await gov.acquire()
        gov.block_for(30)
        await gov.acquire()

    asyncio.run(go())
    assert t.now >= 30


def test_high_priority_is_served_before_low():
    t = FakeTime()
    gov = Governor(rate_per_s=1, burst=1, clock=t.clock, sleep=t.sleep)
    order = []

    async def worker(name, priority, n):
        for _ in range(n):
            await gov.acquire(priority)
            order.append(name)

    async def go():
        await asyncio.gather(worker("bulk", LOW, 3), worker("audit", HIGH, 3))

    asyncio.run(go())
    assert order[:3].count("audit") >= 2, order
    assert order[-1] == "bulk"


# --- server quotas: rate-limit headers -------------------------------------------------

DATE = "Sun, 22 Nov 2026 15:00:00 GMT"
NOW_S = 1795359600.0  # DATE as Unix time


@pytest.mark.parametrize(
    ("headers", "now_s", "expected"),
    [
        ({"Ratelimit": '"default";r=50;t=30'}, NOW_S, Quota(50, 30)),
        ({"ratelimit": '"default";r=50;t=30, "burst";r=2;t=5'}, NOW_S, Quota(2, 5)),
        ({"RATELIMIT": "default;r=0", "Ratelimit-Policy": '"default";q=1200;w=300'}, NOW_S,
         Quota(0, 300)),
        ({"RateLimit": "limit=100, remaining=7, reset=12"}, NOW_S, Quota(7, 12)),
        ({"RateLimit-Remaining": "3", "RateLimit-Reset": "9"}, NOW_S, Quota(3, 9)),
        ({"x-ratelimit-limit": "1200", "x-ratelimit-remaining": "0",
          "x-ratelimit-reset": "Sun, 22 Nov 2026 15:00:30 GMT", "date": DATE},
         NOW_S + 500, Quota(0, 31)),  # relative to Date, not the local clock; +1 s slack
        ({"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "Sun, 22 Nov 2026 15:00:30 GMT"},
         NOW_S + 10, Quota(4, 21)),  # no Date header: the local clock
        ({"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "45"}, NOW_S, Quota(4, 45)),
        ({"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": str(NOW_S + 20)}, NOW_S,
         Quota(4, 20)),  # a Unix time
        ({"Ratelimit": '"default";r=900;t=30', "x-ratelimit-remaining": "1",
          "x-ratelimit-reset": "60"}, NOW_S, Quota(1, 60)),  # the tightest wins
    ],
)
def test_rate_limit_headers_are_parsed(headers, now_s, expected):
    assert parse_rate_limit(headers, now_s) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"x-ratelimit-remaining": "0"},  # no reset: nothing to hold until
        {"x-ratelimit-reset": "30"},
        {"x-ratelimit-remaining": "lots", "x-ratelimit-reset": "30"},
        {"x-ratelimit-remaining": "-1", "x-ratelimit-reset": "30"},
        {"x-ratelimit-remaining": "nan", "x-ratelimit-reset": "30"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "inf"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "Sun, 22 Nov 2026 14:59:00 GMT",
         "date": DATE},  # already reset
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(MAX_RESET_S + 1)},
        {"Ratelimit": ";;,, =,"},
        {"Ratelimit": '"default";r=;t='},
        {"Ratelimit": '"default";r=5'},  # no t and no policy window
        {"Ratelimit": "limit=100, remaining=x, reset=12"},
    ],
)
def test_absent_or_garbage_rate_limit_headers_state_nothing(headers):
    assert parse_rate_limit(headers, NOW_S) is None


def _acquire_times(gov, t, n):
    times = []

    async def go():
        for _ in range(n):
            await gov.acquire()
            times.append(t.now)

    asyncio.run(go())
    return times


def test_a_spent_server_budget_holds_everybody_until_the_reset():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)
    gov.observe(0, 30)
    times = _acquire_times(gov, t, 2)
    assert times[0] >= 30, "the bucket is full, but the server said nothing is left"
    assert times[1] == times[0], "after the reset the quota is forgotten"


def test_a_low_server_budget_is_spread_over_the_rest_of_the_window():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, pace_below=20, clock=t.clock, sleep=t.sleep)
    gov.observe(4, 20)
    times = _acquire_times(gov, t, 5)
    gaps = [b - a for a, b in zip(times, times[1:4], strict=False)]
    assert all(g >= 6 for g in gaps), times
    assert times[3] >= 20 - 1e-3, "no more than the remaining 4 are sent before the reset"
    assert times[4] == times[3]


def test_a_plentiful_server_budget_does_not_slow_anybody_down():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, pace_below=20, clock=t.clock, sleep=t.sleep)
    gov.observe(500, 300)
    assert _acquire_times(gov, t, 50)[-1] == 0


def test_requests_sent_after_the_observed_one_are_counted_against_the_budget():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)
    _acquire_times(gov, t, 3)
    gov.observe(2, 10, issued=1)  # the answer to request 1 says 2 left; 2 went out since
    assert _acquire_times(gov, t, 1)[0] >= 10


def test_the_latest_observation_wins_and_invalid_ones_are_ignored():
    t = FakeTime()
    gov = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)
    gov.observe(0, 30)
    gov.observe(100, 30)
    for remaining, reset_s in ((0, 0), (0, -5), (0, float("nan")), (-1, 30)):
        gov.observe(remaining, reset_s)
    assert _acquire_times(gov, t, 1) == [0]
