"""A lean RFC 6455 WebSocket client for the load generator, on raw asyncio transports.

aiohttp's client costs several times more CPU per frame than the servers we measure, and a load
generator that saturates first measures itself; every client frame here is still a real RFC 6455
frame (masked).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Sequence

from errors import BenchError
from procfs import now_us


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked, final client frame (RFC 6455 §5.3)."""
    n = len(payload)
    key = os.urandom(4)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + _mask(payload, key)


class WsClient(asyncio.Protocol):
    """A minimal RFC 6455 client. Subclasses implement `on_open` and `on_text`.

    `on_text(payload, now)` gets each complete text message; `now` is read once per socket read,
    so frames that arrived together share it.
    """

    path = "/"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.frag: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason = b""
        self.lost = False
        self.bytes_in = 0
        self.msgs_in = 0                  # WebSocket text messages (a batch array counts once)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()   # set by subclasses (welcome...)
        self.done: asyncio.Future[None] = loop.create_future()    # set when the socket is gone

    # transport plumbing
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
             ).encode())

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._refused(buf[: end].split(b"\r\n", 1)[0].decode(errors="replace"))
                return
            self.upgraded = True
            buf = buf[end + 4:]
            self.on_open()
        now = now_us()
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            ln = buf[pos + 1] & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2: pos + 10], "big")
                hdr = 10
            end = pos + hdr + ln
            if end > n:
                break
            op = b0 & 0x0F
            if op == 1 and b0 & 0x80:
                self.msgs_in += 1
                self.on_text(buf[pos + hdr: end], now)
            else:
                self._control(b0, op, buf[pos + hdr: end], now)
            pos = end
        self.buf = buf[pos:] if pos < n else b""

    def _control(self, b0: int, op: int, payload: bytes, now: int) -> None:
        if op in (0, 1, 2):  # fragments (servers here do not fragment, but be correct)
            self.frag.append(payload)
            if b0 & 0x80:
                whole, self.frag = b"".join(self.frag), []
                self.on_text(whole, now)
        elif op == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_reason = payload[2:]
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(payload[:2], 8))
                self.transport.close()
        elif op == 9:
            self.send(payload, 10)

    def _refused(self, status_line: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"upgrade refused: {status_line}"))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"socket closed before ready (code {self.close_code})"))
        if not self.done.done():
            self.done.set_result(None)
        self.on_lost()

    def send(self, payload: bytes, opcode: int = 1) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(client_frame(payload, opcode))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(code.to_bytes(2, "big"), 8)
            self.transport.close()

    # hooks
    def on_open(self) -> None: ...

    def on_text(self, payload: bytes, now: int) -> None: ...

    def on_lost(self) -> None: ...


async def connect_all(factories: Sequence[Callable[[], WsClient]], host: str, port: int,
                      concurrency: int = 200, wait_s: float = 60.0) -> tuple[list[WsClient], list[float]]:
    """Open every socket (bounded concurrency); wait for each to be ready. Returns the clients
    and each one's set-up time in seconds (TCP connect → ready)."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(factory: Callable[[], WsClient]) -> WsClient:
        async with sem:
            t0 = time.monotonic()
            _, client = await loop.create_connection(factory, host, port)
            await asyncio.wait_for(client.ready, wait_s)
            times.append(time.monotonic() - t0)
            return client

    clients = await asyncio.gather(*(one(f) for f in factories))
    return list(clients), times
