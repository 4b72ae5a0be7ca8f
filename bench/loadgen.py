"""The load generator's asyncio receivers (Condorito /ws?v=1 and Socket.IO v5 over a plain
WebSocket) and PyReceivers, which drives a run's worth of them the way creceiver.CReceivers
drives bench/receiver.c.

The receivers do not parse every frame with a JSON parser unless --parse full is given. The fast
path looks for fixed byte sequences (`{"type":"event","seq":`, `"event":"new_message","data":
{"clientCode":"`, `"body":"b`). In JSON text a quote inside a string is always escaped, so these
sequences, with their bare quotes, can only be structure, never content. Anything the fast path
does not recognise (welcome, errors, other layouts) goes to the full parser, and a new_message
frame the fast path cannot read is counted as `unparsed` (reported, and a failure).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
from bookkeeping import Run, wait_delivered
from errors import BenchError
from servers import HOST, Tenant
from wsclient import WsClient, connect_all

EV = b'{"type":"event","seq":'
EV_LEN = len(EV)
NM = b'"event":"new_message","data":{"clientCode":"'
NM_LEN = len(NM)
NM_ANY = b'"event":"new_message"'
BODY = b'"body":"b'
PING = b'{"type":"ping"}'
PONG = b'{"type":"pong"}'
SIO_NM = b'42["new_message",{"clientCode":"'
SIO_NM_LEN = len(SIO_NM)


class Receiver(WsClient):
    """Bookkeeping shared by both protocols."""

    def __init__(self, host: str, port: int, run: Run, tenant: Tenant, fast: bool) -> None:
        super().__init__(host, port)
        self.run = run
        self.tenant = tenant
        self.code = tenant.code.encode()
        self.tindex = tenant.index
        self.fast = fast
        self.counts = bytearray(run.n)
        self.last_seq = 0
        self.gone = False
        self.live = False

    def on_lost(self) -> None:
        self.gone = True
        if self.live:
            self.run.note_error(f"socket lost during the run (close code {self.close_code})")

    def _seq(self, seq: int) -> None:
        """An event's seq: it must be above the previous one on this socket."""
        if seq <= self.last_seq:
            self.run.seq_regress += 1
        else:
            self.last_seq = seq

    def _deliver_at(self, p: bytes, a: int, now: int) -> None:
        """A new_message found by its byte patterns; its data.clientCode starts at p[a]."""
        b = p.index(b'"', a)
        c = p.find(BODY, b)
        if c < 0:
            self.run.unparsed += 1
            return
        c += 8
        self._deliver(p[a:b], p[c: p.index(b'"', c)], now)

    def _deliver_obj(self, data: dict[str, Any], now: int) -> None:
        """A new_message's parsed data ({clientCode, message: {body...}...})."""
        body = ((data.get("message") or {}).get("body") or "").encode()
        self._deliver(str(data.get("clientCode")).encode(), body, now)

    def _deliver(self, code: bytes, body: bytes, now: int) -> None:
        """One new_message: `code` is data.clientCode, `body` the message body text."""
        run = self.run
        if body[:3] != b"bx:":
            if body[:3] == b"bw:":
                run.warm += 1
            else:
                run.unparsed += 1
            return
        try:
            _, ti, k, stamp = body.split(b":")
            ti = int(ti)
            k = int(k)
            stamp = int(stamp)
        except ValueError:
            run.unparsed += 1
            return
        if code != self.code or ti != self.tindex:
            run.cross += 1
            return
        counts = self.counts
        if k >= len(counts):
            run.bad_index += 1
            return
        if counts[k]:
            run.dup += 1
            return
        counts[k] = 1
        run.lat.append(now - stamp)
        run.last_recv = now
        run.unique += 1
        if run.unique >= run.target and not run.complete.done():
            run.complete.set_result(None)


class CondoRecv(Receiver):
    """A Condorito client: /ws?v=1, hello with the tenant's token, pongs, loss/dup by seq and id."""

    path = "/ws?v=1"

    def __init__(self, host: str, port: int, run: Run, tenant: Tenant, fast: bool, batch: bool) -> None:
        super().__init__(host, port, run, tenant, fast)
        self.batch = batch
        self.welcome: dict[str, Any] = {}

    def on_open(self) -> None:
        hello: dict[str, Any] = {"type": "hello", "v": 1, "token": self.tenant.token}
        if self.batch:
            hello["features"] = ["batch"]
        self.send(orjson.dumps(hello))

    def on_text(self, p: bytes, now: int) -> None:
        if self.fast and self.live:
            if p[:1] == b"[":
                run = self.run
                i = p.find(EV)
                while i >= 0:
                    self._event(p, i, now)
                    i = p.find(EV, i + EV_LEN)
                if PING in p:
                    run.pings += 1
                    self.send(PONG)
                if b'{"type":"error"' in p:
                    self._full(p, now, events=False)
                return
            if p.startswith(EV):
                self._event(p, 0, now)
                return
        self._full(p, now)

    def _event(self, p: bytes, i: int, now: int) -> None:
        run = self.run
        run.frames += 1
        j = p.index(b",", i + EV_LEN)
        raw_seq = p[i + EV_LEN: j]
        if raw_seq != b"null":
            self._seq(int(raw_seq))
        if not p.startswith(NM, j + 1):
            if p.startswith(NM_ANY, j + 1):
                run.unparsed += 1  # a layout the fast path does not know: use --parse full
            else:
                run.other += 1
            return
        self._deliver_at(p, j + 1 + NM_LEN, now)

    def _full(self, p: bytes, now: int, events: bool = True) -> None:
        try:
            doc = orjson.loads(p)
        except orjson.JSONDecodeError:
            self.run.note_error(f"non-JSON frame: {p[:80]!r}")
            return
        for f in doc if isinstance(doc, list) else [doc]:
            kind = f.get("type") if isinstance(f, dict) else None
            if kind == "event":
                if events:
                    self._event_obj(f, now)
            elif kind == "ping":
                self.run.pings += 1
                self.send(PONG)
            elif kind == "welcome":
                self.welcome = f
                self.last_seq = int(f.get("head") or 0)
                self.live = True
                if not self.ready.done():
                    self.ready.set_result(None)
            elif kind == "error":
                err = f.get("error") or {}
                self.run.note_error(f"error frame {err.get('code')}: {err.get('message')}")
                if not self.ready.done():
                    self.ready.set_exception(BenchError(f"refused: {err.get('code')}"))

    def _event_obj(self, f: dict[str, Any], now: int) -> None:
        run = self.run
        run.frames += 1
        seq = f.get("seq")
        if seq is not None:
            self._seq(seq)
        if f.get("event") != "new_message":
            run.other += 1
            return
        self._deliver_obj(f.get("data") or {}, now)


class SioRecv(Receiver):
    """A Socket.IO v5 (Engine.IO v4) client over a plain WebSocket: 40{auth}, 2 -> 3, 42[...]."""

    path = "/socket.io/?EIO=4&transport=websocket"

    def on_text(self, p: bytes, now: int) -> None:
        if self.fast and p.startswith(SIO_NM):
            self.run.frames += 1
            self._deliver_at(p, SIO_NM_LEN, now)
            return
        if p == b"2":
            self.run.pings += 1
            self.send(b"3")
        elif p[:1] == b"0":
            self.send(b"40" + orjson.dumps({"tenant": self.tenant.code}))
        elif p.startswith(b"40"):
            self.live = True
            if not self.ready.done():
                self.ready.set_result(None)
        elif p.startswith(b"44"):
            self.run.note_error(f"connect refused: {p[:120]!r}")
            if not self.ready.done():
                self.ready.set_exception(BenchError(f"socket.io connect refused: {p[:120]!r}"))
        elif p.startswith(b"42"):
            name, data = orjson.loads(p[2:])[:2]
            self.run.frames += 1
            if name != "new_message":
                self.run.other += 1
                return
            self._deliver_obj(data, now)
        elif p.startswith(b"41") or p == b"1":
            self.run.note_error("server disconnected the socket")


class PyReceivers:
    """A run's asyncio receivers, driven like creceiver.CReceivers (start, stats, reset, drain,
    report, close) so that a script runs either kind the same way. They live in this process:
    their CPU is the load generator's own (`cpu()` is 0)."""

    in_process = True

    def __init__(self, port: int, mode: str, run: Run, sock_tenants: list[int], fast: bool = True,
                 batch: bool = False, concurrency: int = 200, wait_s: float = 60.0) -> None:
        self.port = port
        self.run = run
        self.concurrency = concurrency
        self.wait_s = wait_s
        tenants = run.tenants
        if mode == "condo":
            self.factories = [lambda t=tenants[i]: CondoRecv(HOST, port, run, t, fast, batch)
                              for i in sock_tenants]
        else:
            self.factories = [lambda t=tenants[i]: SioRecv(HOST, port, run, t, fast)
                              for i in sock_tenants]
        self.clients: list[Any] = []
        self.setup_s = 0.0                  # first connect -> last ready
        self.connect_times: list[float] = []  # each socket's TCP connect -> ready, s
        self.complete = False

    def cpu(self) -> float:
        return 0.0

    async def start(self) -> None:
        """Open every socket (bounded concurrency) and wait until each is ready."""
        t0 = time.monotonic()
        clients, self.connect_times = await connect_all(self.factories, HOST, self.port,
                                                        self.concurrency, self.wait_s)
        self.setup_s = time.monotonic() - t0
        self.clients = clients
        self.run.receivers = clients

    async def stats(self) -> dict[str, Any]:
        """The counters so far (the C receiver's stats line, as far as a script reads it)."""
        run = self.run
        return {"warm": run.warm, "frames": run.frames, "pings": run.pings,
                "bytes_in": sum(c.bytes_in for c in self.clients),
                "msgs_in": sum(c.msgs_in for c in self.clients)}

    async def reset(self, run: Run) -> None:
        """A new phase: the same sockets count into `run` (fresh counters)."""
        self.run = run
        for r in self.clients:
            r.run = run
            r.counts = bytearray(run.n)
        run.receivers = self.clients

    async def drain(self, run: Run, wait_s: float) -> None:
        """Wait until every open socket of each tenant saw every acknowledged message (or
        `wait_s` seconds)."""
        self.complete = await wait_delivered(run, wait_s)

    async def report(self) -> dict[str, Any]:
        """After drain: the C receiver's report line, as far as a script reads it."""
        run = self.run
        return {
            "complete": self.complete, "unique": run.unique, "expected": run.target,
            "lost": run.losses(), "dup": run.dup, "seq_regress": run.seq_regress,
            "cross": run.cross, "unparsed": run.unparsed, "bad_index": run.bad_index,
            "last_recv": run.last_recv, "lat_n": len(run.lat), "lat_max": max(run.lat, default=0),
            "lat_hist": sorted(Counter(run.lat).items()), "errors": run.errors,
            "close_codes": {}, **await self.stats(),
        }

    def mute(self) -> None:
        """From now on a socket that goes away is no error (the server is about to go)."""
        for c in self.clients:
            c.live = False

    async def close(self) -> None:
        self.mute()
        for c in self.clients:
            c.close()
