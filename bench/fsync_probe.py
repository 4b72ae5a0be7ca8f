#!/usr/bin/env python3
"""The disk's fsync latency where the benchmark databases go: write 4 KiB and fsync, N times;
print the median and p90 in ms. Disks differ 20x, so every figure that commits is read beside it.
  .venv/bin/python bench/fsync_probe.py [--dir DIR] [--n 200]"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def fsync_ms(directory: str | None = None, n: int = 200) -> tuple[float, float]:
    """(median, p90) milliseconds of one 4 KiB write + fsync in `directory` (default: temp dir)."""
    fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-probe-")
    try:
        block = os.urandom(4096)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fsync(fd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", help="directory to probe (default: the system temp dir, as the benchmarks)")
    p.add_argument("--n", type=int, default=200)
    a = p.parse_args()
    med, p90 = fsync_ms(a.dir, max(10, min(a.n, 10_000)))
    print(f"fsync latency (4 KiB write + fsync, n={a.n}): median {med:.2f} ms, p90 {p90:.2f} ms")
