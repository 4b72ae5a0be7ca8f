#!/usr/bin/env python3
"""Summarise a py-spy raw (collapsed-stack) profile: where the samples went.

Produce one with BENCH_PROFILE=DIR on any bench script (the server is sampled with
`py-spy record --format raw --threads`), then:

  .venv/bin/python bench/profile_summary.py /tmp/prof/condorito-1234.txt [--top 30] [--thread db-writer]

Prints per-thread sample shares, then the functions with the most inclusive and self samples
(idle samples are kept out unless py-spy was run with --idle).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--thread", help="only stacks whose thread name contains this")
    args = p.parse_args()
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    with open(args.file, errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
            if args.thread and args.thread not in thread:
                continue
            threads[thread] += n
            total += n
            body = [short(fr) for fr in frames if not fr.startswith(("thread", "process"))]
            for fr in set(body):
                inclusive[fr] += n
            if body:
                self_[body[-1]] += n
    if not total:
        print("no samples")
        return 1
    print(f"{total} samples")
    print("\nthreads:")
    for name, n in threads.most_common(8):
        print(f"  {n / total * 100:5.1f} %  {name}")
    print(f"\ninclusive (top {args.top}):")
    for name, n in inclusive.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {name}")
    print(f"\nself (top {args.top}):")
    for name, n in self_.most_common(args.top):
        print(f"  {n / total * 100:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
