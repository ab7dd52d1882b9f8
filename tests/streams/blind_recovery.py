"""Run the worker (``python -m streams``) with Faust's changelog recovery blinded.

Fault injection for the kill -9 test: every changelog partition's recovery highwater is
-1, which is what Faust 0.15 computes under exactly_once for a partition it has not
fetched yet (``streams.restore``), so Faust restores nothing and the worker's own
catch-up must bring the tables back. Deterministic where the real fault is a race.
"""

from __future__ import annotations

import sys
from typing import Any

from faust.tables.recovery import Recovery


async def _blind(self: Any, consumer: Any, tps: Any, destination: Any, title: str) -> None:
    destination.clear()
    destination.update({tp: -1 for tp in tps})


Recovery._build_highwaters = _blind  # type: ignore[method-assign]

if __name__ == "__main__":
    from streams.__main__ import main

    sys.exit(main())
