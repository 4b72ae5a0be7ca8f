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

from benchlib import (
    LOADGEN_CORE,
    SERVER_CORE,
    Baseline,
    BenchError,
    Condorito,
    CoreLoad,
    CpuWindow,
    HttpPool,
    SelfCpu,
    connect_all,
    fmt,
    others_note,
    percentiles,
    pin_loadgen,
    raise_nofile,
    table,
    use_fast_loop,
)
from loadgen import CondoRecv, Run, SioRecv

HOST = "127.0.0.1"


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
    clients: list[Any] = []
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
        if which == "condorito":
            factories = [lambda t=server.tenants[i % n_t]: CondoRecv(HOST, server.port, run, t, True, False)
                         for i in range(args.sockets)]
        else:
            factories = [lambda t=server.tenants[i % n_t]: SioRecv(HOST, server.port, run, t, True)
                         for i in range(args.sockets)]
        connect_window = CpuWindow(server.server.pid, f"{which}-connect")
        connect_window.start()
        t0 = time.monotonic()
        failures = 0
        try:
            clients, times = await connect_all(factories, HOST, server.port, args.connect_concurrency,
                                               wait_s=120.0)
        except (BenchError, OSError) as exc:
            raise BenchError(f"connecting {args.sockets} sockets failed: {exc}") from exc
        setup_s = time.monotonic() - t0
        connect_window.stop()
        cpu_connect = connect_window.cpu
        run.receivers = clients
        await asyncio.sleep(1.0)
        rss1 = server.server.mem()["VmRSS"]

        # the idle window
        idle_window = CpuWindow(server.server.pid, f"{which}-idle")
        idle_window.start()
        me = SelfCpu()
        cores = CoreLoad()
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
        lg_cpu, lg_share = me.read()
        others = cores.others({SERVER_CORE: idle_cpu, LOADGEN_CORE: lg_cpu})
        mem = server.server.mem()
        lost = sum(1 for c in clients if c.gone)
        failures += lost
        p50, p99 = percentiles(times, (50, 99))
        return {
            "server": which, "ok": True, "sockets": len(clients), "setup_s": setup_s,
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
        for c in clients:
            c.live = False
            c.close()
        if pool is not None:
            pool.close()
        await asyncio.sleep(0.2)
        await asyncio.to_thread(server.close)


def report(args: argparse.Namespace, results: list[dict[str, Any]], note: str) -> int:
    print(f"\nconnections: N={args.sockets} idle authenticated sockets over {args.tenants} tenants, "
          f"idle window {args.idle:g} s; {note}")
    ok = [r for r in results if r.get("ok")]
    rows = [
        ("sockets connected", lambda r: fmt(r["sockets"])),
        ("connect all (s)", lambda r: f"{r['setup_s']:.2f}"),
        ("connect p50 / p99 (ms)", lambda r: f"{fmt(r['conn_p50'])} / {fmt(r['conn_p99'])}"),
        ("server CPU to connect (s)", lambda r: f"{r['cpu_connect']:.2f}"),
        ("RSS before (MB)", lambda r: f"{r['rss0'] / 1e6:.1f}"),
        ("RSS connected (MB)", lambda r: f"{r['rss1'] / 1e6:.1f}"),
        ("RSS per socket (KB)", lambda r: f"{r['per_socket'] / 1e3:.1f}"),
        ("peak RSS (MB)", lambda r: f"{r['rss_peak'] / 1e6:.1f}"),
        ("RSS drift while idle (MB)", lambda r: f"{r['rss_drift'] / 1e6:.1f}"),
        ("idle CPU (% of a core)", lambda r: f"{r['idle_cpu_pct']:.2f}"),
        ("pings answered", lambda r: fmt(r["pings"])),
        ("sockets lost", lambda r: fmt(r["lost"])),
        ("load generator CPU share", lambda r: f"{r['lg_share'] * 100:.0f} %"),
        ("other procs on core 0 / 1", lambda r: f"{r['others'].get(SERVER_CORE, 0) * 100:.0f} % / "
                                                f"{r['others'].get(LOADGEN_CORE, 0) * 100:.0f} %"),
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
    note = pin_loadgen()
    limit = raise_nofile(args.sockets + 512)
    if limit < args.sockets + 64:
        print(f"error: RLIMIT_NOFILE is {limit}; {args.sockets} sockets need more", file=sys.stderr)
        return 1
    use_fast_loop()
    try:
        results = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 1
    return report(args, results, note)


if __name__ == "__main__":
    sys.exit(main())
