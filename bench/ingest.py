#!/usr/bin/env python3
"""Ingest benchmark: signed Cloud API webhooks/s durably committed, and messages/s through the
sandbox inbound route.

Starts Condorito on a temp database with two tenants made through the CLI: `bench1` on the Cloud
API provider (switched with PUT /api/v1/whatsapp/config) and `bench2` on the sandbox. Then:

  webhook  POST /webhooks/whatsapp/bench1, each body signed with X-Hub-Signature-256, carrying
           --per-webhook text messages; --concurrency requests in flight at most.
  sandbox  POST /api/v1/sandbox/inbound as bench2's admin, same concurrency.

Condorito answers a webhook 200 only after its messages are committed. To check that rather than
trust it, the server is killed with SIGKILL right after the last answer (no clean shutdown, no
chance to flush anything late) and the database is opened: every acknowledged message id must be
there. --clients K also holds K sockets open so the commit path includes fan-out.

Examples:
  .venv/bin/python bench/ingest.py --messages 5000 --concurrency 32
  .venv/bin/python bench/ingest.py --messages 3000 --per-webhook 5 --only webhook

Exit status: 0 when every request was acknowledged, every acknowledged message was found in the
database after the kill, and every assertion held; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import signal
import sqlite3
import sys
import time
from typing import Any

import orjson
from bookkeeping import Run
from errors import BenchError
from harness import close_run, prepare_loadgen, run_capped
from httpclient import HttpPool
from loadgen import PyReceivers
from payloads import phone_of, sandbox_request, webhook_request
from percentiles import percentiles
from procfs import now_us, others_note, proc_times
from servers import HOST, Condorito
from tables import core_shares, fmt, pct, table
from windows import CpuWindow


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=5000, help="requests per route (default 5000)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    p.add_argument("--per-webhook", type=int, default=1, help="messages in each webhook (default 1)")
    p.add_argument("--only", choices=("both", "webhook", "sandbox"), default="both")
    p.add_argument("--clients", type=int, default=0, help="sockets held open meanwhile (default 0)")
    p.add_argument("--warmup", type=int, default=200, help="unmeasured requests first (default 200)")
    p.add_argument("--db-dir", help="directory for the temp database (default: system temp, on disk)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    p.add_argument("--assert-webhooks-s", type=float, help="fail unless webhooks/s >= this")
    args = p.parse_args(argv)
    if not 1 <= args.messages <= 200_000:
        p.error("--messages must be in 1..200000")
    if not 1 <= args.per_webhook <= 100:
        p.error("--per-webhook must be in 1..100")
    return args


async def drive(pool: HttpPool, make: Any, total: int, concurrency: int) -> dict[str, Any]:
    """`concurrency` workers send `total` requests; returns acks, latencies and failures."""
    counter = itertools.count()
    lat: list[int] = []
    acked: list[list[str]] = []
    failures: list[str] = []

    async def worker() -> None:
        while (i := next(counter)) < total:
            data, ids = make(i)
            t0 = now_us()
            try:
                status, body = await pool.send_raw(data)
            except (ConnectionError, BenchError) as exc:
                failures.append(repr(exc))
                continue
            lat.append(now_us() - t0)
            if status in (200, 202):
                acked.append(ids)
            else:
                failures.append(f"HTTP {status} {body[:160]!r}")

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"wall": time.monotonic() - t0, "lat": lat, "acked": acked, "failures": failures}


async def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    srv = Condorito(2, "sandbox", keep=args.keep, tmp_root=args.db_dir)
    srv.tenants[0].provider = "cloud"
    cloud, sandbox = srv.tenants
    pool: HttpPool | None = None
    rx: PyReceivers | None = None
    results: list[dict[str, Any]] = []
    durable: dict[str, Any] = {}
    run_id = secrets.token_hex(3)
    try:
        await asyncio.to_thread(srv.setup)
        pool = HttpPool(HOST, srv.port, args.concurrency)
        await pool.open()
        await srv.login(pool)
        if args.clients:
            rx = PyReceivers(srv.port, "condo", Run(srv.tenants, 1), [i % 2 for i in range(args.clients)])
            await rx.start()

        def make_webhook(tag: str) -> Any:
            def make(i: int) -> tuple[bytes, list[str]]:
                ids = [f"wamid.{tag}{run_id}.{i}.{j}" for j in range(args.per_webhook)]
                return webhook_request(pool, cloud, phone_of(cloud.index, i),
                                       [(wa_id, f"ingest {wa_id}") for wa_id in ids]), ids
            return make

        def make_sandbox(tag: str) -> Any:
            def make(i: int) -> tuple[bytes, list[str]]:
                wa_id = f"sbx.{tag}{run_id}.{i}"
                return sandbox_request(pool, sandbox, phone_of(sandbox.index, i), f"ingest {wa_id}",
                                       wa_id), [wa_id]
            return make

        routes = [("webhook", make_webhook), ("sandbox", make_sandbox)]
        all_acked: list[str] = []
        for name, factory in routes:
            if args.only not in ("both", name):
                continue
            if args.warmup:
                warm = await drive(pool, factory("w"), args.warmup, args.concurrency)
                if warm["failures"]:
                    raise BenchError(f"{name} warm-up failed: {warm['failures'][0]}")
            window = CpuWindow(srv.server.pid, f"condorito-ingest-{name}")
            window.start()
            out = await drive(pool, factory("m"), args.messages, args.concurrency)
            window.stop()
            # Webhooks are applied after their 200 (stored first, then processed): also time
            # the whole path, until nothing waits in webhook_inbox.
            applied_wall = applied_cpu = None
            if name == "webhook":
                applied_wall = await asyncio.to_thread(wait_applied, srv.db, 120.0)
                applied_cpu = sum(proc_times(srv.server.pid)) - window.cpu0
            _, lg_share, others = window.loadgen()
            msgs = sum(len(ids) for ids in out["acked"])
            p50, p90, p99 = percentiles(out["lat"], (50, 90, 99))
            for ids in out["acked"]:
                all_acked.extend(ids)
            results.append({
                "route": name, "requests": args.messages, "acked": len(out["acked"]),
                "failed": len(out["failures"]), "failures": out["failures"][:3],
                "req_s": len(out["acked"]) / out["wall"], "msg_s": msgs / out["wall"],
                "p50": p50 / 1000, "p90": p90 / 1000, "p99": p99 / 1000,
                "max": out["lat"][-1] / 1000 if out["lat"] else float("nan"),
                "cpu_us": window.cpu / max(1, msgs) * 1e6, "cpu_share": window.cpu / window.wall,
                "lg_share": lg_share, "others": others,
                "applied_s": (msgs / (applied_wall - window.t0)) if applied_wall else None,
                "applied_cpu_us": (applied_cpu / max(1, msgs) * 1e6) if applied_cpu else None,
            })
        # Durability: kill -9 right after the last answer, then look for every acknowledged id.
        proc = srv.server.proc
        assert proc is not None
        rss_peak = srv.server.mem()["VmHWM"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if rx is not None:
            rx.mute()
        found = await asyncio.to_thread(count_present, srv.db, all_acked)
        durable = {"acked": len(all_acked), "found": found, "rss_peak": rss_peak}
    finally:
        await close_run(srv, pool, rx)
    return results, durable


def wait_applied(db: Any, timeout: float) -> float | None:
    """Poll the database (read-only, beside the server) until webhook_inbox holds nothing
    pending; return that moment (time.monotonic), or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            pending = conn.execute(
                "SELECT COUNT(*) FROM webhook_inbox WHERE failed_at IS NULL").fetchone()[0]
            if not pending:
                return time.monotonic()
            time.sleep(0.02)
    finally:
        conn.close()
    return None


def count_present(db: Any, wa_ids: list[str]) -> int:
    """How many of `wa_ids` are durable after the server was killed: stored as messages, or
    still in webhook_inbox as a received delivery waiting to be applied."""
    conn = sqlite3.connect(str(db))
    try:
        conn.execute("CREATE TEMP TABLE want (wa_id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO want VALUES (?)", [(w,) for w in wa_ids])
        found = {r[0] for r in conn.execute(
            "SELECT DISTINCT m.wa_id FROM messages m JOIN want w ON w.wa_id = m.wa_id")}
        for (body,) in conn.execute("SELECT body FROM webhook_inbox"):
            for entry in orjson.loads(body).get("entry", []):
                for change in entry.get("changes", []):
                    for m in change.get("value", {}).get("messages", []):
                        found.add(m.get("id"))
        return len(found & set(wa_ids))
    finally:
        conn.close()


def report(args: argparse.Namespace, results: list[dict[str, Any]], durable: dict[str, Any],
           note: str) -> int:
    print(f"\ningest: {args.messages} requests per route, {args.concurrency} in flight, "
          f"{args.per_webhook} message(s) per webhook, {args.clients} sockets open; {note}")
    rows = [
        ("requests acknowledged", lambda r: f"{r['acked']:,} / {r['requests']:,}"),
        ("requests/s", lambda r: fmt(r["req_s"])),
        ("messages/s committed", lambda r: fmt(r["msg_s"])),
        ("latency p50 / p90 (ms)", lambda r: f"{fmt(r['p50'])} / {fmt(r['p90'])}"),
        ("latency p99 / max (ms)", lambda r: f"{fmt(r['p99'])} / {fmt(r['max'])}"),
        ("server CPU per message (µs)", lambda r: fmt(r["cpu_us"])),
        ("applied end to end (msg/s)", lambda r: fmt(r["applied_s"]) if r["applied_s"] else "-"),
        ("CPU per message, end to end (µs)",
         lambda r: fmt(r["applied_cpu_us"]) if r["applied_cpu_us"] else "-"),
        ("server busy share", lambda r: pct(r["cpu_share"])),
        ("load generator CPU share", lambda r: pct(r["lg_share"])),
        ("other procs on core 0 / 1", lambda r: core_shares(r["others"])),
    ]
    print(table(["", *[r["route"] for r in results]], [[label, *[f(r) for r in results]]
                                                        for label, f in rows]))
    failed = False
    if durable:
        print(f"durability: server killed (SIGKILL) after the last answer; {durable['found']:,} of "
              f"{durable['acked']:,} acknowledged messages found in the database (as messages, or "
              f"as stored webhook deliveries not yet applied); peak RSS "
              f"{durable['rss_peak'] / 1e6:.1f} MB")
        if durable["found"] != durable["acked"]:
            print("FAIL: acknowledged messages missing after the kill: a 200 came before its commit")
            failed = True
    for r in results:
        if r["failed"]:
            failed = True
            print(f"FAIL {r['route']}: {r['failed']} requests failed: {r['failures']}")
        text, busy = others_note(r["others"])
        if busy:
            print(f"WARNING {r['route']}: {text}; rates are understated")
        if r["lg_share"] > 0.9:
            print(f"WARNING {r['route']}: load generator at {r['lg_share'] * 100:.0f} % of its core")
    wh = next((r for r in results if r["route"] == "webhook"), None)
    if args.assert_webhooks_s is not None and wh is not None and wh["req_s"] < args.assert_webhooks_s:
        print(f"FAIL assertion: {wh['req_s']:.0f} webhooks/s < {args.assert_webhooks_s}")
        failed = True
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    note, _, _ = prepare_loadgen(args.clients + args.concurrency + 256)
    out = run_capped(run(args), 900)
    if out is None:
        return 1
    results, durable = out
    return report(args, results, durable, note)


if __name__ == "__main__":
    sys.exit(main())
