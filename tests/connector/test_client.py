import asyncio
import random

import httpx
import pytest

from connector.client import Backoff, CloudflareClient, classify
from connector.errors import AuthError, FatalSourceError, RetriableSourceError
from connector.governor import Governor
from connector.settings import Credentials, Secret

TOKEN = Credentials(token=Secret("t" * 40))


def _response(status, body=None, headers=None, text=None):
    request = httpx.Request("GET", "https://api.cloudflare.com/client/v4/accounts/a/audit_logs")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def _envelope(code, message, chain=None):
    error = {"code": code, "message": message}
    if chain:
        error["error_chain"] = chain
    return {"success": False, "errors": [error], "messages": [], "result": None}


def test_success_returns_envelope():
    body = {"success": True, "errors": [], "messages": [], "result": [1]}
    assert classify(_response(200, body)) == body


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "fix"),
    [
        (400, _envelope(6003, "Invalid request headers",
                        [{"code": 6111, "message": "Invalid format for Authorization header"}]),
         AuthError, 6111, "CF_API_TOKEN is not an API token"),
        (400, _envelope(6003, "Invalid request headers",
                        [{"code": 6103, "message": "Invalid format for X-Auth-Key header"}]),
         AuthError, 6103, "CF_API_KEY is not a global API key"),
        (401, _envelope(1000, "Invalid API Token"), AuthError, 1000, "create a new one"),
        (400, _envelope(1001, 'Missing "Authorization" header'), AuthError, 1001,
         "set CF_API_TOKEN"),
        (403, _envelope(10000, "Authentication error"), AuthError, 10000,
         "lacks a permission"),
        (403, _envelope(9103, "Unknown X-Auth-Key or X-Auth-Email"), AuthError, 9103, "CF_API_KEY"),
        (404, _envelope(7003, "Could not route"), AuthError, 7003, "CF_ACCOUNT_ID"),
        (400, _envelope(1234, "bad since"), FatalSourceError, 1234, "bad since"),
        (200, _envelope(1234, "nope"), FatalSourceError, 1234, "nope"),
        (429, _envelope(971, "Please wait"), RetriableSourceError, 971, "rate limited"),
        (503, None, RetriableSourceError, None, "transient"),
    ],
)
def test_classify_table(status, body, error, code, fix):
    response = _response(status, body) if body else _response(status, text="<html>oops</html>")
    with pytest.raises(error) as info:
        classify(response)
    assert info.value.code == code
    assert fix in str(info.value)
    assert info.type is error


def test_retry_after_seconds_is_read():
    response = _response(429, _envelope(971, "Please wait"), headers={"Retry-After": "7"})
    with pytest.raises(RetriableSourceError) as info:
        classify(response)
    assert info.value.retry_after == 7.0


def test_backoff_honours_retry_after_and_caps():
    rand = random.Random(1)
    policy = Backoff(base_s=1, cap_s=8)
    assert 30 <= policy.delay(1, 30, rand) <= 31
    assert all(0.1 <= policy.delay(n, None, rand) <= 8 for n in range(1, 20))


def _count(status):
    from connector import metrics

    return metrics.API_RESPONSES.labels(status)._value.get()


def test_client_retries_transient_errors_then_succeeds():
    before = {s: _count(s) for s in ("error", "429", "200")}
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("reset", request=request)
        if len(calls) == 2:
            return httpx.Response(429, json=_envelope(971, "wait"), headers={"Retry-After": "2"})
        return httpx.Response(200, json={"success": True, "errors": [], "result": []})

    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    async def go():
        client = CloudflareClient("https://cf.test/client/v4", TOKEN,
                                  transport=httpx.MockTransport(handler), sleep=sleep)
        try:
            return await client.get("/x", {"a": 1})
        finally:
            await client.aclose()

    assert asyncio.run(go())["success"] is True
    assert len(calls) == 3
    assert calls[0].headers["authorization"] == "Bearer " + "t" * 40
    assert slept[1] >= 2, "the 429's Retry-After is honoured"
    assert {s: _count(s) - n for s, n in before.items()} == {"error": 1, "429": 1, "200": 1}


def test_client_does_not_retry_auth_errors_and_hides_secrets():
    def handler(request):
        return httpx.Response(403, json=_envelope(10000, "Authentication error"))

    async def go():
        client = CloudflareClient("https://cf.test/client/v4", TOKEN,
                                  transport=httpx.MockTransport(handler))
        assert "t" * 40 not in repr(client)
        try:
            await client.get("/accounts/a/audit_logs")
        finally:
            await client.aclose()

    with pytest.raises(AuthError) as info:
        asyncio.run(go())
    assert "t" * 40 not in str(info.value)


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    async def sleep(self, seconds):
        self.now += max(seconds, 1e-6)
        await asyncio.sleep(0)


def _spent_budget_server(t, headers):
    """A server that answers 200 with ``headers`` and records the (fake) time of each call."""
    seen = []

    def handler(request):
        seen.append(t.now)
        if request.url.path.endswith("/logs"):
            return httpx.Response(200, content=b'{"RayID":"a"}\n', headers=headers)
        return httpx.Response(200, json={"success": True, "errors": [], "result": []},
                              headers=headers)

    return seen, handler


@pytest.mark.parametrize(
    "headers",
    [
        {"Date": "Sun, 22 Nov 2026 15:00:00 GMT", "x-ratelimit-limit": "1200",
         "x-ratelimit-remaining": "0", "x-ratelimit-reset": "Sun, 22 Nov 2026 15:00:30 GMT"},
        {"Ratelimit": '"default";r=0;t=30', "Ratelimit-Policy": '"default";q=1200;w=300'},
    ],
    ids=["x-ratelimit", "ratelimit"],
)
@pytest.mark.parametrize("method", ["get", "post", "stream_lines", "stream_chunks"])
def test_client_holds_when_the_server_says_the_budget_is_spent(headers, method):
    t = FakeTime()
    seen, handler = _spent_budget_server(t, headers)
    governor = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)

    async def call(client):
        if method == "get":
            await client.get("/x")
        elif method == "post":
            await client.post("/graphql", {"query": "{}"})
        elif method == "stream_lines":
            assert [line async for line in client.stream_lines("/zones/z/logs")] == [
                b'{"RayID":"a"}']
        else:
            assert b"".join([p async for p in client.stream_chunks("/zones/z/logs")]) == (
                b'{"RayID":"a"}\n')

    async def go():
        client = CloudflareClient("https://cf.test/client/v4", TOKEN, governor=governor,
                                  transport=httpx.MockTransport(handler))
        try:
            await call(client)
            await call(client)
        finally:
            await client.aclose()

    asyncio.run(go())
    assert seen[0] == 0
    assert seen[1] >= 30, "the second request waited for the server's reset"


def test_client_ignores_garbage_rate_limit_headers():
    t = FakeTime()
    seen, handler = _spent_budget_server(
        t, {"x-ratelimit-remaining": "zero", "x-ratelimit-reset": "later", "Ratelimit": ";;"})
    governor = Governor(rate_per_s=100, burst=100, clock=t.clock, sleep=t.sleep)

    async def go():
        client = CloudflareClient("https://cf.test/client/v4", TOKEN, governor=governor,
                                  transport=httpx.MockTransport(handler))
        try:
            await client.get("/x")
            await client.get("/x")
        finally:
            await client.aclose()

    asyncio.run(go())
    assert seen == [0, 0]
