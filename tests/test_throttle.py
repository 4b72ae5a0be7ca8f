"""Login throttling (issue 7 item 1): failures lock an (account, address) pair and an address,
never an account across addresses, so an attacker cannot lock the owner out; across addresses an
account is only slowed down, with bounded memory and a bounded number of waiting logins.

The second client address is 127.0.0.2 (all of 127/8 is loopback on Linux), so the server sees two
real peers."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app import create_app, keys
from app.auth import throttle as throttle_mod
from app.auth.throttle import LoginThrottle
from app.config import Config
from app.errors import RateLimited
from tests.helpers.actors import PASSWORD, make_actor

OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture
async def elsewhere() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from another address than the test client's."""
    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def record_pauses(client: TestClient) -> list[float]:
    """Make the app's throttle record its pauses instead of sleeping them."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    client.app[keys.THROTTLE]._sleep = sleep
    return pauses


async def attempt(session: Any, url: Any, email: str, password: str) -> aiohttp.ClientResponse:
    async with session.post(url, json={"email": email, "password": password}) as resp:
        await resp.read()
        return resp


async def test_attacker_cannot_lock_the_owner_out(client: TestClient, config: Config,
                                                  elsewhere: aiohttp.ClientSession) -> None:
    victim = await make_actor(client, "acme")
    pauses = record_pauses(client)
    url = client.make_url("/api/v1/auth/login")
    statuses = [(await attempt(elsewhere, url, victim.email, "wrong guess")).status
                for _ in range(config.login_max_failures + 2)]
    assert statuses == [401] * config.login_max_failures + [429, 429]

    # The attacker's pair stays locked, even with the right password.
    locked = await attempt(elsewhere, url, victim.email, PASSWORD)
    assert locked.status == 429 and 0 < int(locked.headers["Retry-After"]) <= config.login_window

    # The owner, from an address that did not fail, gets in: slowed down, not locked out.
    pauses.clear()
    ok = await client.post("/api/v1/auth/login", json={"email": victim.email, "password": PASSWORD})
    assert ok.status == 200, await ok.text()
    assert pauses and 0 < pauses[0] <= throttle_mod.MAX_DELAY
    # The owner's success does not unlock the attacker's pair.
    assert (await attempt(elsewhere, url, victim.email, PASSWORD)).status == 429


async def test_an_address_failing_across_accounts_is_locked(
    aiohttp_client: Any, config: Config, elsewhere: aiohttp.ClientSession,
) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(config, login_ip_max_failures=5)))
    alice = await make_actor(client, "acme")
    url = client.make_url("/api/v1/auth/login")
    for i in range(5):
        assert (await attempt(elsewhere, url, f"someone{i}@acme.test", "guess")).status == 401
    refused = await attempt(elsewhere, url, alice.email, PASSWORD)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    # Another address is not affected.
    ok = await client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert ok.status == 200


def test_accounts_are_slowed_not_locked_across_addresses() -> None:
    t = LoginThrottle(max_account=10, max_ip=50, window=900)
    delays = []
    for i in range(40):
        t.failed("Victim@acme.test", f"10.0.{i // 250}.{i % 250}", now=100.0)
        delays.append(t.delay("victim@acme.test", now=100.0))
    assert delays[: throttle_mod.DELAY_AFTER - 1] == [0.0] * (throttle_mod.DELAY_AFTER - 1)
    assert delays == sorted(delays) and delays[-1] == throttle_mod.MAX_DELAY
    assert t.retry_after("victim@acme.test", "192.0.2.1", now=100.0) == 0
    # The window forgets.
    assert t.delay("victim@acme.test", now=100.0 + 901) == 0.0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_mod, "MAX_KEYS", 30)
    t = LoginThrottle(max_account=10, max_ip=50, window=900)
    for i in range(1000):
        t.failed(f"spray{i}@x.test", f"10.1.{i // 250}.{i % 250}", now=1.0)
    assert len(t._fails) <= 30


async def test_waiting_logins_are_bounded() -> None:
    asleep = asyncio.Event()
    never = asyncio.get_running_loop().create_future()

    async def sleep(seconds: float) -> None:
        asleep.set()
        await never

    t = LoginThrottle(max_account=10, max_ip=50, window=900, base_delay=60.0, max_delay=60.0,
                      max_sleepers=1, sleep=sleep)
    for i in range(throttle_mod.DELAY_AFTER):
        t.failed("victim@acme.test", f"10.2.0.{i}")
    first = asyncio.ensure_future(t.check("victim@acme.test", "192.0.2.1"))
    await asyncio.wait_for(asleep.wait(), 5)
    assert t.sleepers == 1
    with pytest.raises(RateLimited) as refused:
        await t.check("victim@acme.test", "192.0.2.2")
    assert refused.value.extra["retry_after"] == 60
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert t.sleepers == 0
