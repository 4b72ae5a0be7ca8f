"""One live WebSocket: identity, a bounded outbound queue, timers. Sends never await."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from app.auth.principal import Principal
from app.realtime import const, frames

log = logging.getLogger("condorito.ws")


class Connection:
    """Per-socket state. The hub calls `push`; the hub's flush writes queued frames out."""

    __slots__ = (
        "_backlog_handle", "_backlog_since", "_close_cb", "_drain_waiter", "_flush_cb", "_transport",
        "batch", "close_code", "closed", "held", "id", "ident", "last_recv", "last_sent_seq", "live",
        "pending", "pending_bytes", "timers", "ws",
    )

    def __init__(
        self, ws: web.WebSocketResponse, ident: Principal, *, batch: bool,
        flush_cb: Callable[[Connection], None],
        close_cb: Callable[[Connection, int, str], object],
    ) -> None:
        self.id = secrets.token_hex(4)
        self.ws = ws
        self.ident = ident
        self.batch = batch
        self.live = False                # False while replaying: live frames are held
        self.closed = False
        self.close_code: int | None = None  # the code the server chose, when it closed
        self.held: list[tuple[int | None, bytes, bytes]] = []
        self.pending: list[bytes] = []   # raw frames (batch) or wire frames, not yet written
        self.pending_bytes = 0
        self.last_sent_seq = 0
        self.last_recv = time.monotonic()
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self._transport: asyncio.Transport | None = None
        self._flush_cb = flush_cb
        self._close_cb = close_cb
        self._backlog_handle: asyncio.TimerHandle | None = None
        self._backlog_since = 0.0
        self._drain_waiter: asyncio.Future[None] | None = None

    def attach(self, transport: asyncio.Transport) -> None:
        """Bind the socket's transport once the upgrade is done."""
        self._transport = transport

    @property
    def transport(self) -> asyncio.Transport | None:
        """The socket's transport."""
        return self._transport

    # -- outbound ----------------------------------------------------------------------------

    def push(self, seq: int | None, frame: bytes, wire: bytes) -> None:
        """Queue one event frame (never awaits). Over the limits, the socket is cut 4001."""
        if self.closed:
            return
        if not self.live:
            self.held.append((seq, frame, wire))
            if len(self.held) > const.MAX_PENDING_FRAMES:
                self.fail_slow()
            return
        if seq is not None and seq <= self.last_sent_seq:
            return
        self._queue(frame if self.batch else wire)

    def send_now(self, frame: bytes) -> None:
        """Queue a control frame (welcome, result, ping...) in order with events."""
        if not self.closed:
            self._queue(frame if self.batch else frames.ws_text(frame))

    def _queue(self, item: bytes) -> None:
        pending = self.pending
        pending.append(item)
        self.pending_bytes += len(item)
        n = len(pending)
        if n == 1:
            self._flush_cb(self)
        elif n > const.MAX_PENDING_FRAMES or self.pending_bytes > const.MAX_PENDING_BYTES:
            self.fail_slow()

    def write_raw(self, data: bytes) -> None:
        """Write bytes straight to the transport, ahead of anything still queued."""
        t = self._transport
        if t is not None and not t.is_closing():
            t.write(data)

    def buffered(self) -> int:
        """Bytes the transport still holds for the kernel."""
        t = self._transport
        return t.get_write_buffer_size() if t is not None else 0

    def go_live(self, upto_seq: int) -> None:
        """End replay: drop held frames already replayed, queue the rest in order."""
        self.last_sent_seq = upto_seq
        self.live = True
        held, self.held = self.held, []
        for seq, frame, wire in held:
            if seq is None or seq > upto_seq:
                self._queue(frame if self.batch else wire)

    def flush(self, shared: dict[tuple[int, ...], tuple[bytes, list[bytes]]] | None = None) -> None:
        """Write queued frames to the transport in one write (called by the hub, once a pass).

        Sockets of a tenant usually queued the very same frames in a pass: `shared` lets them
        reuse one joined (or batched) buffer instead of building it once per socket.
        """
        if self.closed or not self.pending:
            return
        t = self._transport
        if t is None or t.is_closing():
            self.pending.clear()
            self.pending_bytes = 0
            return
        buffered = t.get_write_buffer_size()
        if buffered > const.WRITE_HIGH_WATER:
            # The kernel is not taking more: keep frames here, within the limits.
            if buffered + self.pending_bytes > const.MAX_PENDING_BYTES:
                self.fail_slow()
                return
            self._note_behind(True)
            self._schedule_recheck()
            return
        items, self.pending = self.pending, []
        self.pending_bytes = 0
        if len(items) == 1 and not self.batch:
            t.write(items[0])
        else:
            key = (self.batch, *map(id, items))
            hit = shared.get(key) if shared is not None else None
            if hit is None:
                data = _batched(items) if self.batch else b"".join(items)
                if shared is not None:
                    shared[key] = (data, items)  # the frames stay alive, so their ids stay theirs
            else:
                data = hit[0]
            t.write(data)
        # Bytes left in the transport after a write mean the kernel's buffer is full.
        left = t.get_write_buffer_size()
        self._note_behind(left > 0)
        waiter = self._drain_waiter
        if waiter is not None:
            if left <= const.WRITE_HIGH_WATER:
                self._drain_waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            else:
                self._schedule_recheck()  # the kernel is slower than us: look again shortly

    def _note_behind(self, behind: bool) -> None:
        """Track how long the peer has kept the kernel's buffer full; too long is a slow consumer."""
        if not behind:
            self._backlog_since = 0.0
            return
        now = time.monotonic()
        if not self._backlog_since:
            self._backlog_since = now
        elif now - self._backlog_since > const.SLOW_CONSUMER_SECONDS:
            self.fail_slow()

    def _schedule_recheck(self) -> None:
        if self._backlog_handle is None and not self.closed:
            loop = asyncio.get_running_loop()
            self._backlog_handle = loop.call_later(const.BACKLOG_RECHECK, self._recheck)

    def _recheck(self) -> None:
        self._backlog_handle = None
        self.flush()
        waiter = self._drain_waiter
        if waiter is not None and not self.closed:
            if self.writable():
                self._drain_waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            else:
                self._schedule_recheck()

    def writable(self) -> bool:
        """True when the queue is empty and the transport is below its high-water mark."""
        return not self.pending and self.buffered() <= const.WRITE_HIGH_WATER

    async def wait_writable(self) -> None:
        """Wait until queued frames reached the kernel (replay paces itself with this)."""
        if self.closed or self.writable():
            return
        if self._drain_waiter is None:
            self._drain_waiter = asyncio.get_running_loop().create_future()
        # Queued frames go out on the hub's next flush, which answers the waiter; only a full
        # kernel buffer needs the timer.
        if not self.pending:
            self._schedule_recheck()
        await self._drain_waiter

    def fail_slow(self) -> None:
        """Cut a socket that cannot keep up; its client resumes and loses nothing."""
        if self.closed:
            return
        log.warning(
            "slow consumer",
            extra={"fields": {"conn": self.id, "queued": len(self.pending) + len(self.held),
                              "buffered": self.buffered()}},
        )
        self.pending.clear()
        self.held.clear()
        self.pending_bytes = 0
        self._close_cb(self, const.CLOSE_SLOW_CONSUMER, "client could not keep up")

    def mark_closed(self) -> None:
        """Stop all timers; further pushes are ignored."""
        self.closed = True
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()
        if self._backlog_handle is not None:
            self._backlog_handle.cancel()
            self._backlog_handle = None
        self.pending.clear()
        self.held.clear()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._drain_waiter = None

    def info(self) -> dict[str, Any]:
        """Fields for structured logs (never tokens or payloads)."""
        return {"conn": self.id, "tenant": self.ident.tenant_id, "user": self.ident.user_id}


def _batched(items: list[bytes]) -> bytes:
    """Pack raw frames into as few WebSocket messages as the batch limits allow."""
    if len(items) == 1:
        return frames.ws_text(items[0])
    out: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if chunk and (len(chunk) >= const.BATCH_MAX_FRAMES or size + len(item) > const.BATCH_MAX_BYTES):
            out.append(frames.ws_text(frames.batch_message(chunk)))
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    out.append(frames.ws_text(frames.batch_message(chunk) if len(chunk) > 1 else chunk[0]))
    return b"".join(out)
