"""Shared fixtures: the real app on a fresh SQLite file, and two tenants' admins.

Helpers (actors, frames, barriers, events...) live in tests/helpers/."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import create_app
from app.auth import passwords
from app.config import Config
from app.services import outbox
from tests.helpers.actors import Actor, make_actor
from tests.helpers.fake_graph import FakeGraph


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash with scrypt at a low cost; the stored format records it (production is 2^14)."""
    monkeypatch.setattr(passwords, "LOG_N", 4)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A config on a fresh database file with a random strong secret."""
    return Config(db_path=tmp_path / "condorito.db", secret=secrets.token_urlsafe(48))


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient:
    """The real application behind a test server on 127.0.0.1."""
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def alice(client: TestClient) -> Actor:
    """Admin of tenant `acme`."""
    return await make_actor(client, "acme")


@pytest.fixture
async def bob(client: TestClient) -> Actor:
    """Admin of tenant `globex` (the other tenant of every isolation test)."""
    return await make_actor(client, "globex")


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """The fake Graph API (tests/helpers/fake_graph.py) on 127.0.0.1."""
    async with FakeGraph() as g:
        yield g


STAND_IN_RATE = 1000.0  # sends/s per number on the stand-in server: a rate no test reaches


@pytest.fixture
async def stand_in(aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """A server whose operator allows a stand-in Graph API base (the fake Graph API); retries
    back off in tens of milliseconds instead of seconds."""
    monkeypatch.setattr(outbox, "BACKOFF_BASE", 0.02)
    return await aiohttp_client(create_app(dataclasses.replace(
        config, allow_custom_api_base=True, send_rate=STAND_IN_RATE)))
