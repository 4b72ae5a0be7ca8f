"""A real server process killed (SIGKILL) after the Graph API accepted a send but before the
outcome was stored: on restart the send is not repeated (the Cloud API has no idempotency key),
the message says so, and later sends go out normally. Counted at the fake Graph API."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from app.whatsapp.cloud_webhook import sign
from tests.helpers.fake_graph import FakeGraph
from tests.test_cli import Server, field
from tests.test_webhooks import payload, text

APP_SECRET = "crash-test-app-secret"


async def login(http: aiohttp.ClientSession, email: str, password: str) -> dict[str, str]:
    async with http.post("/api/v1/auth/login", json={"email": email, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def next_event(ws: aiohttp.ClientWebSocketResponse, name: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=20)
        assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data, msg.extra)
        frame = orjson.loads(msg.data)
        for item in frame if isinstance(frame, list) else [frame]:
            if item.get("type") == "event" and item.get("event") == name:
                return dict(item["data"])


async def thread(http: aiohttp.ClientSession, auth: dict[str, str], conv: str) -> list[dict[str, Any]]:
    async with http.get(f"/api/v1/conversations/{conv}/messages", headers=auth) as resp:
        return list((await resp.json())["items"])


async def send(http: aiohttp.ClientSession, auth: dict[str, str], conv: str, body: str) -> str:
    async with http.post(f"/api/v1/conversations/{conv}/messages", json={"body": body},
                         headers=auth) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def test_killed_after_meta_accepted_does_not_send_again(tmp_path: Path) -> None:
    db = tmp_path / "data" / "condorito.db"
    env = {"CONDORITO_ALLOW_CUSTOM_API_BASE": "1", "CONDORITO_SEND_RATE": "0"}
    async with FakeGraph() as graph:
        server = Server(db, tmp_path / "first.log", **env)
        try:
            lines = server.lines_until_listening()
            email, password = field(lines, "e-mail"), field(lines, "password")
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
                auth = await login(http, email, password)
                config = {"provider": "cloud", "phone_number_id": "1001", "access_token": "tok",
                          "app_secret": APP_SECRET, "verify_token": "v", "api_base": graph.base}
                async with http.put("/api/v1/whatsapp/config", json=config, headers=auth) as resp:
                    assert resp.status == 200, await resp.text()
                async with http.post("/api/v1/whatsapp/connect", headers=auth) as resp:
                    assert resp.status == 202
                ws = await http.ws_connect("/ws?v=1")
                await ws.send_str(orjson.dumps({"type": "hello", "v": 1,
                                                "token": auth["Authorization"][7:]}).decode())
                hook = payload("1001", text("wamid.IN1", "¿tienen talla M?"))
                async with http.post("/webhooks/whatsapp/demo", data=hook, headers={
                        "X-Hub-Signature-256": sign(APP_SECRET, hook),
                        "Content-Type": "application/json"}) as resp:
                    assert resp.status == 200
                conv = str((await next_event(ws, "new_message"))["conversation"]["id"])

                graph.hold()  # Meta takes the message; its answer never gets back
                first = await send(http, auth, conv, "Sí, queda una")
                await graph.wait_accepted(1)
                server.proc.kill()  # SIGKILL: no shutdown hook runs
                server.proc.wait()
                await ws.close()
            graph.release()
        finally:
            server.close()

        again = Server(db, tmp_path / "second.log", **env)
        try:
            again.lines_until_listening()
            async with aiohttp.ClientSession(f"http://127.0.0.1:{again.port}") as http:
                auth = await login(http, email, password)
                [_, lost] = await thread(http, auth, conv)
                assert lost["id"] == first
                assert (lost["status"], lost["error"]) == ("failed", "send_unconfirmed")
                # The worker is running: the next reply goes out, and only it.
                await send(http, auth, conv, "¿La reservo?")
                sent = await graph.wait_accepted(2)
                assert [s.payload["text"]["body"] for s in sent] == ["Sí, queda una", "¿La reservo?"]
                assert graph.requests == 2
            assert again.stop() == 0
        finally:
            again.close()
    conn = sqlite3.connect(db)
    try:
        states = [r[0] for r in conn.execute("SELECT state FROM outbox ORDER BY id")]
    finally:
        conn.close()
    assert states == ["unconfirmed", "accepted"]
