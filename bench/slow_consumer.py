#!/usr/bin/env python3
"""Slow-consumer benchmark: one socket that never reads while thousands of events go out.

Starts Condorito (two tenants, CLI-made), connects C reading sockets, then runs three phases
of the same injection (sandbox route, fixed rate):

  A  without the slow socket: the readers' latency p50/p99 (the reference);
  B  with one more socket in tenant bench1 that said hello, got its welcome and then stopped
     reading (its transport is paused and its SO_RCVBUF small, so the kernel buffers fill and
     the server must hold or drop what it cannot write);
  A2 without it again (each phase runs on a bigger database than the one before, so B is
     compared with the mean of A and A2).

During B the server's RSS is sampled every 100 ms. As soon as the server logs the slow socket as
a slow consumer (it then waits up to 30 s for the close handshake), the socket resumes reading
(`--resume end`: only after B) and we record how it ended: the close code it received (4001
expected), or, if the connection was torn down before a close frame could reach it, the server
log's "slow consumer" line.

It prints, per phase: readers' deliveries, loss/dup, latency p50/p90/p99/max, server RSS
(start / peak); then the slow socket's fate, how much the server's RSS grew compared with what
the slow socket was owed, and the readers' p99 ratio B / mean(A, A2) (target < 1.2).

Examples:
  .venv/bin/python bench/slow_consumer.py --clients 50 --messages 10000 --rate 500
  .venv/bin/python bench/slow_consumer.py --clients 20 --messages 2000 --rate 400   # quick

Exit status: 0 when the slow socket was closed with 4001 (seen on the socket or in the log),
the readers lost nothing, and every assertion held; 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import socket
import sys
import time
from typing import Any

import orjson
from bookkeeping import Run
from creceiver import CReceivers
from harness import close_run, prepare_loadgen, run_capped
from httpclient import HttpPool
from injector import Injector
from loadgen import CondoRecv, PyReceivers
from percentiles import hist_percentiles
from procfs import others_note, tcp_queues
from servers import HOST, Condorito
from tables import core_shares, fmt, in_mb, pct, table
from windows import CpuWindow

CLOSE_SLOW_CONSUMER = 4001


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", "-c", type=int, default=50, help="reading sockets (default 50)")
    p.add_argument("--messages", type=int, default=10000,
                   help="messages per phase (each is one new_message event; default 10000)")
    p.add_argument("--rate", type=float, default=500.0, help="messages/s (default 500)")
    p.add_argument("--inflight", type=int, default=32, help="HTTP requests in flight at most")
    p.add_argument("--rcvbuf", type=int, default=65536,
                   help="SO_RCVBUF of the slow socket in bytes (default 65536; 0 = the kernel's "
                        "autotuning, which on loopback may grow to net.ipv4.tcp_rmem's max, 32 MB "
                        "here, and swallow the whole test in the client's kernel)")
    p.add_argument("--resume", choices=("declared", "end"), default="declared",
                   help="when the slow socket starts reading again: as soon as the server has "
                        "logged it as a slow consumer (declared, the default: within the server's "
                        "close grace, so it reads everything up to the close frame), or after "
                        "phase B (end: the server has aborted it by then)")
    p.add_argument("--drain-timeout", type=float, default=30.0)
    p.add_argument("--server-log-level", default="INFO",
                   help="server log level (default INFO; DEBUG also logs each socket's close as "
                        "aiohttp reports it)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    p.add_argument("--receiver", choices=("c", "python"), default="c",
                   help="who holds the reading sockets: bench/receiver.c (c, the default) or "
                        "loadgen.py's asyncio receivers (python); the slow socket is always Python")
    p.add_argument("--assert-p99-ratio", type=float, default=None,
                   help="fail unless readers' p99 with / without the slow socket <= this")
    args = p.parse_args(argv)
    if not 1 <= args.messages <= 200_000:
        p.error("--messages must be in 1..200000")
    if args.clients < 2:
        p.error("--clients must be at least 2")
    return args


class SlowRecv(CondoRecv):
    """Says hello, takes its welcome, then stops reading until told to resume."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.events_seen = 0
        self.error_codes: list[str] = []

    def on_text(self, p: bytes, now: int) -> None:
        if self.live:
            self.events_seen += p.count(b'{"type":"event"')
            if b'{"type":"error"' in p:
                self.error_codes.append(p[p.find(b'"code":"') + 8:][:30].split(b'"')[0].decode())
            # No pongs: it never answers anything. (Answering the pings found while draining
            # would leave unread bytes in the server's socket when it closes, turning its FIN into
            # an RST that discards the close frame we are reading towards.)
            return
        super().on_text(p, now)


async def phase(name: str, srv: Condorito, pool: HttpPool, rx: CReceivers | PyReceivers,
                args: argparse.Namespace, n_per_tenant: int, offset: int,
                rss_samples: list[int]) -> dict[str, Any]:
    """One injection phase; the readers get a fresh Run (fresh counters)."""
    run = Run(srv.tenants, n_per_tenant)
    await rx.reset(run)
    rx_cpu0 = rx.cpu()
    inj = Injector(pool, "condorito", "sandbox", srv.tenants)
    inj.run_id = f"{inj.run_id}{offset}"
    window = CpuWindow(srv.server.pid, f"condorito-slow-{name}")
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            rss_samples.append(srv.server.mem()["VmRSS"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    sampler = asyncio.create_task(sample())
    rss_start = srv.server.mem()["VmRSS"]
    window.start()
    await inj.fixed_rate(run, args.rate, n_per_tenant * len(srv.tenants))
    await rx.drain(run, args.drain_timeout)
    window.stop()
    stop.set()
    await sampler
    rx_cpu = rx.cpu() - rx_cpu0
    _, lg_share, others = window.loadgen(rx_cpu)
    rep = await rx.report()
    p50, p90, p99 = hist_percentiles(rep["lat_hist"], (50, 90, 99))
    return {
        "phase": name, "post_failed": run.post_failed,
        "rss_start": rss_start, "rss_peak": max(rss_samples) if rss_samples else rss_start,
        "lg_share": lg_share + rx_cpu / window.wall, "others": others,
        "complete": rep["complete"], "deliveries": rep["unique"],
        "expected": rep["expected"], "lost": rep["lost"], "dup": rep["dup"],
        "cross": rep["cross"], "unparsed": rep["unparsed"] + rep["bad_index"],
        "p50": p50 / 1000, "p90": p90 / 1000, "p99": p99 / 1000,
        "max": rep["lat_max"] / 1000 if rep["lat_n"] else float("nan"),
        "cpu_us": window.cpu / max(1, rep["unique"]) * 1e6, "errors": rep["errors"],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    # At DEBUG the server logs each socket's close ("ws closed" with aiohttp's close_code).
    srv = Condorito(2, "sandbox", keep=args.keep,
                    env_extra={"CONDORITO_LOG_LEVEL": args.server_log_level,
                               "CONDORITO_LOG_FORMAT": "json"})  # read back below
    pool: HttpPool | None = None
    rx: CReceivers | PyReceivers | None = None
    slow: SlowRecv | None = None
    try:
        await asyncio.to_thread(srv.setup)
        pool = HttpPool(HOST, srv.port, args.inflight)
        await pool.open()
        await srv.login(pool)
        n_per_tenant = -(-args.messages // 2)
        run0 = Run(srv.tenants, n_per_tenant)
        sock_tenants = [i % 2 for i in range(args.clients)]
        rx = (CReceivers(srv.port, "condo", srv.tenants, sock_tenants, n_per_tenant) if args.receiver == "c"
              else PyReceivers(srv.port, "condo", run0, sock_tenants))
        await rx.start()
        # warm-up: contacts, conversations, caches
        await Injector(pool, "condorito", "sandbox", srv.tenants).warmup(50)
        await asyncio.sleep(1.0)

        samples_a: list[int] = []
        a = await phase("A", srv, pool, rx, args, n_per_tenant, 1, samples_a)

        loop = asyncio.get_running_loop()
        sock = socket.socket()
        if args.rcvbuf:  # before connect, so the window it advertises is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
        sock.setblocking(False)
        await loop.sock_connect(sock, (HOST, srv.port))
        _, slow = await loop.create_connection(
            lambda: SlowRecv(HOST, srv.port, run0, srv.tenants[0], True, False), sock=sock)
        await asyncio.wait_for(slow.ready, 10)
        slow.transport.pause_reading()
        slow_port = slow.transport.get_extra_info("sockname")[1]
        kernel: dict[str, Any] = {}

        def resume(when: str) -> None:
            # Where the undelivered bytes sit now: the server's kernel send queue and the slow
            # client's kernel receive queue (neither is in the server's RSS).
            server_q = tcp_queues(srv.port, slow_port)
            client_q = tcp_queues(slow_port, srv.port)
            kernel.update(when=when, server_sendq=server_q[0] if server_q else None,
                          client_recvq=client_q[1] if client_q else None)
            slow.transport.resume_reading()

        async def resume_when_declared() -> None:
            # The verdict is only in the server's log file: poll it (no event crosses processes).
            while "slow consumer" not in srv.server.log_text():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            resume("once the server had declared it slow")

        watcher = asyncio.create_task(resume_when_declared()) if args.resume == "declared" else None
        samples_b: list[int] = []
        t_b = time.monotonic()
        t_b_wall = time.time()
        b = await phase("B", srv, pool, rx, args, n_per_tenant, 2, samples_b)
        b_wall = time.monotonic() - t_b

        slow_gone_before = slow.lost
        if watcher is not None and not watcher.done():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if not kernel:
            resume("at the end of B")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(slow.done), 20)
        log = srv.server.log_text()
        logged = "slow consumer" in log
        closed_at = next((line for line in log.splitlines() if "slow consumer" in line), "")
        conn_id = str(slow.welcome.get("conn", ""))
        server_close = None
        for line in log.splitlines():
            if '"ws closed"' in line and conn_id and f'"conn":"{conn_id}"' in line:
                with contextlib.suppress(ValueError):
                    rec = orjson.loads(line)
                    at = calendar.timegm(time.strptime(rec["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
                    at += int(rec["ts"][20:23]) / 1000
                    server_close = {"code": rec.get("code"), "after_s": at - t_b_wall}
        owed_events = n_per_tenant  # new_message events to bench1 in phase B
        # A again, after B: later phases run on a bigger database, so B is compared with the
        # mean of the phases before and after it, not with the first one alone.
        a2 = await phase("A2", srv, pool, rx, args, n_per_tenant, 3, [])
        return {
            "a": a, "b": b, "a2": a2, "b_wall": b_wall, "slow_close": slow.close_code,
            "slow_closed": slow.lost, "slow_gone_before": slow_gone_before,
            "slow_events_seen": slow.events_seen, "slow_bytes": slow.bytes_in,
            "slow_errors": slow.error_codes, "logged": logged, "owed_events": owed_events,
            "readers": args.clients, "kernel": kernel, "server_close": server_close,
            "log_line": closed_at[:300],
            "alive": srv.server.alive(), "rss_end": srv.server.mem()["VmRSS"],
        }
    finally:
        if slow is not None:
            slow.live = False
            slow.close()
        await close_run(srv, pool, rx)


def report(args: argparse.Namespace, res: dict[str, Any], note: str) -> int:
    a, b, a2 = res["a"], res["b"], res["a2"]
    who = "bench/receiver.c" if args.receiver == "c" else "Python"
    print(f"\nslow consumer: {res['readers']} reading sockets ({who}) + 1 that never reads (phase B), "
          f"{args.messages} messages per phase at {args.rate:g} msg/s; {note}")
    rows = [
        ("reader deliveries", lambda r: fmt(r["deliveries"])),
        ("lost / dup / cross-tenant", lambda r: f"{r['lost']} / {r['dup']} / {r['cross']}"),
        ("readers' latency p50 (ms)", lambda r: fmt(r["p50"])),
        ("readers' latency p90 (ms)", lambda r: fmt(r["p90"])),
        ("readers' latency p99 (ms)", lambda r: fmt(r["p99"])),
        ("readers' latency max (ms)", lambda r: fmt(r["max"])),
        ("server CPU per delivery (µs)", lambda r: fmt(r["cpu_us"])),
        ("server RSS start (MB)", lambda r: in_mb(r["rss_start"])),
        ("server RSS peak (MB)", lambda r: in_mb(r["rss_peak"])),
        ("load generator CPU share", lambda r: pct(r["lg_share"])),
        ("other procs on core 0 / 1", lambda r: core_shares(r["others"])),
    ]
    print(table(["", "A: no slow socket", "B: with slow socket", "A2: none again"],
                [[label, f(a), f(b), f(a2)] for label, f in rows]))
    base = (a["p99"] + a2["p99"]) / 2
    ratio = b["p99"] / base if base else float("nan")
    growth_b = b["rss_peak"] - a["rss_peak"]
    print(f"readers' p99 B / mean(A, A2): {ratio:.2f}x (B/A {b['p99'] / a['p99']:.2f}x, "
          f"B/A2 {b['p99'] / a2['p99']:.2f}x)    server RSS growth in B over A's peak: "
          f"{growth_b / 1e6:+.1f} MB")
    how = (f"close code {res['slow_close']}" if res["slow_close"] is not None
           else "no close frame reached it" + (" (connection reset)" if res["slow_closed"] else
                                              " and the socket is still open"))
    print(f"slow socket: {how}; error frames {res['slow_errors'] or 'none'}; after resuming it read "
          f"{res['slow_events_seen']:,} event frames ({res['slow_bytes'] / 1e6:.1f} MB) of the "
          f"{res['owed_events']:,} new_message events (plus their conversation_updated) it was owed; "
          f"server log {'has' if res['logged'] else 'has no'} 'slow consumer' line")
    k = res["kernel"]
    print(f"{k['when']}, kernel buffers held for the slow socket: server send queue "
          f"{(k['server_sendq'] or 0) / 1e6:.2f} MB, client receive queue "
          f"{(k['client_recvq'] or 0) / 1e6:.2f} MB (kernel memory, not in the server's RSS)")
    if res["log_line"]:
        print(f"server log: {res['log_line']}")
    sc = res["server_close"]
    if sc is not None:
        print(f"server log (DEBUG): 'ws closed' for the slow socket, close_code {sc['code']}, "
              f"{sc['after_s']:.1f} s after phase B began")
    elif not res["slow_closed"]:
        print("the server never closed the slow socket")
    failed = False
    closed_4001 = (res["slow_close"] == CLOSE_SLOW_CONSUMER or "slow_consumer" in res["slow_errors"]
                   or (sc is not None and sc["code"] == CLOSE_SLOW_CONSUMER))
    if not closed_4001 and not res["logged"]:
        print("FAIL: the slow socket was not closed as a slow consumer (4001)")
        failed = True
    elif res["slow_close"] != CLOSE_SLOW_CONSUMER:
        print("note: 4001 seen in the server log, not as a close frame on the socket")
    for r in (a, b, a2):
        if (r["lost"] or r["dup"] or r["cross"] or r["unparsed"] or not r["complete"]
                or r["post_failed"]):
            print(f"FAIL phase {r['phase']}: lost {r['lost']}, dup {r['dup']}, cross {r['cross']}, "
                  f"unparsed {r['unparsed']}, failed POSTs {r['post_failed']}, "
                  f"complete {r['complete']}")
            for e in r["errors"][:5]:
                print(f"  phase {r['phase']}: {e}")
            failed = True
        text, busy = others_note(r["others"])
        if busy:
            print(f"WARNING phase {r['phase']}: {text}; latencies are noisy")
    if not res["alive"]:
        print("FAIL: server died")
        failed = True
    if args.assert_p99_ratio is not None and ratio > args.assert_p99_ratio:
        print(f"FAIL assertion: p99 ratio {ratio:.2f} > {args.assert_p99_ratio}")
        failed = True
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    note, _, _ = prepare_loadgen(args.clients + args.inflight + 256)
    res = run_capped(main_async(args), 900)
    if res is None:
        return 1
    return report(args, res, note)


if __name__ == "__main__":
    sys.exit(main())
