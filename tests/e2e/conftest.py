"""Browser tests: one headless Chromium for the session, driven by async Playwright.

Browser, page and live server share pytest-asyncio's session loop (reference recipe §3).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import expect

from app import create_app, keys
from app.auth import passwords, users
from app.config import Config
from app.services import tenants

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # No DNS at all (the machine has no network); loopback stays reachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
PASSWORD = "correct horse battery"

# Playwright's 5 s default for `expect` is tight on a 2-core box running Chromium, the server
# and the suite at once; a passing check returns as soon as it holds, so only a failure waits
# longer. Checks with a promise of their own ("within 1 s") pass their own timeout.
expect.set_options(timeout=10_000)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[object]:
    """One Chromium for the whole session; a missing browser fails in CI, skips elsewhere."""
    if not os.access(CHROMIUM, os.X_OK):
        msg = f"{CHROMIUM} missing: apt-get install -y --no-install-recommends chromium"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: object) -> AsyncIterator[object]:
    """A fresh context (cookies, storage) per test."""
    ctx = await browser.new_context(locale="es-CL")  # type: ignore[attr-defined]
    pg = await ctx.new_page()
    yield pg
    await ctx.close()


@dataclass
class Live:
    """A running server with one tenant and its admin."""

    server: TestServer
    base: str
    email: str
    tenant_id: int

    @property
    def app(self):
        return self.server.app


@pytest_asyncio.fixture(loop_scope="session")
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    """The real app on 127.0.0.1 with tenant `acme` and an admin."""
    monkeypatch.setattr(passwords, "LOG_N", 4)
    config = Config(db_path=tmp_path / "e2e.db", secret=secrets.token_urlsafe(48))
    server = TestServer(create_app(config), host="127.0.0.1", port=0)
    await server.start_server()
    db = server.app[keys.DB]
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme"))
    email = "admin@acme.test"
    pw_hash = passwords.hash_password(PASSWORD)
    await db.write(lambda tx: users.create_user(tx, tenant.id, email, "Ana Admin", "admin", pw_hash))
    yield Live(server, str(server.make_url("")).rstrip("/"), email, tenant.id)
    await server.close()
