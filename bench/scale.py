#!/usr/bin/env python3
"""Data at scale: a few years of one tenant's messages, built through the project's write path,
then the reads and writes that must not grow with it.

Builds --messages messages (default 500 000) over --conversations conversations (default
20 000) on a temp database (tenant and admin made with the CLI), in transactions of --batch
messages through the service functions the server uses (`messages.ingest_inbound` for customers,
`messages.queue_outbound` for replies, `search.index_pending` after each batch), Spanish text,
timestamps spread over two years, one thread of 3 000 messages. Then prints medians of --reps
(>= 5) runs of each read as the API handlers run it (one read transaction; "in tx" is the time
inside it, "call" includes the hop to the read pool), mark-read of the 3 000-message thread (10
new unread messages each time), stats, the WAL's peak size while building and during
--ingest-seconds of HTTP ingest into the real server (`python run.py`, POST
/api/v1/sandbox/inbound, 16 in flight), the writer's longest hold (BEGIN..COMMIT) during a
retention pass over the whole event log, and the fsync latency of the disk the database is on.

Examples:
  .venv/bin/python bench/scale.py --small          # 20 000 messages, 10 s of ingest
  .venv/bin/python bench/scale.py                  # the full build: several minutes

Exit status: 0 when every figure meets its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from errors import BenchError
from fsync_probe import fsync_ms
from httpclient import HttpPool
from servers import HOST, Condorito, run_cli

from app.db import Database, Tx
from app.realtime import stream
from app.services import conversations, messages, search, stats
from app.services.messages import TenantRef
from app.services.retention import Retention
from app.whatsapp.base import InboundMessage

MB = 1024 * 1024
DAY_MS = 24 * 3600 * 1000
THREAD = 3000  # messages in the thread whose mark-read is measured

FIRST = ["José", "María", "Ana", "Luis", "Sofía", "Martín", "Lucía", "Tomás", "Valentina", "Andrés",
         "Camila", "Matías", "Isidora", "Benjamín", "Florencia", "Joaquín", "Catalina", "Agustín",
         "Renata", "Ignacio", "Javiera", "Nicolás", "Antonia", "Cristóbal", "Fernanda", "Ramón"]
LAST = ["Núñez", "Pérez", "González", "Muñoz", "Rojas", "Díaz", "Soto", "Contreras", "Silva",
        "Martínez", "Sepúlveda", "Morales", "Rodríguez", "López", "Fuentes", "Hernández", "Torres",
        "Araya", "Flores", "Espinoza", "Valenzuela", "Castillo", "Tapia", "Reyes", "Gutiérrez"]
OPENERS = ["hola", "buenas tardes", "buenos días", "estimados", "hola qué tal", "disculpe",
           "gracias", "perfecto", "consulta", "una pregunta"]
PHRASES = ["¿cuándo llega mi pedido?", "el pedido número {n} no ha llegado", "quiero cotizar",
           "¿tienen despacho a regiones?", "necesito la factura", "el camión pasó temprano",
           "¿aceptan transferencia?", "mañana paso a buscarlo", "¿cuál es el horario de atención?",
           "me llegó dañado el producto", "¿puedo cambiar la dirección?", "muchas gracias por todo",
           "¿hay stock del modelo azul?", "confirmo la compra", "la boleta salió con error",
           "¿me pueden llamar?", "ya hice el pago", "el repartidor no encontró la casa",
           "¿sigue vigente la promoción?", "quiero anular el pedido", "pedido recibido, todo bien",
           "¿cuánto demora el envío?", "estoy esperando respuesta", "escuché la canción del comercial"]
RARE = "ornitorrinco"  # in exactly RARE_COUNT messages
RARE_COUNT = 7


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="20 000 messages, 1 000 conversations, 10 s ingest")
    p.add_argument("--messages", type=int, help="messages to build (default 500 000)")
    p.add_argument("--conversations", type=int, help="conversations (default 20 000)")
    p.add_argument("--batch", type=int, default=5000, help="messages per build transaction")
    p.add_argument("--reps", type=int, default=7, help="runs of each measurement (>= 5)")
    p.add_argument("--ingest-seconds", type=float, help="HTTP ingest duration (default 60)")
    p.add_argument("--db-dir", help="directory for the temp database (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    a = p.parse_args(argv)
    a.messages = a.messages or (20_000 if a.small else 500_000)
    a.conversations = a.conversations or (1_000 if a.small else 20_000)
    a.ingest_seconds = a.ingest_seconds or (10.0 if a.small else 60.0)
    if a.reps < 5:
        p.error("--reps must be at least 5")
    if a.messages < THREAD + a.conversations:
        p.error("--messages must be at least 3 000 + --conversations")
    return a


class WalPeak:
    """Samples the size of the database's -wal file every 5 ms in a thread; keeps the peak."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}-wal")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            with contextlib.suppress(FileNotFoundError):
                self.peak = max(self.peak, self.path.stat().st_size)

    def __enter__(self) -> WalPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Clock:
    """The wall clock the services read, moved by the builder (two years of timestamps)."""

    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


def text(rng: random.Random, n: int) -> str:
    return f"{rng.choice(OPENERS)}, {rng.choice(PHRASES).format(n=n)}"


async def build(db: Database, tenant: TenantRef, a: argparse.Namespace) -> dict[str, Any]:
    """Messages through ingest_inbound / queue_outbound, in big transactions, indexed after each."""
    rng = random.Random(1)
    end = int(time.time() * 1000) - DAY_MS  # the newest message is a day old
    clock = Clock(end - 730 * DAY_MS)
    step = (730 * DAY_MS) // a.messages
    messages.now_ms = clock  # type: ignore[assignment]  # the services' clock, for the build only
    stream.now_ms = clock  # type: ignore[assignment]
    phones = [f"569{rng.randrange(10**7, 10**8)}" for _ in range(a.conversations)]
    names = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(a.conversations)]
    thread_every = a.messages // THREAD
    rare_at = set(rng.sample(range(a.messages), RARE_COUNT))
    conv_of: dict[int, int] = {}  # contact index -> conversation id
    started = time.perf_counter()

    def batch(lo: int, hi: int) -> Callable[[Tx], None]:
        def write(tx: Tx) -> None:
            for i in range(lo, hi):
                clock.now += step
                # Every contact speaks first; then the 3 000-message thread, then anyone.
                who = (i if i < a.conversations else 0 if i % thread_every == 0
                       else rng.randrange(a.conversations))
                body = text(rng, i) + (f" {RARE}" if i in rare_at else "")
                if who in conv_of and rng.random() < 0.3:
                    messages.queue_outbound(tx, tenant, conv_of[who], body,
                                            idempotency_key=f"scale-{i}", author_user_id=None)
                else:
                    got = messages.ingest_inbound(tx, tenant, InboundMessage(
                        f"wamid.scale.{i}", phones[who], names[who], "text", body, clock.now))
                    conv_of[who] = int(got.conversation_id)
        return write

    for lo in range(0, a.messages, a.batch):
        await db.write(batch(lo, min(lo + a.batch, a.messages)), heavy=True)
        while await db.write(search.index_pending, heavy=True) >= search.BATCH:
            pass
        if (lo // a.batch) % 20 == 19:
            print(f"  built {lo + a.batch} messages, {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    # Replies were queued through the outbox; the server that ingests later must not send them.
    await db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'accepted' WHERE state = 'queued'"),
                   heavy=True)
    return {"seconds": time.perf_counter() - started, "thread": conv_of[0],
            "phone_fragment": phones[1][4:9], "clock": clock}


async def timed_read(db: Database, fn: Callable[[Any], Any], reps: int) -> tuple[float, float]:
    """Medians (ms) of the time inside the read transaction and of the whole db.read call."""
    inside: list[float] = []
    calls: list[float] = []

    def run(conn: Any) -> Any:
        t0 = time.perf_counter()
        fn(conn)
        inside.append(time.perf_counter() - t0)

    for _ in range(reps):
        t0 = time.perf_counter()
        await db.read(run)
        calls.append(time.perf_counter() - t0)
    return statistics.median(inside) * 1000, statistics.median(calls) * 1000


async def measure(db: Database, tenant: TenantRef, built: dict[str, Any], reps: int) -> list[tuple]:
    tid, thread = tenant.id, built["thread"]
    rows: list[tuple] = []
    _, nxt = await db.read(lambda c: conversations.list_conversations(c, tid, status="all"))
    rows.append(("conversation list page", *await timed_read(
        db, lambda c: conversations.list_conversations(c, tid, status="all"), reps), None))
    rows.append(("conversation list, page 2", *await timed_read(
        db, lambda c: conversations.list_conversations(c, tid, status="all", cursor=nxt), reps), None))
    rows.append(("thread page (3 000-message thread)", *await timed_read(
        db, lambda c: conversations.list_messages(c, tid, thread), reps), None))
    for label, q in (("common word 'pedido'", "pedido"), ("accent-less word 'cancion'", "cancion"),
                     ("accent-less name 'nunez'", "nunez"), (f"rare word '{RARE}'", RARE),
                     (f"phone fragment '{built['phone_fragment']}'", built["phone_fragment"]),
                     ("no hit 'xilofonista'", "xilofonista")):
        found = await db.read(lambda c, q=q: conversations.list_conversations(c, tid, q=q, status="all"))
        rows.append((f"search page: {label} ({len(found[0])}{'+' if found[1] else ''} hits)",
                     *await timed_read(db, lambda c, q=q: conversations.list_conversations(
                         c, tid, q=q, status="all"), reps), 20.0))
        if found[1]:
            rows.append((f"search page 2: {label}", *await timed_read(
                db, lambda c, q=q, cur=found[1]: conversations.list_conversations(
                    c, tid, q=q, status="all", cursor=cur), reps), 20.0))
    rows.append(("stats", *await timed_read(db, lambda c: stats.compute(c, tid), reps), 1.0))
    # Mark-read: 10 new unread messages in the big thread each time, then read.
    clock = built["clock"]
    inside: list[float] = []
    calls: list[float] = []
    phone = await db.read(lambda c: c.execute(
        "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE c.id = ?", (thread,)).fetchone()[0])
    for r in range(reps):
        await db.write(lambda tx, r=r: [messages.ingest_inbound(tx, tenant, InboundMessage(
            f"wamid.unread.{r}.{k}", phone, "", "text", f"hola de nuevo {k}", clock.now + k))
            for k in range(10)])

        def mark(tx: Tx) -> None:
            t0 = time.perf_counter()
            assert messages.mark_read(tx, tenant, thread)
            inside.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await db.write(mark)
        calls.append(time.perf_counter() - t0)
    rows.append(("mark-read, 3 000-message thread (write incl. commit)",
                 statistics.median(inside) * 1000, statistics.median(calls) * 1000, 5.0))
    return rows


async def retention_pass(db: Database, clock: Clock) -> dict[str, Any]:
    """Retention over the whole log (two years old, all but the newest 10 000 seqs go), with
    the time inside each slice's work recorded apart from its commit."""
    events = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM rt_event").fetchone()[0])
    work: list[float] = []

    def timed(fn: Callable[..., int]) -> Callable[..., int]:
        def run(*args: Any, **kw: Any) -> int:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                work.append(time.perf_counter() - t0)
        return run

    prune, prune_counts = stream.prune, stats.prune_counts
    stream.prune, stats.prune_counts = timed(prune), timed(prune_counts)  # type: ignore[method-assign]
    stream.now_ms = clock  # type: ignore[assignment]
    # A Database without `longest_hold` (an older checkout, for comparison): the longest
    # write call instead (nothing else is queued, so it is the hold plus a thread hop).
    calls: list[float] = []
    write = db.write

    async def timed_write(fn: Callable[[Tx], Any], **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await write(fn, **kw)
        finally:
            calls.append(time.perf_counter() - t0)

    db.write = timed_write  # type: ignore[method-assign]
    has_hold = hasattr(db, "longest_hold")
    db.longest_hold = 0.0
    db.holds = []
    batches = db.batches
    t0 = time.perf_counter()
    try:
        removed = await Retention(db, max_age_ms=DAY_MS, keep_events=10_000, period=3600).prune_now()
    finally:
        stream.prune, stats.prune_counts = prune, prune_counts  # type: ignore[method-assign]
        del db.write
    holds = sorted(db.holds if has_hold and db.holds else calls)
    db.holds = None
    return {"events": events, "removed": removed, "seconds": time.perf_counter() - t0,
            "transactions": db.batches - batches, "hold_ms": holds[-1] * 1000,
            "hold_median_ms": statistics.median(holds) * 1000,
            "hold_p99_ms": holds[int(len(holds) * 0.99)] * 1000,
            "work_ms": max(work) * 1000, "work_median_ms": statistics.median(work) * 1000,
            "call_p99_ms": sorted(calls)[int(len(calls) * 0.99)] * 1000}


async def http_ingest(srv: Condorito, seconds: float) -> dict[str, Any]:
    """POST /api/v1/sandbox/inbound, 16 in flight, for `seconds`; the WAL sampled meanwhile."""
    await asyncio.to_thread(srv.server.start)
    pool = HttpPool(HOST, srv.port, 16)
    await pool.open()
    try:
        await srv.login(pool)
        t = srv.tenants[0]
        headers = {"Authorization": f"Bearer {t.token}"}
        sent = failed = 0
        deadline = time.monotonic() + seconds

        async def worker(w: int) -> None:
            nonlocal sent, failed
            n = 0
            while time.monotonic() < deadline:
                n += 1
                body = (f'{{"from": "5697{w:03d}{n % 5000:04d}", "name": "Cliente", '
                        f'"body": "hola, ¿llegó mi pedido {n}?", "id": "http.{w}.{n}"}}').encode()
                status, _ = await pool.request("POST", "/api/v1/sandbox/inbound", body, headers=headers)
                if status == 202:
                    sent += 1
                else:
                    failed += 1

        with WalPeak(srv.db) as wal:
            t0 = time.monotonic()
            await asyncio.gather(*(worker(w) for w in range(16)))
            wall = time.monotonic() - t0
        return {"messages": sent, "failed": failed, "per_s": sent / wall, "wal_peak": wal.peak}
    finally:
        pool.close()
        srv.server.stop()


async def run(a: argparse.Namespace) -> bool:
    srv = Condorito(1, "sandbox", keep=a.keep, tmp_root=a.db_dir)
    t = srv.tenants[0]
    try:
        run_cli(srv.db, srv.env, "create-tenant", t.code, "--name", "Escala")
        run_cli(srv.db, srv.env, "create-user", t.code, t.email, "--password-stdin", "--role",
                "admin", "--name", "Bench", stdin=t.password + "\n")
        fsync_med, fsync_p90 = fsync_ms(str(srv.tmp), 20)
        db = Database(srv.db)
        await db.open()
        try:
            tid = await db.read(lambda c: c.execute("SELECT id FROM tenants WHERE code = ?",
                                                    (t.code,)).fetchone()[0])
            tenant = TenantRef(tid, t.code)
            print(f"building {a.messages} messages over {a.conversations} conversations ...",
                  file=sys.stderr, flush=True)
            with WalPeak(srv.db) as build_wal:
                built = await build(db, tenant, a)
            rows = await measure(db, tenant, built, a.reps)
            ret = await retention_pass(db, built["clock"])
        finally:
            await db.close()
        size = srv.db.stat().st_size
        ingest = await http_ingest(srv, a.ingest_seconds)
    finally:
        srv.close()
    ok = True
    print(f"\nData at scale: {a.messages} messages, {a.conversations} conversations, one tenant;"
          f" built in {built['seconds']:.0f} s ({a.messages / built['seconds']:.0f} messages/s),"
          f" database {size / MB:.0f} MB; medians of {a.reps}")
    print(f"{'':58} {'in tx ms':>9} {'call ms':>8} {'target':>7}")
    for label, inside, call, target in rows:
        mark = "" if target is None else ("ok" if inside <= target else "OVER")
        ok &= mark != "OVER"
        print(f"{label:58} {inside:9.2f} {call:8.2f} {'' if target is None else f'≤ {target:g}':>7} {mark}")
    checks = [
        ("WAL peak during the build (MB)", build_wal.peak / MB, 64.0),
        (f"WAL peak during {a.ingest_seconds:.0f} s of HTTP ingest (MB; {ingest['per_s']:.0f} msg/s,"
         f" {ingest['failed']} failed)", ingest["wal_peak"] / MB, 64.0),
        (f"writer's longest hold, retention of {ret['removed']} of {ret['events']} events"
         f" ({ret['transactions']} transactions, {ret['seconds']:.1f} s; work inside one:"
         f" median {ret['work_median_ms']:.1f}, max {ret['work_ms']:.1f} ms; BEGIN..COMMIT median"
         f" {ret['hold_median_ms']:.1f}, p99 {ret['hold_p99_ms']:.1f} ms) (ms, longest BEGIN..COMMIT)",
         ret["hold_ms"], 50.0),
    ]
    for label, value, target in checks:
        good = value <= target
        ok &= good
        print(f"{label}: {value:.1f}  (target ≤ {target:g}) {'ok' if good else 'OVER'}")
    ok &= ingest["failed"] == 0
    print(f"fsync latency of the disk (4 KiB): median {fsync_med:.2f} ms, p90 {fsync_p90:.2f} ms;"
          f" load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return ok


def main() -> int:
    a = parse_args()
    try:
        return 0 if asyncio.run(run(a)) else 1
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
