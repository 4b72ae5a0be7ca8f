"""Start-up and shut-down of the whole application (app/server.py's cleanup contexts)."""

from __future__ import annotations

import threading
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import keys
from app.config import Config
from app.server import create_app
from app.services.outbox import OutboxWorker


def _threads() -> dict[int, str]:
    return {t.ident or 0: t.name for t in threading.enumerate() if t.is_alive()}


async def test_a_resource_failing_to_start_closes_those_started_before_it(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox (late in the order) fails: the database's threads, the HTTP session and the
    sandbox are closed by the runner's cleanup, as run_app does, and no thread is left."""
    sessions: list[aiohttp.ClientSession] = []

    real_session = aiohttp.ClientSession

    def recorded(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        sessions.append(real_session(*args, **kwargs))
        return sessions[-1]

    async def refuse(self: OutboxWorker) -> None:
        raise RuntimeError("outbox cannot start")

    monkeypatch.setattr(aiohttp, "ClientSession", recorded)
    monkeypatch.setattr(OutboxWorker, "start", refuse)
    before = _threads()
    app = create_app(config)
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="outbox cannot start"):
        await runner.setup()
    db = app[keys.DB]
    started = {n: t for n, t in _threads().items() if n not in before}
    assert any(name.startswith("db-") for name in started.values())  # the writer was running

    await runner.cleanup()

    assert len(sessions) == 1 and sessions[0].closed
    leaked = {n: t for n, t in _threads().items() if n not in before}
    assert leaked == {}, leaked
    with pytest.raises(AssertionError, match="database not open"):
        await db.write(lambda tx: None)
    assert keys.WEBHOOKS not in app  # resources after the failing one never started


async def test_every_resource_starts_and_closes_in_order(config: Config) -> None:
    """A normal start and stop: every worker is reachable while running; nothing is left after."""
    before = _threads()
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        for key in (keys.DB, keys.HUB, keys.HEARTBEAT, keys.AUTH, keys.STATS, keys.SEARCH,
                    keys.INBOX, keys.HTTP, keys.PROVIDERS, keys.OUTBOX, keys.WEBHOOKS):
            assert key in app, key
        assert await app[keys.DB].write(lambda tx: tx.execute("SELECT 1").fetchone()[0]) == 1
        http = app[keys.HTTP]
    finally:
        await runner.cleanup()
    assert http.closed
    assert {n: t for n, t in _threads().items() if n not in before} == {}
