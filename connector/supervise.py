"""The retry loop every runner shares: run a step until stopped, back off on failures."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from connector.client import Backoff
from connector.waits import wait_or_stop

_RAND = random.Random()  # noqa: S311 - jitter, not crypto

#: one round of a runner (it does its own idle waits); True when it succeeded, which starts
#: the backoff over, False when it only waited
Step = Callable[[], Awaitable[bool]]


async def supervise(
    step: Step,
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    retry_on: tuple[type[Exception], ...],
    on_failure: Callable[[Exception], None],
    name: str,
    log: logging.Logger,
    rand: random.Random = _RAND,
) -> None:
    """Run ``step`` until ``stop`` is set; ``retry_on`` errors are retried, never skipped.

    A failure calls ``on_failure(exc)`` (to drop state that must be reloaded, count it),
    logs ``<name>: <exc>; retrying in <s>s`` as a warning on the runner's ``log``, then waits
    ``backoff.delay`` for the number of failures in a row (at least the error's
    ``retry_after`` when it has one), ending early on ``stop``. Other exceptions propagate.
    """
    failures = 0
    while not stop.is_set():
        try:
            if await step():
                failures = 0
        except retry_on as exc:
            failures += 1
            on_failure(exc)
            delay = backoff.delay(failures, getattr(exc, "retry_after", None), rand)
            log.warning("%s: %s; retrying in %.1fs", name, exc, delay)
            await wait_or_stop(stop, delay)
