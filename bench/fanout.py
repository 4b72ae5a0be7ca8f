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
from creceiver import CReceivers, hist_percentiles
from loadgen import CondoRecv, Injector, Run, SioRecv, wait_delivered

HOST = "127.0.0.1"
LOADGEN_SATURATED = 0.90


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


async def run_server(which: str, args: argparse.Namespace) -> dict[str, Any]:
    """Start one server, connect, warm up, inject, drain, measure; always stop the server."""
    total = total_messages(args)
    n_per_tenant = -(-total // args.tenants)
    provider = "cloud" if args.inject == "webhook" else "sandbox"
    server = (Condorito(args.tenants, provider, keep=args.keep, tmp_root=args.db_dir) if which == "condorito"
              else Baseline(args.tenants, keep=args.keep))
    pool: HttpPool | None = None
    clients: list[Any] = []
    try:
        await asyncio.to_thread(server.setup)
        pid = server.server.pid
        pool = HttpPool(HOST, server.port, args.inflight)
        await pool.open()
        await server.login(pool)
        run = Run(server.tenants, n_per_tenant)
        if args.receiver == "c":
            return await _run_c(which, args, server, pool, run, total)
        fast = args.parse == "fast"
        if which == "condorito":
            factories = [lambda t=server.tenants[i % args.tenants]: CondoRecv(
                HOST, server.port, run, t, fast, args.batch) for i in range(args.clients)]
        else:
            factories = [lambda t=server.tenants[i % args.tenants]: SioRecv(
                HOST, server.port, run, t, fast) for i in range(args.clients)]
        t0 = time.monotonic()
        clients, times = await connect_all(factories, HOST, server.port, args.connect_concurrency)
        setup_s = time.monotonic() - t0
        run.receivers = clients
        rss_connected = server.server.mem()["VmRSS"]

        injector = Injector(pool, which, args.inject, server.tenants)
        if args.warmup:
            ok = await injector.warmup(args.warmup)
            want = ok * (args.clients // args.tenants)
            deadline = time.monotonic() + args.drain_timeout
            while run.warm < want and time.monotonic() < deadline:  # noqa: ASYNC110 - bounded poll
                await asyncio.sleep(0.02)
        run.other = run.frames = 0
        bytes0 = sum(c.bytes_in for c in clients)
        msgs0 = sum(c.msgs_in for c in clients)

        window = CpuWindow(pid, f"{which}-fanout")
        me = SelfCpu()
        cores = CoreLoad()
        window.start()
        if args.rate:
            await injector.fixed_rate(run, args.rate, total)
        else:
            await injector.as_fast_as_possible(run, total, args.inflight)
        complete = await wait_delivered(run, args.drain_timeout)
        window.stop()
        lg_cpu, lg_share = me.read()
        others = cores.others({SERVER_CORE: window.cpu, LOADGEN_CORE: lg_cpu})
        mem = server.server.mem()
        alive = server.server.alive()
        lost = run.losses()
        span = max(1e-6, (run.last_recv - run.first_send) / 1e6) if run.unique else float("nan")
        send_span = max(1e-6, (run.last_send - run.first_send) / 1e6)
        p50, p90, p99 = percentiles(run.lat, (50, 90, 99))
        conn_p50, conn_p99 = percentiles(times, (50, 99))
        deliveries = run.unique
        return {
            "server": which, "ok": True, "complete": complete, "alive": alive,
            "sent": run.sent, "acked": sum(sum(a) for a in run.acked), "post_failed": run.post_failed,
            "post_errors": run.post_errors, "send_rate": run.sent / send_span,
            "deliveries": deliveries, "expected": run.target, "deliveries_s": deliveries / span,
            "lat_p50": p50 / 1000, "lat_p90": p90 / 1000, "lat_p99": p99 / 1000,
            "lat_max": (run.lat[-1] / 1000) if run.lat else float("nan"),
            "lost": lost, "dup": run.dup, "seq_regress": run.seq_regress, "cross": run.cross,
            "unparsed": run.unparsed + run.bad_index, "errors": run.errors,
            "cpu_s": window.cpu, "cpu_share": window.cpu / window.wall, "wall": window.wall,
            "sys_share": window.sys_share,
            "cpu_us": window.cpu / deliveries * 1e6 if deliveries else float("nan"),
            "rss_peak": mem["VmHWM"], "rss": mem["VmRSS"], "rss_connected": rss_connected,
            "setup_s": setup_s, "conn_p50": conn_p50 * 1000, "conn_p99": conn_p99 * 1000,
            "frames_per_delivery": (run.frames / deliveries) if deliveries else float("nan"),
            "bytes_per_delivery": ((sum(c.bytes_in for c in clients) - bytes0) / deliveries)
            if deliveries else float("nan"),
            "msgs_per_delivery": ((sum(c.msgs_in for c in clients) - msgs0) / deliveries)
            if deliveries else float("nan"),
            "pings": run.pings, "lg_cpu": lg_cpu, "lg_share": lg_share, "others": others,
            "rx_share": None,
        }
    except BenchError as exc:
        tail = server.server.log_tail(15) if server.server.proc else ""
        return {"server": which, "ok": False, "error": str(exc), "log": tail}
    finally:
        for c in clients:
            c.live = False
            c.close()
        if pool is not None:
            pool.close()
        await asyncio.sleep(0.05)
        await asyncio.to_thread(server.close)


async def _run_c(which: str, args: argparse.Namespace, server: Any, pool: HttpPool, run: Run,
                 total: int) -> dict[str, Any]:
    """The same run with bench/receiver.c holding the sockets (this process only injects)."""
    sock_tenants = [i % args.tenants for i in range(args.clients)]
    rx = CReceivers(server.port, "condo" if which == "condorito" else "sio", server.tenants,
                    sock_tenants, run.n, batch=args.batch, concurrency=args.connect_concurrency,
                    max_life=args.max_seconds + 60)
    try:
        ready = await rx.start()
        setup_s = ready["connect_wall_us"] / 1e6  # first connect -> last welcome (not gcc)
        times = [us / 1e6 for us in ready["connect_us"]]
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
        me = SelfCpu()
        cores = CoreLoad()
        rx_cpu0 = rx.cpu()
        window.start()
        if args.rate:
            await injector.fixed_rate(run, args.rate, total)
        else:
            await injector.as_fast_as_possible(run, total, args.inflight)
        rep = await rx.drain(run.acked, args.drain_timeout)
        window.stop()
        rx_cpu = rx.cpu() - rx_cpu0
        lg_cpu, lg_share = me.read()
        others = cores.others({SERVER_CORE: window.cpu, LOADGEN_CORE: lg_cpu + rx_cpu})
        mem = server.server.mem()
        alive = server.server.alive()
        deliveries = rep["unique"]
        span = (max(1e-6, (rep["last_recv"] - run.first_send) / 1e6) if deliveries
                else float("nan"))
        send_span = max(1e-6, (run.last_send - run.first_send) / 1e6)
        p50, p90, p99 = hist_percentiles(rep["lat_hist"], (50, 90, 99))
        conn_p50, conn_p99 = percentiles(times, (50, 99))
        frames = rep["frames"] - s0["frames"]
        per = (lambda x: x / deliveries) if deliveries else (lambda x: float("nan"))
        rx_share = rx_cpu / window.wall
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
            "setup_s": setup_s, "conn_p50": conn_p50 * 1000, "conn_p99": conn_p99 * 1000,
            "frames_per_delivery": per(frames),
            "bytes_per_delivery": per(rep["bytes_in"] - s0["bytes_in"]),
            "msgs_per_delivery": per(rep["msgs_in"] - s0["msgs_in"]),
            "pings": rep["pings"] - s0["pings"], "lg_cpu": lg_cpu + rx_cpu,
            "lg_share": lg_share + rx_share, "rx_share": rx_share, "inj_share": lg_share,
            "rx_total_cpu": rep["utime"] + rep["stime"], "others": others,
        }
    finally:
        await rx.close()


ROWS: list[tuple[str, str, str]] = [
    # label, key, unit
    ("messages acknowledged / sent", "acked_sent", ""),
    ("injection rate (msg/s)", "send_rate", ""),
    ("new_message deliveries", "deliveries", ""),
    ("deliveries/s", "deliveries_s", ""),
    ("latency p50 (ms)", "lat_p50", ""),
    ("latency p90 (ms)", "lat_p90", ""),
    ("latency p99 (ms)", "lat_p99", ""),
    ("latency max (ms)", "lat_max", ""),
    ("lost / dup / cross-tenant", "ldc", ""),
    ("server CPU per delivery (µs)", "cpu_us", ""),
    ("server CPU (s) / busy share", "cpu", ""),
    ("server CPU in kernel", "sys_pct", ""),
    ("peak RSS (MB)", "rss_peak_mb", ""),
    ("RSS after connect (MB)", "rss_connected_mb", ""),
    ("connect all sockets (s)", "setup_s", ""),
    ("connect p50 / p99 (ms)", "conn", ""),
    ("event frames per delivery", "frames_per_delivery", ""),
    ("WS messages per delivery", "msgs_per_delivery", ""),
    ("bytes per delivery", "bytes_per_delivery", ""),
    ("load generator CPU share", "lg_share_pct", ""),
    ("  receiver / injector", "rx_inj", ""),
    ("other procs on core 0 / 1", "others", ""),
]
RATIO_KEYS = {"deliveries_s", "lat_p50", "lat_p90", "lat_p99", "lat_max", "cpu_us", "rss_peak_mb",
              "rss_connected_mb", "setup_s", "bytes_per_delivery"}


def _cell(r: dict[str, Any], key: str) -> str:
    if not r.get("ok"):
        return "failed"
    if key == "acked_sent":
        return f"{r['acked']:,} / {r['sent']:,}"
    if key == "ldc":
        extra = f" (seq<= {r['seq_regress']})" if r["seq_regress"] else ""
        return f"{r['lost']} / {r['dup']} / {r['cross']}{extra}"
    if key == "cpu":
        return f"{r['cpu_s']:.2f} / {r['cpu_share'] * 100:.0f} %"
    if key == "sys_pct":
        return f"{r['sys_share'] * 100:.0f} %"
    if key == "rss_peak_mb":
        return f"{r['rss_peak'] / 1e6:.1f}"
    if key == "rss_connected_mb":
        return f"{r['rss_connected'] / 1e6:.1f}"
    if key == "conn":
        return f"{fmt(r['conn_p50'])} / {fmt(r['conn_p99'])}"
    if key == "others":
        o = r["others"]
        return f"{o.get(SERVER_CORE, 0) * 100:.0f} % / {o.get(LOADGEN_CORE, 0) * 100:.0f} %"
    if key == "lg_share_pct":
        return f"{r['lg_share'] * 100:.0f} %"
    if key == "rx_inj":
        if r.get("rx_share") is None:
            return "same process"
        return f"{r['rx_share'] * 100:.0f} % / {r['inj_share'] * 100:.0f} %"
    return fmt(r[key])


def _num(r: dict[str, Any], key: str) -> float:
    if key == "rss_peak_mb":
        return r["rss_peak"] / 1e6
    if key == "rss_connected_mb":
        return r["rss_connected"] / 1e6
    return float(r[key])


def report(args: argparse.Namespace, results: list[dict[str, Any]], note: str, loop_kind: str) -> int:
    mode = (f"fixed rate {args.rate:g} msg/s for {args.duration:g} s" if args.rate
            else f"as fast as possible, {args.messages} messages, {args.inflight} in flight")
    print(f"\nfanout: C={args.clients} sockets over {args.tenants} tenants, {mode}, inject "
          f"{args.inject}, batch {'on' if args.batch else 'off'}, parse {args.parse}")
    rx = ("receiver bench/receiver.c (C, epoll), injector in Python" if args.receiver == "c"
          else "receivers and injector in Python")
    print(f"        {note}; {rx}; load generator loop {loop_kind}")
    headers = ["", *[r["server"] for r in results]]
    both = len(results) == 2 and all(r.get("ok") for r in results)
    if both:
        headers.append("ratio C/B")
    rows = []
    for label, key, _ in ROWS:
        row = [label, *[_cell(r, key) for r in results]]
        if both:
            if key in RATIO_KEYS and _num(results[1], key):
                row.append(f"{_num(results[0], key) / _num(results[1], key):.2f}x")
            else:
                row.append("")
        rows.append(row)
    print(table(headers, rows))

    failed = False
    for r in results:
        name = r["server"]
        if not r.get("ok"):
            print(f"FAIL {name}: {r['error']}\n{r.get('log', '')}")
            failed = True
            continue
        problems = []
        if not r["complete"]:
            problems.append(f"incomplete: {r['deliveries']:,} of {r['expected']:,} deliveries "
                            f"within {args.drain_timeout:g} s")
        for key, label in (("lost", "lost"), ("dup", "duplicated"), ("cross", "cross-tenant"),
                           ("seq_regress", "seq not increasing"), ("unparsed", "unparsed"),
                           ("post_failed", "failed POSTs")):
            if r[key]:
                problems.append(f"{r[key]} {label}")
        if not r["alive"]:
            problems.append("server died")
        if problems:
            failed = True
            print(f"FAIL {name}: " + "; ".join(problems))
        for e in r["post_errors"][:3] + r["errors"][:5]:
            print(f"  {name}: {e}")
        text, busy = others_note(r["others"])
        if busy:
            print(f"WARNING {name} run: {text} during the measured window; throughput and "
                  "latency are understated (CPU per delivery much less affected)")
        if r["lg_share"] > LOADGEN_SATURATED:
            split = ("" if r.get("rx_share") is None else
                     f" (C receiver {r['rx_share'] * 100:.0f} %, Python injector "
                     f"{r['inj_share'] * 100:.0f} %)")
            print(f"WARNING {name} run: the load generator used {r['lg_share'] * 100:.0f} % of its "
                  f"core{split}; it may be the bottleneck (latency and deliveries/s are then its limit)")
        if args.rate and r["send_rate"] < 0.95 * args.rate:
            print(f"WARNING {name} run: injected {r['send_rate']:.0f} msg/s, below --rate "
                  f"{args.rate:g} (server answers slower than the rate with {args.inflight} in flight)")
    if both:
        ratio = results[0]["cpu_us"] / results[1]["cpu_us"]
        print(f"server CPU per delivery, Condorito / baseline: {ratio:.2f}x")
        if args.assert_cpu_ratio is not None and ratio > args.assert_cpu_ratio:
            print(f"FAIL assertion: CPU ratio {ratio:.2f} > {args.assert_cpu_ratio}")
            failed = True
    cond = next((r for r in results if r["server"] == "condorito" and r.get("ok")), None)
    if args.assert_p99_ms is not None and cond is not None and cond["lat_p99"] > args.assert_p99_ms:
        print(f"FAIL assertion: Condorito p99 {cond['lat_p99']:.1f} ms > {args.assert_p99_ms} ms")
        failed = True
    return 1 if failed else 0


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
    note = pin_loadgen()
    raise_nofile(args.clients + args.inflight + 256)
    loop_kind = use_fast_loop()
    try:
        results = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    return report(args, results, note, loop_kind)


if __name__ == "__main__":
    sys.exit(main())
