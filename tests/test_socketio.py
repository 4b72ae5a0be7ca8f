"""The `/socket.io/` door from Python (python-socketio's own client): revocation, limits, frames.

The Node client's view (issue 12 Done 4) is in tests/test_socketio_node.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson
import pytest
import socketio
from aiohttp.test_utils import TestClient

from app import create_app, keys
from app.config import Config
from app.realtime import frames
from app.realtime.sio import SioConnection
from tests.helpers.actors import PASSWORD, Actor, make_actor

WAIT = 10.0


class Listener:
    """A python-socketio client that queues every event it gets."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.sio.on("*", self._any)
        self.sio.on("disconnect", lambda *a: self.gone.set())
        self.refused: list[Any] = []
        self.sio.on("connect_error", self.refused.append)

    async def _any(self, name: str, data: Any = None) -> None:
        await self.events.put((name, data))

    async def connect(self, client: TestClient, token: str) -> None:
        await self.sio.connect(f"http://127.0.0.1:{client.port}", auth={"token": token},
                               transports=["websocket"], wait_timeout=WAIT)

    async def until(self, name: str) -> Any:
        while True:
            got, data = await asyncio.wait_for(self.events.get(), WAIT)
            if got == name:
                return data


def test_event_parts_slices_name_and_data_out_of_an_event_frame() -> None:
    data = orjson.dumps({"body": 'tricky ,"ts":1 and ","data": inside', "n": [1, 2]})
    frame = frames.event_frame(42, "new_message", data, 1764300000123)
    assert frames.event_parts(frame) == ("new_message", data)
    assert frames.event_parts(frames.event_frame(None, "typing", b"{}", 1)) == ("typing", b"{}")


async def test_changing_the_password_disconnects_the_users_socketio_clients(
    client: TestClient, alice: Actor, bob: Actor
) -> None:
    mine, other = Listener(), Listener()
    await mine.connect(client, alice.token)
    await other.connect(client, bob.token)
    try:
        resp = await alice.post("/api/v1/me/password", {"current_password": PASSWORD,
                                                         "new_password": "otra clave bien larga 42"})
        assert resp.status == 204, await resp.text()
        err = await mine.until("error")
        assert err["code"] == "unauthorized" and err["close_code"] == 4501
        await asyncio.wait_for(mine.gone.wait(), WAIT)
        hub = client.app[keys.HUB]
        assert not hub.user_connections(alice.user_id)
        # Globex's client is untouched and still live.
        assert other.sio.connected
        await bob.inbound(phone="56977777771", body="sigue vivo")
        assert (await other.until("new_message"))["message"]["body"] == "sigue vivo"
    finally:
        await mine.sio.disconnect()
        await other.sio.disconnect()


async def test_socketio_clients_count_toward_the_per_user_socket_limit(
    aiohttp_client: Any, config: Config
) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(config, max_sockets_per_user=1)))
    alice = await make_actor(client, "acme")
    first, second = Listener(), Listener()
    await first.connect(client, alice.token)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await second.connect(client, alice.token)
        assert second.refused == [{"message": "too many connections for this user",
                                   "data": {"code": "too_many_connections"}}]
        conns = client.app[keys.HUB].user_connections(alice.user_id)
        assert len(conns) == 1 and isinstance(next(iter(conns)), SioConnection)
    finally:
        await first.sio.disconnect()
        await second.sio.disconnect()
