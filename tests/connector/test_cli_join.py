"""How the connector waits for its runners: fail fast, stop cleanly, cancel the stuck."""

import asyncio

import pytest

from connector.cli import join


async def _obedient(stop: asyncio.Event, log: list[str], name: str) -> None:
    await stop.wait()
    log.append(f"{name} stopped")


async def _stuck(log: list[str]) -> None:
    try:
        await asyncio.sleep(3600)  # e.g. holding for a rate-limit reset
    except asyncio.CancelledError:
        log.append("stuck cancelled")
        raise


def test_stop_lets_runners_finish_and_cancels_the_stuck_after_the_grace() -> None:
    async def scenario() -> list[str]:
        stop, log = asyncio.Event(), []
        tasks = [asyncio.create_task(_obedient(stop, log, "a")), asyncio.create_task(_stuck(log))]
        asyncio.get_running_loop().call_later(0.05, stop.set)
        await join(tasks, stop, grace_s=0.1)
        return log

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == ["a stopped", "stuck cancelled"]


def test_a_failing_runner_stops_the_others_and_its_error_is_raised() -> None:
    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("fatal: bad credentials")

    async def scenario() -> list[str]:
        stop, log = asyncio.Event(), []
        tasks = [asyncio.create_task(_obedient(stop, log, "a")), asyncio.create_task(failing())]
        with pytest.raises(RuntimeError, match="bad credentials"):
            await join(tasks, stop, grace_s=1)
        assert stop.is_set()
        return log

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == ["a stopped"]


def test_runners_that_end_on_their_own_end_the_join() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(asyncio.sleep(0.01)) for _ in range(3)]
        await join(tasks, stop, grace_s=1)
        assert not stop.is_set()

    asyncio.run(asyncio.wait_for(scenario(), 5))
