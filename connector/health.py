"""The connector's HTTP endpoints: ``/metrics`` (Prometheus) and ``/health`` (JSON)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Status = Callable[[], Sequence[dict[str, Any]]]


def create_app(status: Status) -> web.Application:
    """``status()`` returns one dict per feed x scope (feed, scope, published, healthy)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(_: web.Request) -> web.Response:
        feeds = list(status())
        healthy = bool(feeds) and all(f.get("healthy", True) for f in feeds)
        return web.json_response({"status": "ok" if healthy else "failing", "feeds": feeds},
                                 status=200 if healthy else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


async def serve(status: Status, port: int, host: str = "0.0.0.0") -> web.AppRunner:  # noqa: S104
    """Start serving; the caller cleans up the returned runner."""
    runner = web.AppRunner(create_app(status), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
