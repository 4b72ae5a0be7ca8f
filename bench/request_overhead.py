#!/usr/bin/env python3
"""What the web layer's security adds to every request, in-process (no server, no network):
the security-headers hook per answer, the request-id middleware and header hook, and the
body-deadline middleware per request (body already
complete, the common case, and body still arriving, which arms and cancels a timer). Prints
medians of --repeat runs of --n calls, in µs, each minus the same work without the addition.
  .venv/bin/python bench/request_overhead.py [--n 20000] [--repeat 5]"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from unittest import mock

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from app.web import headers, request_ids, timeouts


async def per_call(fn: Callable[[], Awaitable[object]], n: int, repeat: int) -> float:
    """Median µs per call of `fn` over `repeat` runs of `n` calls."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            await fn()
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(runs)


def post(body_complete: bool) -> web.Request:
    """A POST with a 2-byte JSON body, fully received or not yet."""
    loop = asyncio.get_running_loop()
    stream = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=loop)
    if body_complete:
        stream.feed_data(b"{}")
        stream.feed_eof()
    return make_mocked_request("POST", "/api/v1/sandbox/inbound", payload=stream,
                               headers={"Content-Type": "application/json", "Content-Length": "2"})


async def main(n: int, repeat: int) -> None:
    def answer() -> web.Response:
        return web.Response(body=b"{}", content_type="application/json")

    async def bare() -> None:
        answer()

    request = post(True)

    async def hooked() -> None:
        await headers.security_headers(request, answer())

    ready = answer()

    async def handler(_: web.Request) -> web.StreamResponse:
        return ready

    guard = timeouts.body_guard(60.0)
    complete, arriving = post(True), post(False)
    base_answer = await per_call(bare, n, repeat)
    hook = await per_call(hooked, n, repeat) - base_answer
    base_handler = await per_call(lambda: handler(complete), n, repeat)
    done = await per_call(lambda: guard(complete, handler), n, repeat) - base_handler
    timer = await per_call(lambda: guard(arriving, handler), n, repeat) - base_handler
    rid_mw = request_ids.middleware()
    rid = await per_call(lambda: rid_mw(complete, handler), n, repeat) - base_handler
    rid_hook = await per_call(lambda: request_ids.answer_header(complete, answer()), n, repeat) - base_answer
    print(f"security headers hook, per answer:          {hook:6.2f} µs")
    print(f"request id middleware, per request:         {rid:6.2f} µs")
    print(f"request id header hook, per answer:         {rid_hook:6.2f} µs")
    print(f"body guard, body complete, per request:     {done:6.2f} µs")
    print(f"body guard, body arriving (timer), per req: {timer:6.2f} µs")
    print(f"(medians of {repeat} x {n} calls; compare with ingest's server CPU per message)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    asyncio.run(main(args.n, args.repeat))
