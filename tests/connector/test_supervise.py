"""The shared runner retry loop: backoff per failure in a row, stop-aware, typed retries."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest

from connector.client import Backoff
from connector.errors import PublishError, RetriableSourceError
from connector.supervise import supervise

log = logging.getLogger("tests.supervise")


class RecordingBackoff:
    """Records (attempt, retry_after) and answers a fixed delay."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = []

    def delay(self, attempt, retry_after, rand):
        self.calls.append((attempt, retry_after))
        return self.delay_s


def _script(stop, outcomes):
    """A step that plays ``outcomes`` (an exception to raise, or the bool to return)."""
    played = []

    async def step():
        outcome = outcomes[len(played)]
        played.append(outcome)
        if len(played) == len(outcomes):
            stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return step, played


def _run(step, stop, backoff, failures=None, retry_on=(PublishError, RetriableSourceError)):
    failures = [] if failures is None else failures
    asyncio.run(supervise(step, stop=stop, backoff=backoff, retry_on=retry_on,
                          on_failure=failures.append, name="members account:abc", log=log,
                          rand=random.Random(1)))
    return failures


def test_failures_in_a_row_back_off_further_and_a_success_starts_over():
    stop = asyncio.Event()
    boom = PublishError("broker unavailable")
    step, played = _script(stop, [boom, boom, True, boom, False, boom])
    backoff = RecordingBackoff()
    failures = _run(step, stop, backoff)
    assert len(played) == 6
    assert [attempt for attempt, _ in backoff.calls] == [1, 2, 1, 2], (
        "a success resets the count; a step that only waited (False) does not"
    )
    assert failures == [boom, boom, boom, boom]


def test_the_errors_retry_after_reaches_the_backoff():
    stop = asyncio.Event()
    step, _ = _script(stop, [RetriableSourceError("429", retry_after=7.0), PublishError("x")])
    backoff = RecordingBackoff()
    _run(step, stop, backoff)
    assert backoff.calls == [(1, 7.0), (2, None)]


def test_other_errors_propagate():
    stop = asyncio.Event()
    step, _ = _script(stop, [ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        _run(step, stop, RecordingBackoff())


def test_a_stopped_runner_never_steps():
    stop = asyncio.Event()
    stop.set()
    step, played = _script(stop, [True])
    _run(step, stop, RecordingBackoff())
    assert played == []


def test_the_backoff_wait_ends_when_stop_is_set():
    async def go():
        stop = asyncio.Event()

        async def step():
            asyncio.get_running_loop().call_later(0.05, stop.set)
            raise PublishError("down")

        await supervise(step, stop=stop, backoff=Backoff(base_s=3600, cap_s=3600),
                        retry_on=(PublishError,), on_failure=lambda exc: None, name="x",
                        log=log)

    started = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - started < 5


def test_the_warning_names_the_runner_the_error_and_the_delay(caplog):
    stop = asyncio.Event()
    step, _ = _script(stop, [PublishError("broker unavailable")])
    with caplog.at_level(logging.WARNING, logger="tests.supervise"):
        _run(step, stop, RecordingBackoff(delay_s=0.5))
    [record] = [r for r in caplog.records if r.name == "tests.supervise"]
    assert record.getMessage() == (
        "members account:abc: broker unavailable; retrying in 0.5s"
    )
