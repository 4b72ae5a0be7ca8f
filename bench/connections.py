#!/usr/bin/env python3
"""Connections benchmark: N idle authenticated WebSockets held open, heartbeats answered.

Starts Condorito on a temp database (tenants and users through the CLI), opens N sockets to
/ws?v=1 (hello with a token, wait for welcome), then holds them idle for a window and prints:
server RSS before / after connecting (and per socket), peak RSS, time to connect them all,
per-socket set-up p50/p99, server CPU while idle, pings answered, sockets lost.

Condorito pings every 25 s (each socket on its own random offset, the first one 12.5-25 s after
it went live), so an idle window of 40 s or more sees every socket pinged at least once.

Examples:
  .venv/bin/python bench/connections.py --sockets 1000 --idle 30
  .venv/bin/python bench/connections.py --sockets 10000 --idle 40
  .venv/bin/python bench/connections.py --sockets 2000 --only both   # python-socketio too

Exit status: 0 when every socket connected, none was lost and every assertion held; else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bookkeeping import Run
from errors import BenchError
from harness import close_run, prepare_loadgen
from httpclient import HttpPool
from loadgen import PyReceivers
from percentiles import percentiles
from procfs import others_note
from servers import HOST, Baseline, Condorito
from tables import core_shares, fmt, in_mb, pct, table
from windows import CpuWindow


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", "-n", type=int, default=1000, help="sockets to hold (default 1000)")
    p.add_argument("--tenants", type=int, default=2, help="tenants they are spread over (default 2)")
    p.add_argument("--idle", type=float, default=40.0, help="idle window in seconds (default 40)")
    p.add_argument("--connect-concurrency", type=int, default=200,
                   help="handshakes in progress at once (default 200)")
    p.add_argument("--only", choices=("condorito", "baseline", "both"), default="condorito")
    p.add_argument("--keep", action="store_true", help="keep the temp directories")
    p.add_argument("--assert-rss-mb", type=float, help="fail unless Condorito peak RSS <= this")
    p.add_argument("--assert-connect-s", type=float, help="fail unless all connect within this")
    p.add_argument("--assert-idle-cpu", type=float, help="fail unless idle CPU %% <= this")
    args = p.parse_args(argv)
    if args.sockets < 1 or args.sockets > 60000:
        p.error("--sockets must be in 1..60000")
    if not 1 <= args.idle <= 600:
        p.error("--idle must be in 1..600 s")
    return args


async def run_server(which: str, args: argparse.Namespace) -> dict[str, Any]:
    server = Condorito(args.tenants, keep=args.keep) if which == "condorito" else Baseline(
        args.tenants, keep=args.keep)
    rx: PyReceivers | None = None
    pool = None
    try:
        await asyncio.to_thread(server.setup)
        pool = HttpPool(HOST, server.port, 2)
        await pool.open()
        await server.login(pool)
        await asyncio.sleep(0.5)  # let start-up work settle before the "before" reading
        rss0 = server.server.mem()["VmRSS"]
        run = Run(server.tenants, 1)
        n_t = len(server.tenants)
        rx = PyReceivers(server.port, "condo" if which == "condorito" else "sio", run,
                         [i % n_t for i in range(args.sockets)], concurrency=args.connect_concurrency,
                         wait_s=120.0)
        connect_window = CpuWindow(server.server.pid, f"{which}-connect")
        connect_window.start()
        try:
            await rx.start()
        except (BenchError, OSError) as exc:
            raise BenchError(f"connecting {args.sockets} sockets failed: {exc}") from exc
        connect_window.stop()
        cpu_connect = connect_window.cpu
        clients = rx.clients
        await asyncio.sleep(1.0)
        rss1 = server.server.mem()["VmRSS"]

        # the idle window
        idle_window = CpuWindow(server.server.pid, f"{which}-idle")
        idle_window.start()
        t1 = time.monotonic()
        samples = []
        while time.monotonic() - t1 < args.idle:
            await asyncio.sleep(min(1.0, args.idle - (time.monotonic() - t1)))
            samples.append(server.server.mem()["VmRSS"])
            if not server.server.alive():
                raise BenchError("server died during the idle window")
        idle_window.stop()
        idle_wall = idle_window.wall
        idle_cpu = idle_window.cpu
        _, lg_share, others = idle_window.loadgen()
        mem = server.server.mem()
        lost = sum(1 for c in clients if c.gone)
        p50, p99 = percentiles(rx.connect_times, (50, 99))
        return {
            "server": which, "ok": True, "sockets": len(clients), "setup_s": rx.setup_s,
            "conn_p50": p50 * 1000, "conn_p99": p99 * 1000, "cpu_connect": cpu_connect,
            "rss0": rss0, "rss1": rss1, "rss_end": mem["VmRSS"], "rss_peak": mem["VmHWM"],
            "per_socket": (rss1 - rss0) / max(1, len(clients)),
            "idle_cpu_pct": idle_cpu / idle_wall * 100, "idle_wall": idle_wall,
            "pings": run.pings, "lost": lost, "errors": run.errors, "lg_share": lg_share,
            "others": others, "rss_drift": (max(samples) - min(samples)) if samples else 0,
        }
    except BenchError as exc:
        return {"server": which, "ok": False, "error": str(exc),
                "log": server.server.log_tail(15) if server.server.proc else ""}
    finally:
        await close_run(server, pool, rx, settle=0.2)


def report(args: argparse.Namespace, results: list[dict[str, Any]], note: str) -> int:
    print(f"\nconnections: N={args.sockets} idle authenticated sockets over {args.tenants} tenants, "
          f"idle window {args.idle:g} s; {note}")
    ok = [r for r in results if r.get("ok")]
    rows = [
        ("sockets connected", lambda r: fmt(r["sockets"])),
        ("connect all (s)", lambda r: f"{r['setup_s']:.2f}"),
        ("connect p50 / p99 (ms)", lambda r: f"{fmt(r['conn_p50'])} / {fmt(r['conn_p99'])}"),
        ("server CPU to connect (s)", lambda r: f"{r['cpu_connect']:.2f}"),
        ("RSS before (MB)", lambda r: in_mb(r["rss0"])),
        ("RSS connected (MB)", lambda r: in_mb(r["rss1"])),
        ("RSS per socket (KB)", lambda r: f"{r['per_socket'] / 1e3:.1f}"),
        ("peak RSS (MB)", lambda r: in_mb(r["rss_peak"])),
        ("RSS drift while idle (MB)", lambda r: in_mb(r["rss_drift"])),
        ("idle CPU (% of a core)", lambda r: f"{r['idle_cpu_pct']:.2f}"),
        ("pings answered", lambda r: fmt(r["pings"])),
        ("sockets lost", lambda r: fmt(r["lost"])),
        ("load generator CPU share", lambda r: pct(r["lg_share"])),
        ("other procs on core 0 / 1", lambda r: core_shares(r["others"])),
    ]
    print(table(["", *[r["server"] for r in ok]], [[label, *[f(r) for r in ok]] for label, f in rows]))
    failed = False
    for r in results:
        if not r.get("ok"):
            print(f"FAIL {r['server']}: {r['error']}\n{r.get('log', '')}")
            failed = True
            continue
        if r["lost"]:
            print(f"FAIL {r['server']}: {r['lost']} sockets lost while idle")
            failed = True
        for e in r["errors"][:5]:
            print(f"  {r['server']}: {e}")
        text, busy = others_note(r["others"])
        if busy:
            print(f"WARNING {r['server']}: {text} during the idle window")
        if args.idle < 40 and r["pings"] < r["sockets"]:
            print(f"note {r['server']}: {r['pings']} pings in a {args.idle:g} s window; use --idle 40 "
                  "or more to see every socket pinged")
    cond = next((r for r in ok if r["server"] == "condorito"), None)
    if cond is not None:
        for flag, value, label in ((args.assert_rss_mb, cond["rss_peak"] / 1e6, "peak RSS MB"),
                                   (args.assert_connect_s, cond["setup_s"], "connect s"),
                                   (args.assert_idle_cpu, cond["idle_cpu_pct"], "idle CPU %")):
            if flag is not None and value > flag:
                print(f"FAIL assertion: {label} {value:.2f} > {flag}")
                failed = True
    return 1 if failed else 0


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    order = ["condorito", "baseline"] if args.only == "both" else [args.only]
    results = []
    for which in order:
        try:
            results.append(await asyncio.wait_for(run_server(which, args), args.idle + 600))
        except TimeoutError:
            results.append({"server": which, "ok": False, "error": "run took too long"})
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    note, limit, _ = prepare_loadgen(args.sockets + 512)
    if limit < args.sockets + 64:
        print(f"error: RLIMIT_NOFILE is {limit}; {args.sockets} sockets need more", file=sys.stderr)
        return 1
    try:
        results = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 1
    return report(args, results, note)


if __name__ == "__main__":
    sys.exit(main())
