"""The Socket.IO door at `/socket.io/`: the same events, for clients of the old Node system.

python-socketio (aiohttp mode) speaks Engine.IO/Socket.IO; this module only binds it to the hub.
A Socket.IO client is a hub `Connection` like a `/ws` socket (same tenant registry, same
visibility predicate, same per-user limit and revocations), so the hub's fan-out loop needs no
extra branch: its frames are queued by `Connection.push` and written here as Socket.IO events
named with the wire name (`new_message`, `whatsapp_qr`...), the `data` of the `/ws` frame as the
only argument. There is no replay: Socket.IO has no resume, so a client that reconnects reloads
over REST, as it did with the Node server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

from app import keys
from app.auth.middleware import public, same_origin
from app.auth.principal import AuthFailure, Principal
from app.realtime import const, frames
from app.realtime.connection import Connection

log = logging.getLogger("condorito.sio")

PATH = "/socket.io/"
NAMESPACE = "/"


class SioConnection(Connection):
    """One Socket.IO client in the hub. `pending` holds raw event frames (batch=True shape)."""

    __slots__ = ("door", "draining", "sid")

    def __init__(self, sid: str, ident: Principal, door: SocketIODoor) -> None:
        # No aiohttp WebSocketResponse: Engine.IO owns the transport (WebSocket or long-poll).
        super().__init__(None, ident, batch=True, flush_cb=door.schedule,  # type: ignore[arg-type]
                         close_cb=door.hub_close)
        self.sid = sid
        self.door = door
        self.draining = False

    def info(self) -> dict[str, Any]:
        return {**super().info(), "transport": "socket.io"}


Closer = Callable[[Connection, int, str], "asyncio.Task[Any] | None"]


def closer(ws_closer: Closer) -> Closer:
    """The hub's closer: Socket.IO clients close through their door, /ws sockets as before."""
    def close_any(conn: Connection, code: int, message: str) -> asyncio.Task[Any] | None:
        if isinstance(conn, SioConnection):
            return conn.door.close(conn, code, message)
        return ws_closer(conn, code, message)
    return close_any


class _Manager(socketio.AsyncManager):  # type: ignore[misc]
    """Tells the door when a client is fully connected (after python-socketio sent CONNECT).

    Frames published while the connect handler runs are held in the connection until then, so an
    event can never reach the client before its CONNECT packet (which it would drop).
    """

    def __init__(self, door: SocketIODoor) -> None:
        super().__init__()
        self._door = door

    async def connect(self, sid: str, namespace: str) -> Any:
        result = await super().connect(sid, namespace)
        self._door.went_live(sid)
        return result


class SocketIODoor:
    """The AsyncServer and the hub connections of its clients."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.conns: dict[str, SioConnection] = {}
        # One event goes to every client of a tenant: its packet text is built once.
        self._packets: dict[bytes, str] = {}
        # logger=False keeps python-socketio's packet logs (which carry message bodies) off.
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=_Manager(self), cors_allowed_origins=self._origin_ok,
            logger=False, engineio_logger=False, max_http_buffer_size=const.MAX_INBOUND_FRAME,
        )
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("join_client_room", self._join_client_room)

    def setup_routes(self) -> None:
        """GET/POST (long-poll and the WebSocket upgrade) and OPTIONS, before the auth middleware
        asks for a login: the connect handler authenticates instead."""
        @public
        async def handle(request: web.Request) -> web.StreamResponse:
            result: web.StreamResponse = await self.sio.handle_request(request)
            return result

        for method in ("GET", "POST", "OPTIONS"):
            self.app.router.add_route(method, PATH, handle)

    def _origin_ok(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """Browsers from elsewhere are refused, as on /ws; clients without Origin are not."""
        request = environ.get("aiohttp.request")
        return origin is None or (request is not None and same_origin(request, required=False))

    # -- connect / disconnect ----------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        """`auth: {token}` verified as /ws verifies its hello; refusals reach the client as
        `connect_error` with `data.code` (unauthorized, token_expired, forbidden, ...)."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError("missing token", {"code": "unauthorized"})
        app = self.app
        try:
            principal = await app[keys.AUTH].authenticate(token)
        except AuthFailure as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        if principal.must_change_password:
            raise socketio.exceptions.ConnectionRefusedError("choose a new password first",
                                                             {"code": "unauthorized"})
        hub = app[keys.HUB]
        if len(hub.user_connections(principal.user_id)) >= app[keys.CONFIG].max_sockets_per_user:
            raise socketio.exceptions.ConnectionRefusedError("too many connections for this user",
                                                             {"code": "too_many_connections"})
        conn = SioConnection(sid, principal, self)
        self.conns[sid] = conn
        hub.register(conn)  # held (not live) until the manager reports CONNECT sent
        remaining = principal.expires_at - time.time()
        conn.timers["expiry"] = asyncio.get_running_loop().call_later(
            max(0.0, remaining), hub.close, conn, const.CLOSE_TOKEN_EXPIRED, "token expired")
        log.debug("sio connected", extra={"fields": conn.info()})

    def went_live(self, sid: str) -> None:
        conn = self.conns.get(sid)
        if conn is not None and not conn.closed:
            conn.go_live(0)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.conns.pop(sid, None)
        if conn is not None:
            conn.mark_closed()
            self.app[keys.HUB].unregister(conn)
            log.debug("sio closed", extra={"fields": {**conn.info(), "code": conn.close_code}})

    # -- client events -----------------------------------------------------------------------

    async def _join_client_room(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Old clients join their business's room by code. Events already flow to the tenant
        from connect; this only answers (ack) whether the code is the client's own."""
        conn = self.conns.get(sid)
        code = data.get("clientCode", data.get("client_code")) if isinstance(data, dict) else data
        if conn is None or not isinstance(code, str) or code != conn.ident.client_code:
            return {"ok": False, "error": {"code": "forbidden",
                                           "message": "not your business's client code"}}
        return {"ok": True, "room": code}

    # -- outbound ----------------------------------------------------------------------------

    def schedule(self, conn: Connection) -> None:
        """A first frame was queued: start the connection's writer unless it runs already."""
        assert isinstance(conn, SioConnection)
        if not conn.draining and not conn.closed:
            conn.draining = True
            asyncio.get_running_loop().create_task(self._drain(conn))

    async def _drain(self, conn: SioConnection) -> None:
        """Write queued frames as Socket.IO EVENT packets, in order."""
        try:
            eio_sid = self.sio.manager.eio_sid_from_sid(conn.sid, NAMESPACE)
            while conn.pending and not conn.closed and eio_sid is not None:
                items, conn.pending = conn.pending, []
                conn.pending_bytes = 0
                for frame in items:
                    # `2[...]` is a Socket.IO EVENT on the default namespace; Engine.IO adds its
                    # `4` (message). The data is copied out of the frame, never parsed again.
                    await self.sio.eio.send(eio_sid, self._packet(frame))
                if self._backlog(eio_sid) > const.MAX_PENDING_FRAMES:
                    conn.fail_slow()
        except Exception:  # a client gone mid-write: the disconnect handler cleans up
            log.debug("sio write failed", extra={"fields": conn.info()})
        finally:
            conn.draining = False

    def _packet(self, frame: bytes) -> str:
        text = self._packets.get(frame)
        if text is None:
            if len(self._packets) >= 256:
                self._packets.clear()
            name, data = frames.event_parts(frame)
            text = self._packets[frame] = f'2["{name}",{data.decode()}]'
        return text

    def _backlog(self, eio_sid: str) -> int:
        """Packets Engine.IO holds for a client that has not taken them (a slow consumer)."""
        sock = self.sio.eio.sockets.get(eio_sid)
        return sock.queue.qsize() if sock is not None else 0

    # -- closing -----------------------------------------------------------------------------

    def hub_close(self, conn: Connection, code: int, message: str) -> None:
        self.app[keys.HUB].close(conn, code, message)

    def close(self, conn: SioConnection, code: int, message: str) -> asyncio.Task[None] | None:
        """The hub's closer for Socket.IO clients: an `error` event naming the /ws close code,
        then a server disconnect (Socket.IO clients do not reconnect by themselves after one)."""
        if conn.closed:
            return None
        conn.mark_closed()
        conn.close_code = code
        self.app[keys.HUB].unregister(conn)
        return asyncio.get_running_loop().create_task(self._send_close(conn.sid, code, message))

    async def _send_close(self, sid: str, code: int, message: str) -> None:
        with contextlib.suppress(Exception):  # a client already gone needs no goodbye
            await self.sio.emit("error", {"code": const.CLOSE_NAMES.get(code, "error"),
                                          "close_code": code, "message": message}, to=sid)
            await self.sio.disconnect(sid)

    async def shutdown(self) -> None:
        """Stop Engine.IO's background tasks (ping loops, the service task)."""
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
