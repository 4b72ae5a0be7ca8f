"""Issue 12 Done 4: the official `socket.io-client` (Node) against the `/socket.io/` door.

The Node script (tests/node/sio_client.mjs) prints one JSON line per thing it sees; these tests
read those lines. `.ci/run` installs the client with `npm ci` in tests/node.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.helpers.actors import Actor

NODE_DIR = Path(__file__).parent / "node"
LINE_TIMEOUT = 15.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and (shutil.which("node") is None
                                  or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir()),
    reason="needs node and `npm ci` in tests/node (CI installs both)",
)


class NodeClient:
    """One `node sio_client.mjs` process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), LINE_TIMEOUT)
        assert line, "the Node client exited: " + await self._stderr()
        item: dict[str, Any] = orjson.loads(line)
        self.seen.append(item)
        return item

    async def until(self, pred: Any) -> dict[str, Any]:
        while True:
            item = await self.next()
            if pred(item):
                return item

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


async def node_client(client: TestClient, token: str, transport: str = "") -> NodeClient:
    url = f"http://127.0.0.1:{client.port}"
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "sio_client.mjs"), url, token, *([transport] if transport else []),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=NODE_DIR,
    )
    return NodeClient(proc)


def is_new_message(body: str) -> Any:
    return lambda i: (i["type"] == "event" and i["name"] == "new_message"
                      and i["data"]["message"]["body"] == body)


@pytest.mark.parametrize("transport", ["", "websocket"])
async def test_node_client_gets_its_tenants_new_message_and_none_of_the_others(
    client: TestClient, alice: Actor, bob: Actor, transport: str
) -> None:
    node = await node_client(client, alice.token, transport)
    try:
        hello = await node.next()
        assert hello["type"] == "connected", hello
        # Globex's message is committed and published before acme's: had it leaked, the client
        # would print it first. Acme's arrival is the barrier, no sleep needed.
        await bob.inbound(phone="56977777771", body="solo para globex")
        await alice.inbound(phone="56900000001", body="hola acme")
        got = await node.until(is_new_message("hola acme"))
        assert got["data"]["clientCode"] == "acme"
        assert got["data"]["conversation"]["id"] == got["data"]["message"]["conversation_id"]
        leaked = [i for i in node.seen if "globex" in orjson.dumps(i).decode()
                  or "56977777771" in orjson.dumps(i).decode()]
        assert leaked == []
        # The old clients' room call: own code acknowledged, another business's refused.
        await node.send("join acme")
        own = await node.until(lambda i: i["type"] == "ack")
        assert own["ack"] == {"ok": True, "room": "acme"}
        await node.send("join globex")
        other = await node.until(lambda i: i["type"] == "ack")
        assert other["ack"]["ok"] is False and other["ack"]["error"]["code"] == "forbidden"
        # Refused means refused: still nothing of globex's after the attempt.
        await bob.inbound(phone="56977777771", body="otra de globex")
        await alice.inbound(phone="56900000001", body="segunda acme")
        await node.until(is_new_message("segunda acme"))
        assert not any(i["type"] == "event" and "globex" in orjson.dumps(i["data"]).decode()
                       for i in node.seen)
    finally:
        await node.close()


@pytest.mark.parametrize("token", ["not-a-token", ""])
async def test_node_client_with_a_wrong_token_is_refused(client: TestClient, alice: Actor,
                                                         token: str) -> None:
    node = await node_client(client, token)
    try:
        refused = await node.next()
        assert refused["type"] == "connect_error", refused
        assert refused["data"] == {"code": "unauthorized"}
    finally:
        await node.close()
