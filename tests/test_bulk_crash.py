"""Issue 10, done-when 1: a 1 000-recipient campaign through a real server process and the
Cloud API stand-in (tests/helpers/fake_graph.py, which counts every send it accepts). The
server is SIGKILLed at ~40 % and started again on the same database: the campaign finishes by
itself, nobody gets the message twice, every recipient ends sent / failed / skipped / unknown,
the campaign's counters equal the rows, progress events only go up and end on the true counts,
and the other tenant's socket sees none of them."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import socket
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from app.auth import passwords, users
from app.db import Database
from app.services import tenants
from tests.helpers.actors import PASSWORD
from tests.helpers.fake_graph import FakeGraph

ROOT = Path(__file__).resolve().parents[1]
N = 1000
KILL_AT = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python run.py` on a port, started and stopped (or killed) by the test."""

    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {**os.environ, "CONDORITO_SECRET": "s" * 8 + secrets.token_urlsafe(40),
               "CONDORITO_ALLOW_CUSTOM_API_BASE": "1",
               "CONDORITO_SEND_RATE": "80"}  # the number's governor at Meta's 80/s, as the campaign
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "run.py"), "--host", "127.0.0.1", "--port", str(self.port),
            "--db", str(self.db), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        assert self.proc.stdout is not None
        while True:  # run.py prints this line once the socket is bound and startup ran
            line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
            assert line, "server exited before listening"
            if b"listening on" in line:
                return

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 30)


async def seed(db_path: Path) -> None:
    db = Database(db_path)
    await db.open()
    pw = passwords.hash_password(PASSWORD)

    def fn(tx: Any) -> None:
        for code, provider in (("acme", "cloud"), ("globex", "sandbox")):
            tenant = tenants.create_tenant(tx, code, code.title(), provider)
            users.create_user(tx, tenant.id, f"admin@{code}.test", "Admin", "admin", pw)
    await db.write(fn)
    await db.close()


class Listener:
    """A tenant's /ws, collecting bulk_message_progress (and anything else) in the background."""

    def __init__(self, http: aiohttp.ClientSession, server: Server, token: str) -> None:
        self.http, self.server, self.token = http, server, token
        self.progress: list[list[dict[str, Any]]] = []   # one list per connection
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def connect(self) -> None:
        self.progress.append([])
        self.done.clear()
        self.task = asyncio.get_running_loop().create_task(self._listen(self.progress[-1]))

    async def _listen(self, into: list[dict[str, Any]]) -> None:
        with_origin = {"Origin": self.server.base}
        async with self.http.ws_connect(f"{self.server.base}/ws?v=1", headers=with_origin) as ws:
            await ws.send_json({"type": "hello", "v": 1, "token": self.token})
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = msg.json()
                if frame.get("type") == "ping":
                    await ws.send_json({"type": "pong"})
                if frame.get("event") == "bulk_message_progress":
                    into.append(frame["data"])
                    if frame["data"]["status"] == "completed":
                        self.done.set()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def login(http: aiohttp.ClientSession, server: Server, email: str) -> str:
    async with http.post(f"{server.base}/api/v1/auth/login",
                         json={"email": email, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def test_sigkill_mid_campaign_sends_nobody_twice(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    await seed(db_path)
    graph = await FakeGraph().start()
    server = Server(db_path, free_port())
    await server.start()
    http = aiohttp.ClientSession()
    acme = globex = None
    try:
        token = await login(http, server, "admin@acme.test")
        auth = {"Authorization": f"Bearer {token}"}
        config = {"provider": "cloud", "phone_number_id": "100200", "access_token": "tok",
                  "app_secret": "app-secret", "verify_token": "verify", "api_base": graph.base}
        async with http.put(f"{server.base}/api/v1/whatsapp/config", json=config, headers=auth) as r:
            assert r.status == 200, await r.text()
        acme = Listener(http, server, token)
        globex = Listener(http, server, await login(http, server, "admin@globex.test"))
        acme.connect()
        globex.connect()
        recipients = [{"phone": f"+56 9 8{i:07d}", "name": f"C{i}"} for i in range(N)]
        body = {"name": "Crash", "body": "Hola {{nombre}}", "recipients": recipients,
                "pacing": {"rate": 80}}
        async with http.post(f"{server.base}/api/v1/bulk", json=body, headers=auth) as r:
            assert r.status == 201, await r.text()
            cid = (await r.json())["id"]
        async with http.post(f"{server.base}/api/v1/bulk/{cid}/start", headers=auth) as r:
            assert r.status == 202

        await graph.wait_accepted(KILL_AT, timeout=120)
        await server.kill()
        killed_at = len(graph.accepted)
        await acme.close()
        await globex.close()

        await server.start()  # same database: the campaign must resume by itself
        token = await login(http, server, "admin@acme.test")
        acme.token, globex.token = token, await login(http, server, "admin@globex.test")
        acme.connect()
        globex.connect()
        await asyncio.wait_for(acme.done.wait(), 180)
        async with http.get(f"{server.base}/api/v1/bulk/{cid}", headers={"Authorization": f"Bearer {token}"}) as r:
            final = await r.json()
    finally:
        for listener in (acme, globex):
            if listener is not None:
                await listener.close()
        await http.close()
        await server.stop()
        await graph.close()

    sends = Counter(s.payload["to"] for s in graph.accepted)
    assert max(sends.values()) == 1, [p for p, n in sends.items() if n > 1][:5]  # nobody twice
    conn = sqlite3.connect(db_path)
    states = dict(conn.execute("SELECT state, COUNT(*) FROM campaign_recipients GROUP BY state").fetchall())
    row = conn.execute("SELECT status, total, n_pending, n_sending, n_sent, n_failed, n_skipped, n_unknown"
                       " FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id LIMIT 1").fetchone()
    conn.close()
    assert set(states) <= {"sent", "failed", "skipped", "unknown"}, states
    assert sum(states.values()) == N
    assert row == ("completed", N, 0, 0, states.get("sent", 0), states.get("failed", 0),
                   states.get("skipped", 0), states.get("unknown", 0))
    # Everyone the fake accepted is `sent` or, if the crash hid the answer, `unknown`. Unknown
    # are the rows the outbox had claimed at the kill (claimed is `sending`, before the call)
    # and the answers whose commit the kill beat: about a second of sends, never re-sent.
    assert states.get("sent", 0) <= len(sends) <= states.get("sent", 0) + states.get("unknown", 0)
    assert states.get("unknown", 0) <= N // 10
    assert len(sends) >= killed_at
    assert (final["sent"], final["unknown"], final["pending"]) == (
        states.get("sent", 0), states.get("unknown", 0), 0)
    # Progress: per connection, counters never go back; the last event is the true count.
    for run in acme.progress:
        for before, after in itertools.pairwise(run):
            assert all(after[k] >= before[k] for k in ("sent", "failed", "skipped", "unknown")), (before, after)
    assert acme.progress[-1][-1]["sent"] == states.get("sent", 0)
    assert acme.progress[-1][-1]["status"] == "completed"
    assert globex.progress == [[], []]
