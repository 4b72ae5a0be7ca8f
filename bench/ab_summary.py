#!/usr/bin/env python3
"""Medians of bench/ab.sh's runs, before vs after, for the rows that matter, with the ratio.
  python3 bench/ab_summary.py OUTDIR REPEAT"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

from fsync_probe import fsync_ms

# (file name, row label, column index among the value columns)
ROWS = [
    ("fanout-c200-r100", "latency p99 (ms)", 0),
    ("fanout-c200-r100", "server CPU per delivery (µs)", 0),
    ("fanout-c1000", "deliveries/s", 0),
    ("fanout-c1000", "latency p99 (ms)", 0),
    ("fanout-c1000", "server CPU per delivery (µs)", 0),
    ("ingest", "requests/s", 0),
    ("ingest", "requests/s", 1),
    ("ingest", "server CPU per message (µs)", 0),
    ("ingest", "server CPU per message (µs)", 1),
]
NUM = re.compile(r"-?[\d,]+(?:\.\d+)?")


def value(text: str, label: str, col: int) -> float | None:
    for line in text.splitlines():
        if line.startswith(label + " ") or line.startswith(label + "\t"):
            cells = re.split(r"\s{2,}", line[len(label):].strip())
            if col < len(cells) and (m := NUM.match(cells[col])):
                return float(m.group().replace(",", ""))
    return None


def main(out: Path, repeat: int) -> None:
    print(f"{'benchmark / row':58} {'before':>10} {'after':>10} {'after/before':>13}")
    for name, label, col in ROWS:
        med = {}
        for side in ("before", "after"):
            vals = [v for i in range(1, repeat + 1)
                    if (f := out / f"{name}-{side}-{i}.txt").exists()
                    and (v := value(f.read_text(), label, col)) is not None]
            med[side] = statistics.median(vals) if vals else None
        b, a = med["before"], med["after"]
        ratio = f"{a / b:.2f}x" if a is not None and b else "-"
        tag = f"{name}: {label}" + (f" [{['webhook', 'sandbox'][col]}]" if name == "ingest" else "")
        print(f"{tag:58} {b if b is not None else '-':>10} {a if a is not None else '-':>10} {ratio:>13}")
    m, p90 = fsync_ms()
    print(f"fsync latency of this disk: median {m:.2f} ms, p90 {p90:.2f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
