"""Run the simulator on a background thread, for synchronous tests and tools."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from sim.config import SimConfig
from sim.server import SimHandle, run_sim


class SimThread:
    """A simulator served by its own event loop on a daemon thread.

    The store belongs to that loop: from other threads use the admin endpoints.
    """

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.config = config or SimConfig()
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.handle: SimHandle | None = None
        self._thread = threading.Thread(target=self._run, name="cf-sim", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_sim(self.config, self._host, self._port) as handle:
            self.handle = handle
            self._ready.set()
            await self._stop.wait()

    def start(self, timeout: float = 10.0) -> SimHandle:
        """Start serving; returns the handle once the port is bound."""
        self._thread.start()
        if not self._ready.wait(timeout) or self.handle is None:
            msg = f"simulator did not start: {self._error!r}"
            raise RuntimeError(msg)
        return self.handle

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


@contextlib.contextmanager
def sim_thread(config: SimConfig | None = None, host: str = "127.0.0.1",
               port: int = 0) -> Iterator[SimHandle]:
    """`with sim_thread(cfg) as sim:` — a running simulator for synchronous code."""
    runner = SimThread(config, host, port)
    handle = runner.start()
    try:
        yield handle
    finally:
        runner.stop()
