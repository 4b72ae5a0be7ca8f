#!/usr/bin/env python3
"""Sends per second through the outbox against a zero-latency fake Graph API (in-process: the
app, its SQLite writer and the fake Graph share one event loop and core).

Two cases, each on a fresh database, --runs times, medians printed:
  governed   N replies queued at once for one number with the governor at --rate msg/s: the
             achieved rate at the Graph API (first to last request) against the configured one;
  unlimited  M replies with the governor off (CONDORITO_SEND_RATE=0): what the worker, the
             provider call and the commits of `accepted` (message `sent`) sustain.
Every send commits twice (marked `sending`, then `accepted`), so fsync latency is printed beside.
  .venv/bin/python bench/outbox_sends.py [--rate 20] [--governed 100] [--unlimited 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app, keys
from app.config import Config
from app.services import governor, link, messages, tenants, whatsapp_config
from app.services.messages import TenantRef
from app.whatsapp.base import InboundMessage
from bench.fsync_probe import fsync_ms
from tests.helpers.fake_graph import FakeGraph


def burst_of(rate: float) -> int:
    """Sends a full bucket lets go at once (none to skip when unlimited)."""
    return max(1, int(rate * governor.BURST_SECONDS)) if rate else 1


async def one_run(n: int, rate: float, tmp: Path) -> tuple[float, float]:
    """(achieved sends/s at the Graph API first->last, sends/s from queued to all committed)."""
    config = Config(db_path=tmp / f"bench-{secrets.token_hex(4)}.db",
                    secret=secrets.token_urlsafe(48), allow_custom_api_base=True, send_rate=rate)
    async with FakeGraph() as graph:
        server = TestServer(create_app(config), host="127.0.0.1")
        await server.start_server()
        try:
            app = server.app
            assert app is not None
            db = app[keys.DB]
            tenant = await db.write(lambda tx: tenants.create_tenant(tx, "bench", "Bench", "cloud"))
            await db.write(lambda tx: whatsapp_config.save(tx, tenant.id, {
                "provider": "cloud", "phone_number_id": "1001", "access_token": "tok",
                "app_secret": "s", "api_base": graph.base}, allow_custom_base=True))
            await db.write(lambda tx: link.set_state(tx, tenant.id, "connected", phone="1001"))
            ref = TenantRef(tenant.id, tenant.code)
            got = await app[keys.INBOX].inbound(tenant.id, InboundMessage(
                "wamid.IN", "16505551234", "Cliente", "text", "hola", int(time.time() * 1000)))
            conv = int(got.conversation_id)

            def queue_all(tx: object) -> None:
                for i in range(n):  # one transaction: all rows are there before the first send
                    messages.queue_outbound(tx, ref, conv, f"respuesta {i}",  # type: ignore[arg-type]
                                            idempotency_key=f"bench-{i}")

            await db.write(queue_all)
            t0 = time.perf_counter()
            app[keys.OUTBOX].wake()
            await graph.wait_accepted(n, timeout=600)
            await app[keys.OUTBOX].idle()  # the last `accepted` commits follow the last answer
            elapsed = time.perf_counter() - t0
            done = await db.read(lambda c: c.execute(
                "SELECT COUNT(*) FROM outbox WHERE tenant_id = ? AND state = 'accepted'",
                (tenant.id,)).fetchone()[0])
            assert done == n == len(graph.accepted) == graph.requests, "a send lost or repeated"
            # Steady state: from the last send of the first full bucket to the last send.
            burst = burst_of(rate)
            span = graph.seen_at[-1] - graph.seen_at[burst - 1]
            return (n - burst) / span if span > 0 else float("inf"), n / elapsed
        finally:
            await server.close()


async def main(rate: float, governed: int, unlimited: int, runs: int) -> None:
    fs_med, fs_p90 = fsync_ms(None, 100)
    print(f"fsync latency (4 KiB write + fsync): median {fs_med:.2f} ms, p90 {fs_p90:.2f} ms")
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as d:
        tmp = Path(d)
        held = [await one_run(governed, rate, tmp) for _ in range(runs)]
        free = [await one_run(unlimited, 0, tmp) for _ in range(runs)]
    achieved = statistics.median(a for a, _ in held)
    print(f"governed  {governed} sends at {rate:g}/s configured: achieved {achieved:.2f}/s at the "
          f"Graph API after the first bucket of {burst_of(rate)} ({achieved / rate:.3f} of configured;"
          f" runs {', '.join(f'{a:.2f}' for a, _ in held)})")
    sends = statistics.median(b for _, b in free)
    print(f"unlimited {unlimited} sends: {sends:.0f} sends/s queued -> all `sent` committed "
          f"(runs {', '.join(f'{b:.0f}' for _, b in free)}); vs the governed default "
          f"{rate:g}/s: {sends / rate:.1f}x headroom")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=20.0, help="configured sends/s per number")
    p.add_argument("--governed", type=int, default=100, help="sends in a governed run")
    p.add_argument("--unlimited", type=int, default=2000, help="sends in an unlimited run")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    asyncio.run(main(a.rate, max(2, a.governed), max(2, a.unlimited), max(1, a.runs)))
