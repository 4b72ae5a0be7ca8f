"""fanout.py's report: one column per server (and their ratio), then the failures and warnings
that decide the exit status."""

from __future__ import annotations

import argparse
from typing import Any

from procfs import others_note
from tables import core_shares, fmt, in_mb, pct, table

LOADGEN_SATURATED = 0.90

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
        return f"{r['cpu_s']:.2f} / {pct(r['cpu_share'])}"
    if key == "sys_pct":
        return pct(r["sys_share"])
    if key == "rss_peak_mb":
        return in_mb(r["rss_peak"])
    if key == "rss_connected_mb":
        return in_mb(r["rss_connected"])
    if key == "conn":
        return f"{fmt(r['conn_p50'])} / {fmt(r['conn_p99'])}"
    if key == "others":
        return core_shares(r["others"])
    if key == "lg_share_pct":
        return pct(r["lg_share"])
    if key == "rx_inj":
        if r.get("rx_share") is None:
            return "same process"
        return f"{pct(r['rx_share'])} / {pct(r['inj_share'])}"
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

