"""How the benchmarks print: numbers, shares and megabytes as table cells, and compact
fixed-width tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from procfs import LOADGEN_CORE, SERVER_CORE


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        if abs(v) >= 1000:
            s = f"{v:,.0f}"
        elif abs(v) >= 100:
            s = f"{v:.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.2f}"
    elif isinstance(v, int):
        s = f"{v:,}"
    else:
        s = str(v)
    return s + unit


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A compact fixed-width table (first column left-aligned, others right)."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for j, r in enumerate(cells):
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def pct(share: float) -> str:
    """A share of one core (or of a total) as a whole percentage: 0.374 -> '37 %'."""
    return f"{share * 100:.0f} %"


def core_shares(others: dict[int, float]) -> str:
    """The 'other procs on core 0 / 1' cell: other processes' share of the server's core and of
    the load generator's."""
    return f"{pct(others.get(SERVER_CORE, 0))} / {pct(others.get(LOADGEN_CORE, 0))}"


def in_mb(n: float) -> str:
    """Bytes as megabytes with one decimal, no unit (the unit is in the row label)."""
    return f"{n / 1e6:.1f}"
