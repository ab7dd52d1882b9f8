"""Cloudflare v4 API client: auth headers, envelope checks, error classification, retries."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, cast

import httpx

from connector import metrics
from connector.errors import (
    AuthError,
    FatalSourceError,
    RetriableSourceError,
    SourceError,
)
from connector.governor import HIGH, LOW, Governor, parse_rate_limit
from connector.settings import Credentials

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Cloudflare error codes that mean "your credentials are wrong or not allowed", with the fix.
AUTH_FIXES: Mapping[int, str] = {
    1000: "the API token is invalid, expired or disabled: create a new one under "
    "My Profile > API Tokens and set CF_API_TOKEN",
    1001: "no credentials were sent: set CF_API_TOKEN (or CF_API_EMAIL and CF_API_KEY)",
    6003: "the auth headers are malformed: put an API token in CF_API_TOKEN, or a global "
    "API key in CF_API_KEY together with CF_API_EMAIL (not a key as a token or vice versa)",
    6102: "CF_API_EMAIL is not a valid email address",
    6103: "CF_API_KEY is not a global API key: for an API token use CF_API_TOKEN instead",
    6111: "CF_API_TOKEN is not an API token (a global API key goes in CF_API_KEY with "
    "CF_API_EMAIL)",
    9106: "no credentials were sent: set CF_API_TOKEN (or CF_API_EMAIL and CF_API_KEY)",
    9103: "CF_API_EMAIL / CF_API_KEY are not a known email and global API key pair",
    9109: "the credential may not access this account: check CF_ACCOUNT_ID and the token's "
    "account resources",
    10000: "the credential was rejected or lacks a permission on this account: check the "
    "token's permissions and account resources, and CF_ACCOUNT_ID",
    7003: "the account id is not valid: check CF_ACCOUNT_ID",
    7000: "the account id is not valid: check CF_ACCOUNT_ID",
}
RETRIABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff; a server's ``Retry-After`` wins when it is longer."""

    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rand: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        jittered = rand.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        if retry_after is not None:
            return retry_after + rand.uniform(0, min(1.0, self.base_s))
        return max(jittered, self.base_s / 10)


def classify(response: httpx.Response) -> dict[str, Any]:
    """Return the envelope of a successful response; raise the right ``SourceError`` otherwise.

    One table for HTTP status and body: 429/5xx/timeouts are retriable, auth codes raise
    ``AuthError`` with the fix, other 4xx and ``success: false`` are fatal.
    """
    url = f"{response.request.method} {response.request.url.path}"
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code") if isinstance(first.get("code"), int) else None
    text = str(first.get("message") or response.reason_phrase or "no message")
    chain = first.get("error_chain")
    if isinstance(chain, list) and chain and isinstance(chain[0], dict):
        inner = chain[0]
        text = f"{text}: {inner.get('message')}"
        if isinstance(inner.get("code"), int) and inner["code"] in AUTH_FIXES:
            code = inner["code"]
    if status in RETRIABLE_STATUS:
        what = "rate limited" if status == 429 else "transient error"
        msg = f"Cloudflare {what} (HTTP {status}, code {code}: {text}) on {url}"
        raise RetriableSourceError(
            msg, status=status, code=code, url=url, retry_after=retry_after(response)
        )
    if 200 <= status < 300:
        if not isinstance(body, dict):
            msg = f"Cloudflare sent a non-JSON body (HTTP {status}) on {url}"
            raise RetriableSourceError(msg, status=status, url=url)
        if body.get("success") is False:
            msg = f"Cloudflare error (code {code}: {text}) on {url}"
            raise FatalSourceError(msg, status=status, code=code, url=url)
        return body
    if code in AUTH_FIXES or status in (401, 403):
        fix = AUTH_FIXES.get(code or 0, AUTH_FIXES[10000])
        msg = f"Cloudflare refused the request (HTTP {status}, code {code}: {text}) on {url}: {fix}"
        raise AuthError(msg, status=status, code=code, url=url)
    msg = f"Cloudflare error (HTTP {status}, code {code}: {text}) on {url}"
    raise FatalSourceError(msg, status=status, code=code, url=url)


#: How Logpull reports a failure after the 200 status is sent: a last NDJSON line that starts
#: with this text (the body is incomplete).
STREAM_ERROR = b"Error streaming data"


def _check_line(line: bytes, url: str) -> None:
    if line.startswith(STREAM_ERROR):
        msg = f"Cloudflare reported 'Error streaming data' mid-stream on {url}"
        raise RetriableSourceError(msg, status=200, url=url)


class Decompressor(Protocol):
    """``zlib.decompressobj`` / ``isal.isal_zlib.decompressobj`` (same interface)."""

    @property
    def eof(self) -> bool:
        """True once the end of the gzip member was read."""

    def decompress(self, data: bytes, /) -> bytes:
        """Inflate ``data``; what is past the member's end goes to ``unused_data``."""

    def flush(self) -> bytes:
        """Whatever is left buffered."""

    @property
    def unused_data(self) -> bytes:
        """Bytes after the end of the member."""


def _inflater() -> tuple[Callable[[], Decompressor], tuple[type[Exception], ...]]:
    """ISA-L's inflate when ``isal`` is importable (2x zlib's here), else zlib."""
    errors: tuple[type[Exception], ...] = (zlib.error,)
    try:
        isal_zlib: Any = importlib.import_module("isal.isal_zlib")
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        return lambda: cast(Decompressor, zlib.decompressobj(wbits=31)), errors
    return (lambda: cast(Decompressor, isal_zlib.decompressobj(wbits=31)),
            (*errors, isal_zlib.error))


#: (decompressor factory, its exceptions); tests swap it to cover both inflaters.
INFLATE: tuple[Callable[[], Decompressor], tuple[type[Exception], ...]] = _inflater()


class GzipPieces:
    """Inflates a gzip body piece by piece (members one after another, as ``gzip`` does);
    ``finish`` raises ``RetriableSourceError`` if the stream stopped inside a member."""

    def __init__(self, url: str, factory: Callable[[], Decompressor]) -> None:
        """``url`` names the request in errors."""
        self._url = url
        self._factory = factory
        self._gunzip: Decompressor | None = None

    def feed(self, raw: bytes) -> bytes:
        """The decompressed bytes of ``raw`` (possibly none yet)."""
        out = b""
        while raw:
            if self._gunzip is None or self._gunzip.eof:  # a (further) member starts
                self._gunzip = self._factory()
            out += self._gunzip.decompress(raw)
            raw = self._gunzip.unused_data if self._gunzip.eof else b""
        return out

    def finish(self) -> bytes:
        """The last bytes; an unfinished member (truncated gzip) raises."""
        if self._gunzip is None:  # no byte at all: an empty body, as httpx reads it
            return b""
        out = self._gunzip.flush()
        if not self._gunzip.eof:
            msg = f"Cloudflare stream broke (gzip body cut short) on {self._url}"
            raise RetriableSourceError(msg, url=self._url)
        return out


class LastLine:
    """Follows the pieces of a stream and keeps the start of its last non-blank line, so the
    ``Error streaming data`` trailer is found without looking at every line (a line can span
    pieces; blank lines after it are skipped)."""

    _KEEP = len(STREAM_ERROR)

    def __init__(self) -> None:
        """Nothing seen yet."""
        self._current = b""  # the start of the unfinished line
        self._last = b""  # the start of the last finished non-blank line

    def feed(self, data: bytes) -> None:
        """See the next piece."""
        keep = self._KEEP
        end = data.rfind(b"\n")
        if end < 0:
            if len(self._current) < keep:
                self._current += data[: keep - len(self._current)]
            return
        stop = end  # walk back from the piece's last newline to the last non-blank line
        while True:
            start = data.rfind(b"\n", 0, stop) + 1
            if start == 0:  # this line began in an earlier piece
                head = (self._current + data[:min(stop, keep)])[:keep]
                if head.strip():
                    self._last = head
                break
            if data[start:stop].strip():
                self._last = data[start:min(stop, start + keep)]
                break
            stop = start - 1
        self._current = data[end + 1 : end + 1 + keep]

    @property
    def line(self) -> bytes:
        """The start of the last non-blank line (up to ``len(STREAM_ERROR)`` bytes)."""
        return self._current if self._current.strip() else self._last

    def check(self, url: str) -> None:
        """Raise ``RetriableSourceError`` if the last line is Cloudflare's error trailer."""
        _check_line(self.line, url)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (seconds, or an HTTP date relative to ``Date``)."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            date = response.headers.get("date")
            now = parsedate_to_datetime(date) if date else None
            if now is not None:
                return max(0.0, (when - now).total_seconds())
    return None


class CloudflareClient:
    """An authenticated v4 API client; transport, sleep and randomness are injectable."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
        rand: random.Random | None = None,
        max_attempts: int = 0,
        governor: Governor | None = None,
    ) -> None:
        """``max_attempts`` 0 retries transient errors forever (with backoff).

        ``governor`` is shared by everything using this credential (default: Cloudflare's
        1200 requests / 5 minutes).
        """
        self._credentials = credentials
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"User-Agent": "cfkafka/0.1", **credentials.headers()},
            timeout=timeout_s,
            transport=transport,
        )
        self._sleep = sleep
        self._backoff = backoff or Backoff()
        self._rand = rand or random.Random()  # noqa: S311 - jitter, not crypto
        self._max_attempts = max_attempts
        self.governor = governor or Governor()
        self.requests = 0

    def __repr__(self) -> str:
        """Never show credentials."""
        return f"CloudflareClient({str(self._http.base_url)!r}, {self._credentials.kind})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def get(
        self, path: str, params: Mapping[str, Any] | None = None, priority: int = HIGH
    ) -> dict[str, Any]:
        """GET ``path`` and return the envelope, retrying transient failures."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.governor.acquire(priority)
                return await self._get_once(path, params, self.governor.acquired)
            except RetriableSourceError as exc:
                if self._max_attempts and attempt >= self._max_attempts:
                    raise
                delay = self._backoff.delay(attempt, exc.retry_after, self._rand)
                log.warning("%s; retry %d in %.1fs", exc, attempt, delay)
                await self._sleep(delay)

    async def post(
        self, path: str, body: Mapping[str, Any], priority: int = HIGH
    ) -> dict[str, Any]:
        """POST JSON and return the response object, retrying transient failures."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self.governor.acquire(priority)
                issued = self.governor.acquired
                self.requests += 1
                try:
                    response = await self._http.post(path, json=dict(body))
                except httpx.TransportError as exc:
                    metrics.API_RESPONSES.labels("error").inc()
                    msg = f"cannot reach Cloudflare ({type(exc).__name__}: {exc}) on POST {path}"
                    raise RetriableSourceError(msg, url=f"POST {path}") from exc
                self._observe(response, issued)
                return self._classify(response)
            except RetriableSourceError as exc:
                if self._max_attempts and attempt >= self._max_attempts:
                    raise
                delay = self._backoff.delay(attempt, exc.retry_after, self._rand)
                log.warning("%s; retry %d in %.1fs", exc, attempt, delay)
                await self._sleep(delay)

    async def _get_once(
        self, path: str, params: Mapping[str, Any] | None, issued: int
    ) -> dict[str, Any]:
        self.requests += 1
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            metrics.API_RESPONSES.labels("error").inc()
            msg = f"cannot reach Cloudflare ({type(exc).__name__}: {exc}) on GET {path}"
            raise RetriableSourceError(msg, url=f"GET {path}") from exc
        self._observe(response, issued)
        return self._classify(response)

    def _observe(self, response: httpx.Response, issued: int) -> None:
        """Count the answer; tell the governor what its rate-limit headers say is left.

        ``issued`` is the governor's ``acquired`` count right after this request's token.
        """
        metrics.API_RESPONSES.labels(str(response.status_code)).inc()
        quota = parse_rate_limit(response.headers, time.time())
        if quota is not None:
            self.governor.observe(quota.remaining, quota.reset_s, issued=issued)

    def _classify(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return classify(response)
        except RetriableSourceError as exc:
            if exc.status == 429:  # Cloudflare blocks every call of this credential a while
                self.governor.block_for(exc.retry_after or 60.0)
            raise

    @contextlib.asynccontextmanager
    async def _streamed(
        self, path: str, params: Mapping[str, Any] | None, priority: int,
        scope_governor: Governor | None, errors: tuple[type[Exception], ...] = (),
    ) -> AsyncIterator[httpx.Response | None]:
        """An open 200 response of a streamed GET (None: a 2xx without a body to stream).

        Governor(s), rate-limit headers and metrics as ``get``; an error status raises as
        ``get`` would; a transport or decoding error (or one of ``errors``) while the body is
        read raises ``RetriableSourceError``.
        """
        if scope_governor is not None:
            await scope_governor.acquire(priority)
        await self.governor.acquire(priority)
        issued = self.governor.acquired
        self.requests += 1
        url = f"GET {path}"
        broken: tuple[type[Exception], ...] = (httpx.TransportError, httpx.DecodingError, *errors)
        try:
            async with self._http.stream(
                "GET", path, params=params, headers={"Accept-Encoding": "gzip"}
            ) as response:
                self._observe(response, issued)
                if response.status_code != 200:
                    await response.aread()
                    if response.status_code == 429 and scope_governor is not None:
                        scope_governor.block_for(retry_after(response) or 60.0)
                    self._classify(response)
                    yield None
                    return
                yield response
        except broken as exc:
            metrics.API_RESPONSES.labels("error").inc()
            msg = f"Cloudflare stream broke ({type(exc).__name__}: {exc}) on {url}"
            raise RetriableSourceError(msg, url=url) from exc

    async def stream_lines(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        priority: int = LOW,
        scope_governor: Governor | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream an NDJSON (gzip) body line by line, never holding the whole body.

        Not retried here (part of the body may be consumed already): the caller retries the
        whole request. A trailing ``Error streaming data`` line, a cut connection or a broken
        gzip stream raise ``RetriableSourceError``; an error status raises as ``get`` would.
        """
        url = f"GET {path}"
        async with self._streamed(path, params, priority, scope_governor) as response:
            if response is None:
                return
            pending = b""
            async for chunk in response.aiter_bytes():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line:
                        _check_line(line, url)
                        yield line
            if pending.strip():
                _check_line(pending, url)
                yield pending

    async def stream_chunks(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        priority: int = LOW,
        scope_governor: Governor | None = None,
    ) -> AsyncIterator[bytes]:
        """Stream an NDJSON (gzip) body as decompressed pieces, never holding the whole body.

        The pieces split lines anywhere (the consumer keeps the unfinished tail, e.g.
        ``CompiledLineCodec.encode_chunk``); empty pieces are not yielded. The raw body is
        inflated here with ISA-L when ``isal`` is installed, else zlib (any other
        ``Content-Encoding`` is decoded by httpx). Same request, governors and metrics as
        ``stream_lines``, and the same failures raise ``RetriableSourceError`` (after the
        last piece was yielded, so the consumer must not commit before the iteration ends):
        an ``Error streaming data`` last line, a cut connection, a corrupt gzip stream, or
        one that ends inside a gzip member (truncated). Lines are not checked one by one: a
        consumer that parses them still treats an ``Error streaming data`` line as this
        error (it is never valid JSON).
        """
        url = f"GET {path}"
        factory, inflate_errors = INFLATE
        async with self._streamed(path, params, priority, scope_governor,
                                  inflate_errors) as response:
            if response is None:
                return
            last = LastLine()
            encoding = response.headers.get("content-encoding", "").strip().lower()
            if encoding in ("gzip", "x-gzip"):
                gunzip = GzipPieces(url, factory)
                async for raw in response.aiter_raw():
                    data = gunzip.feed(raw)
                    if data:
                        last.feed(data)
                        yield data
                data = gunzip.finish()
                if data:
                    last.feed(data)
                    yield data
            else:  # identity (or an encoding httpx decodes)
                async for data in response.aiter_bytes():
                    if data:
                        last.feed(data)
                        yield data
            last.check(url)

    async def verify(self, account_id: str) -> str:
        """Check the credential works; return a one-line description or raise ``AuthError``.

        A user token verifies on ``/user/tokens/verify``; an account-owned token fails there
        with code 1000 and verifies on ``/accounts/{id}/tokens/verify``. A global key has no
        verify endpoint; the feed probe checks it.
        """
        if self._credentials.kind != "token":
            return "global API key (checked by the feed probe)"
        try:
            body = await self.get("/user/tokens/verify")
        except AuthError as user_exc:
            if user_exc.code != 1000:
                raise
            try:
                body = await self.get(f"/accounts/{account_id}/tokens/verify")
            except SourceError:
                raise user_exc from None
        status = body.get("result", {}).get("status", "unknown")
        if status != "active":
            msg = f"the API token is {status}: create a new one and set CF_API_TOKEN"
            raise AuthError(msg, code=1000)
        return f"API token {body['result'].get('id', '?')} is active"
