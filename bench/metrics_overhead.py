#!/usr/bin/env python3
"""What /metrics costs the hot paths, in-process: the hub's per-name event count (one dict
update per event published), a whole hub.publish per event for scale (no sockets attached), and
the two histogram observations after each committed write batch. CPU time (process_time), best
of --rounds runs of --n calls, so a loaded machine inflates it less than wall time would.
  .venv/bin/python bench/metrics_overhead.py [--n 200000] [--rounds 15]"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from app.metrics import Metrics
from app.realtime.hub import Hub
from app.realtime.stream import build_event


def best_ns(fn: Callable[[int], None], n: int, rounds: int) -> float:
    """Best nanoseconds per call of `fn(n)` over `rounds` runs."""
    runs = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn(n)
        runs.append((time.process_time() - t0) / n)
    return min(runs) * 1e9


def main(n: int, rounds: int) -> None:
    hub = Hub()
    events = [build_event(1, i, "message:new", b"{}", 0, None) for i in range(100)]
    counts: dict[str, int] = {}
    metrics = Metrics()

    def empty(k: int) -> None:
        for _ in range(k):
            pass

    def count(k: int) -> None:
        for _ in range(k):
            counts["message:new"] = counts.get("message:new", 0) + 1

    def publish(k: int) -> None:
        for _ in range(k // len(events)):
            hub.publish(events)

    def batch(k: int) -> None:
        for _ in range(k):
            metrics.write_batch_done(0.001, 3)

    loop = best_ns(empty, n, rounds)
    print(f"per-name event count, per event:            {best_ns(count, n, rounds) - loop:7.0f} ns")
    print(f"hub.publish, per event, no sockets:         {best_ns(publish, n, rounds):7.0f} ns")
    print(f"write-batch histograms, per commit:         {best_ns(batch, n // 4, rounds) - loop:7.0f} ns")
    print(f"(best of {rounds} x {n} calls, CPU time; a delivery costs ~3-7 µs per socket, a commit"
          " waits ~130-230 µs for fsync: bench/fsync_probe.py)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    main(args.n, args.rounds)
