import asyncio

from connector.governor import HIGH, LOW, Governor


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
