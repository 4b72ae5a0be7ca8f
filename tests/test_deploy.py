"""Issue 12 Done 5: docs/deploy.md followed on this machine, systemd aside.

The nginx and environment blocks are taken from the guide itself, with only the public names
swapped for loopback ones (each swap must find its text exactly once, so the guide cannot drift
from what is tested): run.py behind nginx with HTTPS (a self-signed certificate), then through
the proxy: sign in with the login form, a WebSocket on the session cookie receives a new
message, a long-poll waits and answers, and a Socket.IO client receives the same event.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import socketio

from tests.test_cli import ROOT, Server, field, free_port

GUIDE = ROOT / "docs" / "deploy.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WAIT = 15.0
HAVE_NGINX = Path(NGINX).exists()


def sections() -> tuple[str, str]:
    text = GUIDE.read_text()
    spanish, english = text.split("\n## English\n")
    return spanish.split("\n## Español\n")[1], english


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_english_guide_gives_the_same_configuration_as_the_spanish_one() -> None:
    spanish, english = sections()
    for lang in ("ini", "nginx", "caddy", "cron"):
        assert blocks(spanish, lang), lang
        assert blocks(spanish, lang) == blocks(english, lang), lang


def swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the guide's block no longer has {old!r} once"
    return text.replace(old, new)


def guide_env(public_url: str) -> dict[str, str]:
    """The guide's /etc/condorito/condorito.env, for this machine."""
    (block,) = [b for b in blocks(sections()[0], "ini") if b.startswith("# /etc/condorito/condorito.env")]
    env = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    assert env.pop("CONDORITO_PUBLIC_URL") == "https://crm.example.com"
    assert env["CONDORITO_HOST"] == "127.0.0.1"  # the app itself never listens outside
    env.pop("CONDORITO_DB")  # a temp database
    env.pop("CONDORITO_PORT")  # a free port (the Server helper passes --port)
    return {**env, "CONDORITO_PUBLIC_URL": public_url}


def nginx_conf(tmp: Path, app_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    (site,) = blocks(sections()[0], "nginx")
    site = swap(site, "server 127.0.0.1:8080;", f"server 127.0.0.1:{app_port};")
    site = swap(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = swap(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = swap(site, "/etc/letsencrypt/live/crm.example.com/fullchain.pem", str(cert))
    site = swap(site, "/etc/letsencrypt/live/crm.example.com/privkey.pem", str(key))
    temps = "\n".join(f"    {name}_temp_path {tmp}/{name};" for name in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        + "events { worker_connections 256; }\n"
        + f"http {{\n    access_log {tmp}/access.log;\n{temps}\n{site}\n}}\n"
    )


class Deployment:
    """run.py with the guide's environment, behind nginx with the guide's site (blocking calls,
    run in a thread)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.http_port, self.https_port = free_port(), free_port()
        self.public = f"https://127.0.0.1:{self.https_port}"
        self.cert, self.key = tmp / "cert.pem", tmp / "key.pem"
        self.server: Server | None = None
        self.nginx: subprocess.Popen[bytes] | None = None
        self.email = self.password = ""

    def start(self) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(self.key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        self.server = Server(self.tmp / "data" / "condorito.db", self.tmp / "server.log",
                             **guide_env(self.public))
        lines = self.server.lines_until_listening()
        self.email, self.password = field(lines, "e-mail"), field(lines, "password")
        conf = self.tmp / "nginx.conf"
        conf.write_text(nginx_conf(self.tmp, self.server.port, self.http_port, self.https_port,
                                   self.cert, self.key))
        args = [NGINX, "-p", str(self.tmp), "-c", str(conf)]
        check = subprocess.run([*args, "-t"], capture_output=True, check=False)
        assert check.returncode == 0, check.stderr.decode()
        self.nginx = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_listening()

    def _wait_listening(self) -> None:
        """nginx has no readiness signal of its own: connect until it accepts, with a deadline."""
        deadline = time.monotonic() + WAIT
        while True:
            assert self.nginx is not None and self.nginx.poll() is None, (
                "nginx exited: " + (self.tmp / "error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.send_signal(signal.SIGQUIT)  # graceful stop of master and worker
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        if self.server is not None:
            self.server.stop()


@pytest.fixture
async def deployed(tmp_path: Path) -> AsyncIterator[Deployment]:
    if not HAVE_NGINX:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing (.ci/run installs it)")
        pytest.skip("needs nginx (apt-get install nginx)")
    deployment = Deployment(tmp_path)
    try:
        await asyncio.to_thread(deployment.start)
        yield deployment
    finally:
        await asyncio.to_thread(deployment.stop)


async def test_the_guide_gives_a_working_server_behind_nginx_with_https(deployed: Deployment) -> None:
    public = deployed.public
    tls = ssl.create_default_context(cafile=str(deployed.cert))
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls), cookie_jar=jar) as http:
        # Plain HTTP is sent to HTTPS.
        async with http.get(f"http://127.0.0.1:{deployed.http_port}/login", allow_redirects=False) as plain:
            assert plain.status == 301
            assert plain.headers["Location"].startswith("https://127.0.0.1")
        # The login form, as a browser posts it (Origin: the public address).
        form = {"email": deployed.email, "password": deployed.password}
        async with http.post(public + "/login", data=form, headers={"Origin": public},
                             allow_redirects=False) as signed_in:
            assert signed_in.status == 303, await signed_in.text()
            assert "Secure" in signed_in.headers["Set-Cookie"]  # CONDORITO_PUBLIC_URL is https
        async with http.post(public + "/api/v1/auth/login", json=form) as login:
            assert login.status == 200
            token = (await login.json())["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        # Monitoring through the proxy: health yes, metrics no (they stay on the machine).
        async with http.get(public + "/healthz") as health:
            assert health.status == 200 and (await health.json())["status"] == "ok"
        async with http.get(public + "/metrics") as metrics:
            assert metrics.status == 403

        # A WebSocket through the proxy, on the browser's session cookie: Origin and Host agree.
        ws = await http.ws_connect(public.replace("https", "wss") + "/ws?v=1", headers={"Origin": public})
        await ws.send_str('{"type":"hello","v":1}')
        welcome = orjson.loads((await ws.receive(timeout=WAIT)).data)
        assert welcome["type"] == "welcome", welcome
        epoch, head = welcome["epoch"], welcome["head"]

        sio = socketio.AsyncClient(reconnection=False, http_session=http)
        got_sio: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sio.on("new_message", lambda data: got_sio.done() or got_sio.set_result(data))
        await sio.connect(public, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)

        # A long-poll through the proxy with nothing new: held, then answered empty.
        async with http.get(public + f"/api/v1/events?since={head}&epoch={epoch}&timeout=1",
                            headers=bearer) as idle:
            assert idle.status == 200
            assert (await idle.json())["events"] == []
        # One waiting while a message arrives: it gets the event.
        poll = asyncio.ensure_future(http.get(
            public + f"/api/v1/events?since={head}&epoch={epoch}&timeout=30", headers=bearer))
        message = {"from": "56911112222", "name": "Ana", "body": "hola por nginx"}
        async with http.post(public + "/api/v1/sandbox/inbound", headers=bearer, json=message) as inbound:
            assert inbound.status == 202

        frame: dict[str, Any] = {}
        while frame.get("event") != "new_message":
            frame = orjson.loads((await ws.receive(timeout=WAIT)).data)
        assert frame["data"]["message"]["body"] == "hola por nginx"
        async with await asyncio.wait_for(poll, WAIT) as polled:
            assert polled.status == 200
            names = [e["event"] for e in (await polled.json())["events"]]
            assert "new_message" in names
        assert (await asyncio.wait_for(got_sio, WAIT))["message"]["body"] == "hola por nginx"
        await sio.disconnect()
        await ws.close()
