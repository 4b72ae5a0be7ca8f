"""Nearest-rank percentiles: of a list of values, and of a histogram of [value, count] pairs
(what bench/receiver.c reports)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentiles(values: list[int], ps: Iterable[float] = (50, 90, 99)) -> list[float]:
    """Nearest-rank percentiles of a list (sorted in place); NaN when empty."""
    if not values:
        return [float("nan") for _ in ps]
    values.sort()
    n = len(values)
    return [values[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))] for p in ps]


def hist_percentiles(hist: Sequence[Sequence[int]], ps: tuple[float, ...]) -> list[float]:
    """Nearest-rank percentiles from a histogram ([value µs, count], ascending; the C
    receiver's is exact below 2 048 µs, within 0.1 % above)."""
    total = sum(c for _, c in hist)
    if not total:
        return [float("nan") for _ in ps]
    out = []
    for p in ps:
        rank = min(total, max(1, math.ceil(p / 100 * total)))
        acc = 0
        for v, c in hist:
            acc += c
            if acc >= rank:
                out.append(float(v))
                break
    return out
