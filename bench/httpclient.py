"""A lean HTTP/1.1 client for the load generator: a pool of keep-alive connections on raw
asyncio transports, one request at a time on each.

aiohttp's client costs several times more CPU per request than the servers we measure, and a
load generator that saturates first measures itself; every request here is still a real HTTP/1.1
request on a keep-alive connection.
"""

from __future__ import annotations

import asyncio
import socket

from errors import BenchError


class _HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.fut: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.fut = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.fut

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return
        head = buf[:end].lower()
        i = head.find(b"\r\ncontent-length:")
        if i < 0:
            if b"transfer-encoding: chunked" in head:
                self._fail(BenchError("chunked responses are not supported by the bench client"))
                return
            length = 0
        else:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17: j if j > 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            self.buf = buf
            return
        status = int(buf[9:12])
        body = buf[end + 4: total]
        self.buf = buf[total:]
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result((status, body))
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionError(f"HTTP connection lost: {exc}"))


class HttpPool:
    """`size` keep-alive connections; at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host = host
        self.port = port
        self.size = size
        self.free: asyncio.Queue[_HttpConn] = asyncio.Queue()
        self.conns: list[_HttpConn] = []
        self.prefix = f"\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: "

    async def _open(self) -> _HttpConn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_HttpConn, self.host, self.port)
        conn.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    async def open(self) -> None:
        self.conns = list(await asyncio.gather(*(self._open() for _ in range(self.size))))
        for c in self.conns:
            self.free.put_nowait(c)

    def encode(self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return (f"{method} {path} HTTP/1.1{self.prefix}{len(body)}\r\n{extra}\r\n").encode() + body

    async def acquire(self) -> _HttpConn:
        conn = await self.free.get()
        if conn.lost:
            conn = await self._open()
        return conn

    def release(self, conn: _HttpConn) -> None:
        self.free.put_nowait(conn)

    async def send_raw(self, data: bytes) -> tuple[int, bytes]:
        conn = await self.acquire()
        try:
            return await conn.send(data)
        finally:
            self.release(conn)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return await self.send_raw(self.encode(method, path, body, headers))

    def close(self) -> None:
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()
