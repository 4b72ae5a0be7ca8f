"""What every benchmark script does around its measurements: set the load generator up (its
core, the fd limit, the event loop), run under a time cap, and tear down what a run opened."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, Protocol

from errors import BenchError
from httpclient import HttpPool
from procfs import pin_loadgen, raise_nofile


class _Closes(Protocol):
    async def close(self) -> None: ...


class _Stops(Protocol):
    def close(self) -> None: ...


def use_fast_loop() -> str:
    """uvloop for the load generator when installed (it only makes the generator cheaper)."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def prepare_loadgen(nofile: int) -> tuple[str, int, str]:
    """Pin this process to the load generator's core, raise RLIMIT_NOFILE toward `nofile`, pick
    the event loop. Returns (the pinning note for the report, the fd limit, the loop's name)."""
    note = pin_loadgen()
    limit = raise_nofile(nofile)
    return note, limit, use_fast_loop()


def run_capped(main: Coroutine[Any, Any, Any], seconds: float) -> Any | None:
    """asyncio.run(main) for at most `seconds`; on a BenchError or the cap, says FAIL on stderr
    and returns None."""
    try:
        return asyncio.run(asyncio.wait_for(main, seconds))
    except BenchError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
    except TimeoutError:
        print(f"FAIL: run took longer than {seconds:g} s", file=sys.stderr)
    return None


async def close_run(server: _Stops, pool: HttpPool | None, receivers: _Closes | None,
                    settle: float = 0.05) -> None:
    """The end of every run: the receivers (their sockets closed), the HTTP pool, a moment for
    the close frames to go out, then the server (stopped, its temp dir removed)."""
    if receivers is not None:
        await receivers.close()
    if pool is not None:
        pool.close()
    await asyncio.sleep(settle)
    await asyncio.to_thread(server.close)
