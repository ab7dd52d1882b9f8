"""CloudflareClient.stream_chunks: a gzip NDJSON body as decompressed pieces (ISA-L or zlib),
with the failures stream_lines detects (Error streaming data trailer, cut connection,
truncated or corrupt gzip) raised as RetriableSourceError."""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib

import httpx
import pytest

from connector import client as client_mod
from connector import metrics
from connector.client import STREAM_ERROR, CloudflareClient, GzipPieces, LastLine
from connector.errors import RetriableSourceError, SourceError
from connector.governor import Governor
from connector.settings import Credentials, Secret

TOKEN = Credentials(token=Secret("t" * 40))
LINES = [b'{"RayID":"%016x","ClientIP":"192.0.2.1","Path":"/%s"}' % (i, b"x" * (i % 97))
         for i in range(400)]
BODY = b"\n".join(LINES) + b"\n"


def _isal():
    from isal import isal_zlib

    return lambda: isal_zlib.decompressobj(wbits=31), (zlib.error, isal_zlib.error)


def _zlib():
    return lambda: zlib.decompressobj(wbits=31), (zlib.error,)


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    """Runs the test with each inflater; yields a list counting decompressors created."""
    factory, errors = _isal() if request.param == "isal" else _zlib()
    made = []

    def counting():
        made.append(d := factory())
        return d

    monkeypatch.setattr(client_mod, "INFLATE", (counting, errors))
    return request.param, made


def test_isal_is_the_default_inflater():
    from isal import isal_zlib

    factory, errors = client_mod.INFLATE
    assert isinstance(factory(), isal_zlib.Decompress)
    assert isal_zlib.error in errors and zlib.error in errors


def gzip_pieces(pieces, members=1):
    """Raw gzip chunks such that chunk i inflates to exactly pieces[i] (sync flushes);
    ``members`` > 1 starts a new gzip member every len/members pieces."""
    out, comp = [], None
    per = max(1, len(pieces) // members)
    for i, piece in enumerate(pieces):
        raw = b""
        if comp is None:
            comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        raw += comp.compress(piece) + comp.flush(zlib.Z_SYNC_FLUSH)
        if (i + 1) % per == 0 or i == len(pieces) - 1:
            raw += comp.flush()
            comp = None
        out.append(raw)
    return out


def split(data, rng, n):
    cuts = sorted(rng.sample(range(1, len(data)), n))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


class Body(httpx.AsyncByteStream):
    """A response body delivered chunk by chunk; ``fail`` raises after the chunks."""

    def __init__(self, chunks, fail=None):
        self.chunks, self.fail = chunks, fail

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk
        if self.fail is not None:
            raise self.fail


def _client(chunks, *, encoding="gzip", fail=None, status=200):
    def handler(request):
        assert request.headers["accept-encoding"] == "gzip"
        headers = {"Content-Encoding": encoding} if encoding else {}
        return httpx.Response(status, headers=headers, stream=Body(chunks, fail))

    return CloudflareClient("https://cf.test/client/v4", TOKEN,
                            transport=httpx.MockTransport(handler))


def _collect(chunks, **kw):
    pieces = []

    async def go():
        client = _client(chunks, **kw)
        try:
            async for piece in client.stream_chunks("/zones/z/logs/received",
                                                    scope_governor=Governor(100, 100)):
                assert piece, "no empty pieces"
                pieces.append(piece)
        finally:
            await client.aclose()

    try:
        asyncio.run(go())
    except SourceError as exc:
        return pieces, exc
    return pieces, None


@pytest.mark.parametrize("members", [1, 3])
def test_pieces_are_the_body(inflater, members):
    rng = random.Random(members)
    raw = gzip_pieces(split(BODY, rng, 29), members)  # 30 pieces
    pieces, exc = _collect(split(b"".join(raw), rng, 200))  # raw chunks cut anywhere
    assert exc is None
    assert b"".join(pieces) == BODY
    assert len(pieces) > 1, "streamed, not read whole"
    assert len(inflater[1]) == members, f"{inflater[0]} inflated each gzip member"


def test_gzip_compressed_in_one_go_and_identity_bodies():
    pieces, exc = _collect([gzip.compress(BODY)])
    assert exc is None and b"".join(pieces) == BODY
    pieces, exc = _collect(split(BODY, random.Random(1), 50), encoding=None)
    assert exc is None and b"".join(pieces) == BODY
    pieces, exc = _collect([], encoding="gzip")  # no body at all: nothing, no error
    assert exc is None and pieces == []


@pytest.mark.parametrize("cut", [8, 4, 1, "half"])
def test_truncated_gzip_is_retriable(inflater, cut):
    """The body ends cleanly (no transport error) but inside the gzip member: the trailer
    (cut <= 8) or deflate data is missing."""
    whole = gzip.compress(BODY)
    data = whole[:len(whole) // 2] if cut == "half" else whole[:-cut]
    pieces, exc = _collect(split(data, random.Random(len(data)), 20))
    assert isinstance(exc, RetriableSourceError)
    assert "cut short" in str(exc)
    assert BODY.startswith(b"".join(pieces))


def test_corrupt_gzip_is_retriable(inflater):
    data = bytearray(gzip.compress(BODY))
    data[100:110] = b"\xff" * 10
    _, exc = _collect([bytes(data)])
    assert isinstance(exc, RetriableSourceError)
    assert "stream broke" in str(exc)
    _, exc = _collect([b"this is not gzip at all"])
    assert isinstance(exc, RetriableSourceError)


def test_transport_error_mid_stream_is_retriable(inflater):
    before = metrics.API_RESPONSES.labels("error")._value.get()
    raw = gzip_pieces(split(BODY, random.Random(2), 10))
    pieces, exc = _collect(raw[:5], fail=httpx.RemoteProtocolError("peer closed connection"))
    assert isinstance(exc, RetriableSourceError)
    assert "RemoteProtocolError" in str(exc)
    assert pieces and BODY.startswith(b"".join(pieces))
    assert metrics.API_RESPONSES.labels("error")._value.get() == before + 1


@pytest.mark.parametrize("at", range(len(STREAM_ERROR) + 2))
@pytest.mark.parametrize("end", [b"\n", b"", b"\n\n \n", b": upstream timeout\n"])
def test_error_trailer_split_across_pieces_is_retriable(inflater, at, end):
    trailer = STREAM_ERROR + end
    body = BODY + trailer
    cut = len(BODY) - 1 + at  # from the previous line's newline to past the marker
    pieces = [body[:cut - 500], body[cut - 500:cut], body[cut:]]
    got, exc = _collect(gzip_pieces(pieces))
    assert isinstance(exc, RetriableSourceError), f"trailer split at {at} not seen"
    assert "Error streaming data" in str(exc)
    assert b"".join(got) == body, "every piece was yielded before the error"


def test_error_trailer_in_its_own_pieces_and_identity(inflater):
    pieces = [BODY, b"Err", b"or str", b"eaming", b" data", b"\n", b"\n"]
    _, exc = _collect(gzip_pieces(pieces))
    assert isinstance(exc, RetriableSourceError)
    _, exc = _collect(pieces, encoding=None)
    assert isinstance(exc, RetriableSourceError)


def test_no_false_trailer():
    tricky = b'{"RayID":"a","Msg":"Error streaming data"}\n'
    long_line = b'{"RayID":"b","X":"' + b"y" * 5000 + b'"}'
    for pieces in ([BODY, tricky], [BODY, b"\n\nError streaming data x"[:2], tricky],
                   [BODY, long_line[:10], long_line[10:4000], long_line[4000:]]):
        got, exc = _collect(gzip_pieces(pieces))
        assert exc is None
        assert b"".join(got) == b"".join(pieces)


def _last_nonblank(stream):
    lines = [line for line in stream.split(b"\n") if line.strip()]
    return lines[-1] if lines else b""


def test_last_line_follows_any_split():
    """LastLine.line is the start of the last non-blank line, however the stream is cut."""
    rng = random.Random(7)
    words = [b"", b" ", b"\n", b"\n\n", b"Error streaming data", b"Error", b" streaming",
             b"{}", b'{"a":1}', b"x" * 40, b"\t"]
    for _ in range(3000):
        stream = b"".join(rng.choice(words) for _ in range(rng.randrange(1, 12)))
        last = LastLine()
        pieces = split(stream, rng, min(len(stream) - 1, rng.randrange(0, 6))) if len(
            stream) > 1 else [stream]
        for piece in pieces:
            last.feed(piece)
        want = _last_nonblank(stream)
        assert last.line == want[:len(STREAM_ERROR)] or (
            not last.line.strip() and not want), (stream, pieces)
        assert last.line.startswith(STREAM_ERROR) == want.startswith(STREAM_ERROR)


def test_gzip_pieces_checks_the_end():
    data = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    for factory, _ in (_isal(), _zlib()):
        whole = GzipPieces("GET /x", factory)
        assert whole.feed(data) + whole.finish() == b"a\nb\n"
        cut = GzipPieces("GET /x", factory)
        cut.feed(data[:-2])
        with pytest.raises(RetriableSourceError):
            cut.finish()


def test_error_status_raises_like_get():
    def handler(request):
        return httpx.Response(429, json={"success": False, "errors": [
            {"code": 971, "message": "wait"}]}, headers={"Retry-After": "7"})

    zone = Governor(100, 100)

    async def go():
        client = CloudflareClient("https://cf.test/client/v4", TOKEN,
                                  transport=httpx.MockTransport(handler))
        try:
            async for _ in client.stream_chunks("/zones/z/logs/received", scope_governor=zone):
                pass
        finally:
            await client.aclose()

    with pytest.raises(RetriableSourceError) as info:
        asyncio.run(go())
    assert info.value.status == 429 and info.value.retry_after == 7
