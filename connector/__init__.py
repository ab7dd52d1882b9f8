"""Cloudflare security data into Kafka, exactly once: the source connector and ``cfkafka``."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
