#!/usr/bin/env python3
"""Fan-out benchmark: Condorito against a python-socketio baseline, same scenario, one invocation.

An HTTP POST delivers a WhatsApp message (the sandbox inbound route, or a signed Cloud API
webhook); the server pushes one `new_message` event to every socket of the tenant. Condorito
also commits it to SQLite first (and sends the conversation_updated / stats_updated events a real
inbox needs); the baseline stores nothing.

For each server this prints deliveries/s, inject->receive latency, lost / duplicated /
cross-tenant deliveries, server CPU per delivered new_message, peak RSS and connection set-up
time, then the Condorito/baseline ratio. Two tenants; receivers alternate between them.

The sockets are held by bench/receiver.c (compiled with gcc at run time; one epoll process on
the load generator's core, so the server, not the receiver, is what saturates); the injector
stays in this Python process. `--receiver python` uses loadgen.py's asyncio receivers instead.

Examples:
  .venv/bin/python bench/fanout.py --clients 200 --rate 100 --duration 10
  .venv/bin/python bench/fanout.py --clients 1000 --messages 300            # as fast as possible
  .venv/bin/python bench/fanout.py --clients 1000 --messages 300 --batch
  .venv/bin/python bench/fanout.py --clients 200 --rate 100 --inject webhook

Exit status: 0 when every run completed with no lost, duplicated or cross-tenant delivery and
every assertion (--assert-*) held; 1 otherwise; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bookkeeping import Run
from creceiver import CReceivers
from errors import BenchError
from fanout_report import report
from harness import close_run, prepare_loadgen
from httpclient import HttpPool
from injector import Injector
from loadgen import PyReceivers
from percentiles import hist_percentiles, percentiles
from servers import HOST, Baseline, Condorito
from windows import CpuWindow


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", "-c", type=int, default=50, help="sockets in all (default 50)")
    p.add_argument("--tenants", type=int, default=2, help="tenants the sockets are spread over (default 2)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=float, help="fixed rate, messages/s (all tenants together)")
    mode.add_argument("--afap", action="store_true", help="as fast as possible (the default without --rate)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of injection at --rate (default 10)")
    p.add_argument("--messages", type=int, default=200,
                   help="messages to inject as fast as possible (default 200)")
    p.add_argument("--inflight", type=int, default=16,
                   help="HTTP requests in flight at most (default 16)")
    p.add_argument("--batch", action="store_true", help='Condorito hello with features ["batch"]')
    p.add_argument("--inject", choices=("sandbox", "webhook"), default="sandbox",
                   help="POST /api/v1/sandbox/inbound, or signed Cloud API webhooks")
    p.add_argument("--only", choices=("both", "condorito", "baseline"), default="both")
    p.add_argument("--parse", choices=("fast", "full"), default="fast",
                   help="receiver parsing: byte scanning (default) or orjson on every frame "
                        "(Python receivers only)")
    p.add_argument("--receiver", choices=("c", "python"), default=None,
                   help="who holds the sockets: bench/receiver.c, compiled with gcc at run time, "
                        "one epoll process on the load generator's core (c, the default), or "
                        "loadgen.py's asyncio receivers in this process (python; they saturate "
                        "their core at ~70-85k deliveries/s; the default with --parse full)")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured messages per tenant first (default 50)")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds to wait for outstanding deliveries after the last answer")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--max-seconds", type=float, default=900.0, help="hard cap per server run")
    p.add_argument("--keep", action="store_true", help="keep the temp directories (logs, database)")
    p.add_argument("--db-dir", help="where Condorito's temp database goes (default: the system temp "
                   "dir, on disk; /dev/shm shows what fsync costs)")
    p.add_argument("--assert-cpu-ratio", type=float,
                   help="fail unless Condorito CPU/delivery <= this x baseline")
    p.add_argument("--assert-p99-ms", type=float, help="fail unless Condorito p99 latency <= this")
    args = p.parse_args(argv)
    if args.clients < args.tenants or args.tenants < 1:
        p.error("--clients must be at least --tenants (>= 1)")
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    if args.rate is not None and args.duration * args.rate > 1_000_000:
        p.error("rate x duration over one million messages: keep runs bounded")
    if args.messages < 1 or args.messages > 1_000_000:
        p.error("--messages must be in 1..1000000")
    if args.batch and args.only == "baseline":
        p.error("--batch is a Condorito feature")
    if args.receiver is None:
        args.receiver = "python" if args.parse == "full" else "c"
    if args.receiver == "c" and args.parse == "full":
        p.error("--parse full needs --receiver python (the C receiver only scans bytes)")
    return args


def total_messages(args: argparse.Namespace) -> int:
    return int(args.rate * args.duration) if args.rate else args.messages


def _receivers(which: str, args: argparse.Namespace, port: int, run: Run) -> CReceivers | PyReceivers:
    """Who holds the sockets: bench/receiver.c, or the asyncio receivers in this process."""
    mode = "condo" if which == "condorito" else "sio"
    sock_tenants = [i % args.tenants for i in range(args.clients)]
    if args.receiver == "c":
        return CReceivers(port, mode, run.tenants, sock_tenants, run.n, batch=args.batch,
                          concurrency=args.connect_concurrency, max_life=args.max_seconds + 60)
    return PyReceivers(port, mode, run, sock_tenants, fast=args.parse == "fast",
                       batch=args.batch, concurrency=args.connect_concurrency)


async def run_server(which: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start one server, connect, warm up, inject, drain, measure; always stop the server."""
    total = total_messages(args)
    n_per_tenant = -(-total // args.tenants)
    provider = "cloud" if args.inject == "webhook" else "sandbox"
    server = (Condorito(args.tenants, provider, keep=args.keep, tmp_root=args.db_dir) if which == "condorito"
              else Baseline(args.tenants, keep=args.keep))
    pool: HttpPool | None = None
    rx: CReceivers | PyReceivers | None = None
    try:
        await asyncio.to_thread(server.setup)
        pool = HttpPool(HOST, server.port, args.inflight)
        await pool.open()
        await server.login(pool)
        run = Run(server.tenants, n_per_tenant)
        rx = _receivers(which, args, server.port, run)
        await rx.start()
        rss_connected = server.server.mem()["VmRSS"]
        injector = Injector(pool, which, args.inject, server.tenants)
        if args.warmup:
            ok = await injector.warmup(args.warmup)
            want = ok * (args.clients // args.tenants)
            deadline = time.monotonic() + args.drain_timeout
            while (await rx.stats())["warm"] < want and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        s0 = await rx.stats()

        window = CpuWindow(server.server.pid, f"{which}-fanout")
        rx_cpu0 = rx.cpu()
        window.start()
        await injector.inject(run, total, args.rate, args.inflight)
        await rx.drain(run, args.drain_timeout)
        window.stop()
        rx_cpu = rx.cpu() - rx_cpu0
        lg_cpu, lg_share, others = window.loadgen(rx_cpu)
        mem = server.server.mem()
        alive = server.server.alive()
        rep = await rx.report()
        deliveries = rep["unique"]
        span = (max(1e-6, (rep["last_recv"] - run.first_send) / 1e6) if deliveries
                else float("nan"))
        send_span = max(1e-6, (run.last_send - run.first_send) / 1e6)
        p50, p90, p99 = hist_percentiles(rep["lat_hist"], (50, 90, 99))
        conn_p50, conn_p99 = percentiles(rx.connect_times, (50, 99))
        per = (lambda x: x / deliveries) if deliveries else (lambda x: float("nan"))
        rx_share = None if rx.in_process else rx_cpu / window.wall
        return {
            "server": which, "ok": True, "complete": rep["complete"], "alive": alive,
            "sent": run.sent, "acked": sum(sum(a) for a in run.acked), "post_failed": run.post_failed,
            "post_errors": run.post_errors, "send_rate": run.sent / send_span,
            "deliveries": deliveries, "expected": rep["expected"], "deliveries_s": deliveries / span,
            "lat_p50": p50 / 1000, "lat_p90": p90 / 1000, "lat_p99": p99 / 1000,
            "lat_max": rep["lat_max"] / 1000 if rep["lat_n"] else float("nan"),
            "lost": rep["lost"], "dup": rep["dup"], "seq_regress": rep["seq_regress"],
            "cross": rep["cross"], "unparsed": rep["unparsed"] + rep["bad_index"],
            "errors": rep["errors"] + [f"close codes seen: {rep['close_codes']}"] * bool(rep["close_codes"]),
            "cpu_s": window.cpu, "cpu_share": window.cpu / window.wall, "wall": window.wall,
            "sys_share": window.sys_share,
            "cpu_us": window.cpu / deliveries * 1e6 if deliveries else float("nan"),
            "rss_peak": mem["VmHWM"], "rss": mem["VmRSS"], "rss_connected": rss_connected,
            "setup_s": rx.setup_s, "conn_p50": conn_p50 * 1000, "conn_p99": conn_p99 * 1000,
            "frames_per_delivery": per(rep["frames"] - s0["frames"]),
            "bytes_per_delivery": per(rep["bytes_in"] - s0["bytes_in"]),
            "msgs_per_delivery": per(rep["msgs_in"] - s0["msgs_in"]),
            "pings": rep["pings"] - s0["pings"], "lg_cpu": lg_cpu + rx_cpu,
            "lg_share": lg_share + (rx_share or 0.0), "rx_share": rx_share, "inj_share": lg_share,
            "others": others,
        }
    except BenchError as exc:
        tail = server.server.log_tail(15) if server.server.proc else ""
        return {"server": which, "ok": False, "error": str(exc), "log": tail}
    finally:
        await close_run(server, pool, rx)



async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    order = ["condorito", "baseline"] if args.only == "both" else [args.only]
    for which in order:
        try:
            results.append(await asyncio.wait_for(run_server(which, args), args.max_seconds))
        except TimeoutError:
            results.append({"server": which, "ok": False,
                            "error": f"run exceeded --max-seconds {args.max_seconds:g}"})
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    note, _, loop_kind = prepare_loadgen(args.clients + args.inflight + 256)
    try:
        results = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    return report(args, results, note, loop_kind)


if __name__ == "__main__":
    sys.exit(main())
