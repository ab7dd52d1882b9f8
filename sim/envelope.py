"""The Cloudflare v4 response envelope and the ApiError that renders into one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web


def envelope(
    result: Any,
    *,
    success: bool = True,
    errors: Sequence[Mapping[str, Any]] = (),
    messages: Sequence[Mapping[str, Any]] = (),
    result_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`{success, errors, messages, result[, result_info]}`."""
    body: dict[str, Any] = {
        "success": success,
        "errors": [dict(e) for e in errors],
        "messages": [dict(m) for m in messages],
        "result": result,
    }
    if result_info is not None:
        body["result_info"] = dict(result_info)
    return body


class ApiError(Exception):
    """An error answered with the v4 envelope: HTTP status, code, message, optional chain."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        error_chain: Sequence[tuple[int, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.error_chain = list(error_chain)
        self.headers = dict(headers or {})

    def error(self) -> dict[str, Any]:
        """The entry of `errors[]`."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.error_chain:
            err["error_chain"] = [{"code": c, "message": m} for c, m in self.error_chain]
        return err

    def response(self) -> web.Response:
        """Render as a JSON response with the envelope (`result: null`)."""
        body = envelope(None, success=False, errors=[self.error()])
        return web.json_response(body, status=self.status, headers=self.headers)
