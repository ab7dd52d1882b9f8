"""``cfkafka streams`` / ``python -m streams``: run the stream worker (``streams.app``)."""

from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
