"""The collector policy: survivors of a full collection freeze, reclaim frees frozen cycles."""

from __future__ import annotations

import gc
import weakref

from aiohttp.test_utils import TestClient

from app.gc_policy import GcPolicy


class _Cycle:
    """Cyclic garbage once dropped, like a closed asyncio transport."""

    def __init__(self) -> None:
        self.me = self


def _installed() -> bool:
    return any(getattr(cb, "__qualname__", "") == "GcPolicy._after_collection" for cb in gc.callbacks)


async def test_survivors_freeze_and_reclaim_frees_what_died_frozen() -> None:
    policy = GcPolicy(reclaim_period=3600)
    policy.start()
    try:
        node = _Cycle()
        ref = weakref.ref(node)
        gc.collect()  # a full collection: node survives it, so it is frozen right after
        del node
        gc.collect()
        assert ref() is not None  # frozen: later collections do not walk it
        assert policy.reclaim() >= 1
        assert ref() is None
        assert gc.get_freeze_count() > 0  # the survivors of the reclaim are frozen again
    finally:
        await policy.stop()
    assert gc.get_freeze_count() == 0 and not _installed()


async def test_the_app_runs_the_policy_while_it_serves(client: TestClient) -> None:
    assert _installed() and gc.get_freeze_count() > 0
    await client.close()
    assert not _installed() and gc.get_freeze_count() == 0
