"""Idle and slow connections (issue 7 item 7): a connection that sends no request, or drips its
request head, is closed after the header timeout; a body that does not arrive within the body
timeout gets 408 and the connection closed; a client that disconnects mid-body leaves one DEBUG
line and no ERROR or traceback. The timeouts are patched short; every wait has an outer bound."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app import create_app
from app.config import Config, load_config
from tests.helpers.actors import make_actor
from tests.helpers.frames import next_frame

BOUND = 5.0  # seconds: the outer limit of every wait below (the timeouts under test are 0.3 s)
SHORT = 0.3


async def serve(config: Config) -> AsyncIterator[int]:
    """The app served as run.py serves it (web.run_app's runner: no handler cancellation on
    disconnect, unlike aiohttp's TestServer); yields the port."""
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
async def short(config: Config) -> AsyncIterator[int]:
    """A server with both timeouts patched short."""
    async for port in serve(dataclasses.replace(config, header_timeout=SHORT, body_timeout=SHORT)):
        yield port


@pytest.fixture
async def server(config: Config) -> AsyncIterator[int]:
    """A server with the default timeouts."""
    async for port in serve(config):
        yield port


async def raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def drip(writer: asyncio.StreamWriter, data: bytes, stop: asyncio.Event,
               pace: float = 0.05) -> None:
    """Send `data` a byte at a time (a slow client) until done, or until told to stop."""
    for i in range(len(data)):
        if stop.is_set():
            return
        writer.write(data[i:i + 1])
        await writer.drain()
        await asyncio.sleep(pace)


@pytest.fixture
async def dripping() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def hung_up(reader: asyncio.StreamReader) -> bool:
    """True once the server closed: EOF after whatever it sent, or a reset (the client was
    still sending into the closed socket); a server that keeps the connection fails the bound."""
    with contextlib.suppress(ConnectionResetError):
        await asyncio.wait_for(reader.read(), BOUND)
    return reader.at_eof() or reader.exception() is not None


async def test_connection_that_sends_nothing_is_closed(short: int) -> None:
    reader, writer = await raw(short)
    try:
        assert await asyncio.wait_for(reader.read(), BOUND) == b""  # EOF: the server hung up
    finally:
        writer.close()


async def test_dripped_request_head_is_cut(short: int, dripping: list[Any]) -> None:
    reader, writer = await raw(short)
    head = b"GET /login HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n\r\n"
    dripping.append(asyncio.ensure_future(drip(writer, head, asyncio.Event())))  # 20 s at this pace
    try:
        assert await hung_up(reader)
    finally:
        writer.close()


def login_head(length: int) -> bytes:
    return (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % length)


async def test_stalled_body_gets_408_and_the_connection_closes(short: int) -> None:
    reader, writer = await raw(short)
    body = orjson.dumps({"email": "a@b.test", "password": "x" * 400})
    writer.write(login_head(len(body)))
    # A few bytes one at a time, then nothing: the deadline passes with nothing unread, so the
    # answer arrives whole (bytes still arriving at a closed socket would reset it, next test).
    await drip(writer, body[:4], asyncio.Event())
    try:
        answer = await asyncio.wait_for(reader.read(), BOUND)  # everything up to the server's EOF
    finally:
        writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"connection: close" in head.lower()
    assert orjson.loads(payload)["error"]["code"] == "request_timeout"


async def test_dripped_body_is_cut(short: int, dripping: list[Any]) -> None:
    reader, writer = await raw(short)
    body = orjson.dumps({"email": "a@b.test", "password": "x" * 400})
    writer.write(login_head(len(body)))
    # A byte every 50 ms for 20 s: a deadline that each byte pushed back would never pass.
    dripping.append(asyncio.ensure_future(drip(writer, body, asyncio.Event())))
    try:
        assert await hung_up(reader)
    finally:
        writer.close()


@pytest.fixture
async def short_client(aiohttp_client: Any, config: Config) -> TestClient:
    return await aiohttp_client(create_app(dataclasses.replace(config, header_timeout=SHORT,
                                                               body_timeout=SHORT)))


async def test_sockets_outlive_the_header_timeout(short_client: TestClient) -> None:
    alice = await make_actor(short_client, "acme")  # a login body within the deadline works
    ws, _ = await alice.ws()
    await asyncio.sleep(SHORT * 2)  # idle for longer than the head deadline, on purpose
    await alice.inbound(body="sigue vivo")
    frame = await next_frame(ws)
    assert frame["type"] == "event", frame


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/login"])
async def test_disconnect_mid_body_is_quiet(server: int, caplog: pytest.LogCaptureFixture,
                                            path: str) -> None:
    seen = _Seen()
    http_log = logging.getLogger("condorito.http")
    http_log.addHandler(seen)
    caplog.set_level(logging.DEBUG)
    try:
        reader, writer = await raw(server)
        # Expect: 100-continue makes the server say when the request reached its route, so the
        # disconnect lands while the handler is reading the body (not before it ran).
        kind = "application/json" if path.startswith("/api/") else "application/x-www-form-urlencoded"
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                     "Expect: 100-continue\r\nContent-Length: 100\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)).startswith(b"HTTP/1.1 100")
        writer.write(b'{"em')
        await writer.drain()
        writer.close()
        await asyncio.wait_for(seen.event.wait(), BOUND)  # the handler saw the disconnect
    finally:
        http_log.removeHandler(seen)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)
    quiet = [r for r in caplog.records if r.name == "condorito.http"]
    assert quiet and all(r.levelno == logging.DEBUG for r in quiet)


def test_timeouts_from_the_environment() -> None:
    default = load_config(env={})
    assert (default.header_timeout, default.body_timeout) == (75.0, 60.0)
    config = load_config(env={"CONDORITO_HEADER_TIMEOUT": "5", "CONDORITO_BODY_TIMEOUT": "2.5"})
    assert (config.header_timeout, config.body_timeout) == (5.0, 2.5)
