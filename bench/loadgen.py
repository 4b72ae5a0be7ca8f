"""The fan-out load generator: receivers (Condorito /ws?v=1 and Socket.IO), the injector, and
the bookkeeping that makes loss, duplicates and cross-tenant deliveries visible.

Every injected message carries `bx:<tenant>:<k>:<stamp>` as its body: the tenant's index, the
message's index within that tenant, and the load generator's clock when the request was written.
Each receiver keeps one byte per message of its tenant: 0 = not seen, 1 = seen. A second sighting
is a duplicate; a message acknowledged by the server (2xx) but never seen is lost; a frame whose
clientCode (or body tenant) is not the receiver's is a cross-tenant delivery.

The receivers do not parse every frame with a JSON parser unless --parse full is given. The fast
path looks for fixed byte sequences (`{"type":"event","seq":`, `"event":"new_message","data":
{"clientCode":"`, `"body":"b`). In JSON text a quote inside a string is always escaped, so these
sequences, with their bare quotes, can only be structure, never content. Anything the fast path
does not recognise (welcome, errors, other layouts) goes to the full parser, and a new_message
frame the fast path cannot read is counted as `unparsed` (reported, and a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from benchlib import (
    BenchError,
    HttpPool,
    Tenant,
    WsClient,
    body_text,
    cloud_webhook,
    phone_of,
    sign,
)

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


class Run:
    """What one server run saw."""

    def __init__(self, tenants: list[Tenant], n_per_tenant: int) -> None:
        self.tenants = tenants
        self.n = n_per_tenant
        self.acked = [bytearray(n_per_tenant) for _ in tenants]
        self.post_failed = 0
        self.post_errors: list[str] = []
        self.lat: list[int] = []          # µs, first sightings of measured messages
        self.unique = 0                   # first sightings
        self.dup = 0                      # second sightings of a message id
        self.seq_regress = 0              # seq not above the previous one on that socket
        self.cross = 0
        self.unparsed = 0
        self.bad_index = 0
        self.warm = 0                     # warm-up deliveries (not measured)
        self.other = 0                    # other events (conversation_updated, stats, presence)
        self.frames = 0                   # every event frame
        self.pings = 0
        self.errors: list[str] = []       # error frames / close codes seen
        self.first_send = 0
        self.last_send = 0
        self.last_recv = 0
        self.target = 1 << 62             # unique deliveries that complete the run
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.receivers: list[Receiver] = []
        self.sent = 0

    def note_error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)

    def expected(self) -> int:
        """Deliveries owed: every acknowledged message times the sockets of its tenant."""
        per_tenant = [0] * len(self.tenants)
        for r in self.receivers:
            if not r.gone:
                per_tenant[r.tenant.index] += 1
        return sum(sum(a) * per_tenant[i] for i, a in enumerate(self.acked))

    def losses(self) -> int:
        lost = 0
        for r in self.receivers:
            acked = self.acked[r.tenant.index]
            seen = r.counts
            lost += sum(1 for k in range(self.n) if acked[k] and not seen[k])
        return lost


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
            seq = int(raw_seq)
            if seq <= self.last_seq:
                run.seq_regress += 1
            else:
                self.last_seq = seq
        if not p.startswith(NM, j + 1):
            if p.startswith(NM_ANY, j + 1):
                run.unparsed += 1  # a layout the fast path does not know: use --parse full
            else:
                run.other += 1
            return
        a = j + 1 + NM_LEN
        b = p.index(b'"', a)
        c = p.find(BODY, b)
        if c < 0:
            run.unparsed += 1
            return
        c += 8
        self._deliver(p[a:b], p[c: p.index(b'"', c)], now)

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
            if seq <= self.last_seq:
                run.seq_regress += 1
            else:
                self.last_seq = seq
        if f.get("event") != "new_message":
            run.other += 1
            return
        data = f.get("data") or {}
        body = ((data.get("message") or {}).get("body") or "").encode()
        self._deliver(str(data.get("clientCode")).encode(), body, now)


class SioRecv(Receiver):
    """A Socket.IO v5 (Engine.IO v4) client over a plain WebSocket: 40{auth}, 2 -> 3, 42[...]."""

    path = "/socket.io/?EIO=4&transport=websocket"

    def on_text(self, p: bytes, now: int) -> None:
        if self.fast and p.startswith(SIO_NM):
            run = self.run
            run.frames += 1
            a = SIO_NM_LEN
            b = p.index(b'"', a)
            c = p.find(BODY, b)
            if c < 0:
                run.unparsed += 1
                return
            c += 8
            self._deliver(p[a:b], p[c: p.index(b'"', c)], now)
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
            body = ((data.get("message") or {}).get("body") or "").encode()
            self._deliver(str(data.get("clientCode")).encode(), body, now)
        elif p.startswith(b"41") or p == b"1":
            self.run.note_error("server disconnected the socket")


# -- injection ------------------------------------------------------------------------------------


@dataclass
class Injector:
    """Builds and sends the HTTP requests that deliver messages (sandbox route or signed webhook)."""

    pool: HttpPool
    target: str            # "condorito" | "baseline"
    kind: str              # "sandbox" | "webhook"
    tenants: list[Tenant]
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    def request(self, t: Tenant, k: int, tag: str = "bx") -> bytes:
        stamp = time.monotonic_ns() // 1000
        body = body_text(t.index, k, stamp, tag)
        phone = phone_of(t.index, k)
        wa_id = f"wamid.{tag}{self.run_id}.{t.index}.{k}"
        if self.kind == "webhook":
            raw = cloud_webhook(t.phone_number_id, wa_id, phone, body)
            return self.pool.encode("POST", f"/webhooks/whatsapp/{t.code}", raw,
                                    {"X-Hub-Signature-256": sign(t.app_secret, raw)})
        if self.target == "condorito":
            raw = orjson.dumps({"from": phone, "name": "Bench Customer", "body": body, "id": wa_id})
            return self.pool.encode("POST", "/api/v1/sandbox/inbound", raw,
                                    {"Authorization": f"Bearer {t.token}"})
        raw = orjson.dumps({"tenant": t.code, "from": phone, "name": "Bench Customer", "body": body,
                            "id": wa_id})
        return self.pool.encode("POST", "/inbound", raw)

    async def warmup(self, per_tenant: int) -> int:
        """Unmeasured messages (one per customer phone) so contacts and caches exist."""
        ok = 0

        async def one(t: Tenant, k: int) -> None:
            nonlocal ok
            status, _ = await self.pool.send_raw(self.request(t, k, "bw"))
            ok += status in (200, 202)

        await asyncio.gather(*(one(t, k) for k in range(per_tenant) for t in self.tenants))
        return ok

    def _record(self, run: Run, t: Tenant, k: int, status: int, body: bytes) -> None:
        if status in (200, 202):
            run.acked[t.index][k] = 1
        else:
            run.post_failed += 1
            if len(run.post_errors) < 5:
                run.post_errors.append(f"HTTP {status} {body[:160]!r}")

    async def fixed_rate(self, run: Run, rate: float, total: int) -> None:
        """Send `total` messages at `rate`/s (tenants alternate); waits for free connections."""
        pending: set[asyncio.Future[Any]] = set()
        t0 = time.monotonic()
        run.first_send = time.monotonic_ns() // 1000
        n_t = len(self.tenants)
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            conn = await self.pool.acquire()
            t = self.tenants[i % n_t]
            k = i // n_t
            fut = conn.send(self.request(t, k))
            pending.add(fut)
            fut.add_done_callback(self._done_cb(run, conn, t, k, pending))
            run.sent += 1
        run.last_send = time.monotonic_ns() // 1000
        if pending:
            await asyncio.wait(pending)

    def _done_cb(self, run: Run, conn: Any, t: Tenant, k: int,
                 pending: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
        def done(fut: asyncio.Future[Any]) -> None:
            pending.discard(fut)
            self.pool.release(conn)
            exc = fut.exception()
            if exc is not None:
                run.post_failed += 1
                if len(run.post_errors) < 5:
                    run.post_errors.append(repr(exc))
                return
            status, body = fut.result()
            self._record(run, t, k, status, body)
        return done

    async def as_fast_as_possible(self, run: Run, total: int, inflight: int) -> None:
        """`inflight` workers, each sending its next message as soon as the previous answered."""
        counter = itertools.count()
        n_t = len(self.tenants)
        run.first_send = time.monotonic_ns() // 1000

        async def worker() -> None:
            while True:
                i = next(counter)
                if i >= total:
                    return
                t = self.tenants[i % n_t]
                k = i // n_t
                run.sent += 1
                try:
                    status, body = await self.pool.send_raw(self.request(t, k))
                except (ConnectionError, BenchError) as exc:
                    run.post_failed += 1
                    if len(run.post_errors) < 5:
                        run.post_errors.append(repr(exc))
                    continue
                self._record(run, t, k, status, body)

        await asyncio.gather(*(worker() for _ in range(inflight)))
        run.last_send = time.monotonic_ns() // 1000


async def wait_delivered(run: Run, wait_s: float) -> bool:
    """After the last answer: wait until every owed delivery arrived (or the timeout)."""
    run.target = run.expected()
    if run.unique >= run.target:
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(run.complete), wait_s)
    return run.unique >= run.target
