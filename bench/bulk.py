#!/usr/bin/env python3
"""Bulk runner throughput with a zero-latency fake provider, in one process (the real app:
runner, outbox, single writer, stream events).

Two runs per repetition on fresh databases: one paced at the configured limit (how close the
runner holds it), one with the pace lifted (how many recipients per second the pipeline itself
can hand to a provider: the headroom above the limit). Prints medians over the repetitions, the
database write jobs and commits per send, and the disk's fsync latency beside them.
  .venv/bin/python bench/bulk.py [--n 1000] [--limit 80] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app, keys  # noqa: E402
from app.config import Config  # noqa: E402
from app.services import tenants  # noqa: E402
from app.whatsapp.base import OutboundMessage, QrCode  # noqa: E402
from bench.fsync_probe import fsync_ms  # noqa: E402


class ZeroProvider:
    """Takes every send at once; stamps each with the provider's clock."""

    name = "sandbox"

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.done = asyncio.Event()
        self.expect = 0
        self._ids = itertools.count(1)

    async def send(self, tenant_id: int, msg: OutboundMessage) -> str:
        self.stamps.append(time.perf_counter())
        if len(self.stamps) >= self.expect:
            self.done.set()
        return f"zero.{next(self._ids)}"

    async def connect(self, tenant_id: int, public_base: str) -> None:
        return None

    async def logout(self, tenant_id: int) -> None:
        return None

    def current_qr(self, tenant_id: int) -> QrCode | None:
        return None


async def one_run(n: int, rate: float | None, limit: float) -> dict[str, float]:
    """One campaign of n recipients; `rate` None lifts the pace."""
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        # The number's governor (app/services/governor.py) at the same limit: the runner's pace
        # is what is measured, not the outbox's token bucket.
        app = create_app(Config(db_path=Path(tmp) / "bench.db", secret=secrets.token_urlsafe(48),
                                send_rate=0.0 if rate is None else limit))
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            db = app[keys.DB]
            tenant = await db.write(lambda tx: tenants.create_tenant(tx, "bench", "Bench", "sandbox"))
            fake = ZeroProvider()
            fake.expect = n
            app[keys.PROVIDERS].add(fake)
            recipients = [{"phone": f"+56 9 8{i:07d}", "name": f"C{i}", "vars": {"x": str(i)}}
                          for i in range(n)]
            campaign = await app[keys.BULK].create(tenant.id, None, {
                "name": "bench", "body": "Hola {{nombre}} {{x}}", "recipients": recipients,
                "pacing": {"rate": limit}})
            cid = int(campaign["id"])
            if rate is None:  # past the API's bounds on purpose: the pipeline's own ceiling
                lifted = orjson.dumps({"mode": "rate", "rate": 1e6}).decode()
                await db.write(lambda tx: tx.execute(
                    "UPDATE campaigns SET pacing = ? WHERE id = ? AND tenant_id = ?",
                    (lifted, cid, tenant.id)))
            jobs = 0
            real_write = db.write

            async def counting_write(fn: Any, **kw: Any) -> Any:
                nonlocal jobs
                jobs += 1
                return await real_write(fn, **kw)

            db.write = counting_write  # type: ignore[method-assign]
            db.holds = []
            await app[keys.BULK].control(tenant.id, cid, "start")
            await asyncio.wait_for(fake.done.wait(), 600)
            while (await db.read(lambda c: c.execute(
                    "SELECT status FROM campaigns WHERE id = ?", (cid,)).fetchone()[0])) != "completed":
                await app[keys.BULK].passes(1)  # the last outcomes land, the runner finishes it
            span = fake.stamps[-1] - fake.stamps[0]
            return {"rate": (len(fake.stamps) - 1) / span if span > 0 else float("inf"),
                    "jobs": jobs / n, "commits": len(db.holds) / n,
                    "hold_ms": statistics.median(db.holds) * 1000 if db.holds else 0.0}
        finally:
            await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=80.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    fsync_median, fsync_p90 = fsync_ms(tempfile.gettempdir(), 100)
    paced = [await one_run(args.n, args.limit, args.limit) for _ in range(args.reps)]
    free = [await one_run(args.n, None, args.limit) for _ in range(args.reps)]

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"bulk runner, {args.n} recipients, zero-latency provider, median of {args.reps}")
    print(f"fsync (4 KiB write + fsync, temp dir): median {fsync_median:.2f} ms, p90 {fsync_p90:.2f} ms")
    print(f"paced at the limit {args.limit:g}/s: {med(paced, 'rate'):.1f} recipients/s "
          f"({med(paced, 'rate') / args.limit:.3f} x limit)")
    print(f"pace lifted: {med(free, 'rate'):.1f} recipients/s "
          f"({med(free, 'rate') / args.limit:.1f} x limit: the headroom)")
    print(f"per send: {med(paced, 'jobs'):.2f} write jobs, {med(paced, 'commits'):.2f} commits when paced; "
          f"{med(free, 'jobs'):.2f} jobs, {med(free, 'commits'):.2f} commits unpaced "
          f"(group commit); median transaction hold {med(free, 'hold_ms'):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
