"""The per-number send governor: token bucket, slow-down after 130429 and recovery, per-tenant
isolation, and the outbox worker holding a configured rate for every send."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from app import create_app, keys
from app.config import Config, ConfigError, load_config
from app.services import governor as gov
from app.services.governor import Governor
from app.services.outbox import BACKOFF_CAP, backoff
from tests.helpers.fake_graph import FakeGraph
from tests.test_cloud_sends import cloud_actor, conversation, send


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    g = Governor(20, clock=clock)
    burst = int(20 * gov.BURST_SECONDS)
    assert g.available(1) == burst
    assert all(g.try_take(1) for _ in range(burst))
    assert not g.try_take(1)
    assert g.wait(1) == pytest.approx(1 / 20)
    clock.t += 1 / 20
    assert g.try_take(1) and not g.try_take(1)
    # Over 10 s, no more than the rate (plus the first burst).
    taken = 0
    for _ in range(1000):
        clock.t += 0.01
        while g.try_take(1):
            taken += 1
    assert taken == pytest.approx(20 * 10, abs=1)


def test_throttle_halves_the_rate_then_recovers() -> None:
    clock = Clock()
    g = Governor(20, clock=clock)
    g.throttled(1)
    assert g.rate(1) == pytest.approx(10)
    assert g.available(1) == 0  # the bucket starts again empty
    clock.t += gov.RECOVERY / 2
    assert g.rate(1) == pytest.approx(15)
    g.throttled(1)  # a second 130429 halves from where it was
    assert g.rate(1) == pytest.approx(7.5)
    clock.t += gov.RECOVERY
    assert g.rate(1) == pytest.approx(20)
    for _ in range(20):
        g.throttled(1)
    assert g.rate(1) == gov.MIN_RATE  # never stops a number altogether


def test_tenants_have_their_own_buckets_and_overrides() -> None:
    clock = Clock()
    g = Governor(4, clock=clock)
    g.set_rate(2, 80)
    assert g.configured(1) == 4 and g.configured(2) == 80
    g.throttled(1)
    assert g.rate(2) == 80 and g.available(2) == 20  # tenant 1's 130429 does not slow tenant 2
    g.set_rate(2, None)
    assert g.configured(2) == 4


def test_unlimited() -> None:
    g = Governor(0)
    assert g.available(1) == gov.UNLIMITED_BATCH
    assert all(g.try_take(1) for _ in range(1000))
    assert g.wait(1) == 0
    g.throttled(1)
    assert g.rate(1) == 0


def test_backoff_grows_with_jitter_under_a_cap() -> None:
    for attempt in range(1, 12):
        ceiling = min(BACKOFF_CAP, 1.0 * 2 ** (attempt - 1))
        delays = {backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: retries of many sends do not line up
    assert backoff(1, min_delay=6.0) >= 6.0


def test_send_rate_setting() -> None:
    base = {"CONDORITO_DB": "x.db"}
    assert load_config(env=base).send_rate == 20.0
    assert load_config(env={**base, "CONDORITO_SEND_RATE": "0"}).send_rate == 0
    assert load_config(env={**base, "CONDORITO_SEND_RATE": "80"}).send_rate == 80
    for bad in ("-1", "fast", "inf"):
        with pytest.raises(ConfigError, match="CONDORITO_SEND_RATE"):
            load_config(env={**base, "CONDORITO_SEND_RATE": bad})


async def test_outbox_holds_the_configured_rate(aiohttp_client: Any, config: Config) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(
        config, allow_custom_api_base=True, send_rate=20)))
    rate = 4.0  # alice's own (a per-tenant override), slow enough to outlast queuing her messages
    async with FakeGraph() as graph:
        alice = await cloud_actor(client, "acme", graph, "1001")
        bob = await cloud_actor(client, "globex", graph, "2002")
        governor = client.app[keys.OUTBOX].governor
        governor.set_rate(alice.tenant_id, rate)
        conv, bob_conv = await conversation(alice), await conversation(bob)
        n = 8
        for i in range(n):
            await send(alice, conv, f"m{i}")
        await send(bob, bob_conv, "bob")
        sent = await graph.wait_accepted(n + 1)
        alice_times = [t for s, t in zip(sent, graph.seen_at, strict=True) if s.token == "tok-acme"]
        bob_at = next(t for s, t in zip(sent, graph.seen_at, strict=True) if s.token == "tok-globex")
    burst = max(1, int(rate * gov.BURST_SECONDS))
    # After the burst, one send per 1/rate s at most: the worker took a token for every send.
    assert alice_times[-1] - alice_times[0] >= (n - burst) / rate * 0.95
    # Bob's number has its own bucket: his reply did not wait behind alice's queue.
    assert bob_at < alice_times[-1]
    assert governor.configured(alice.tenant_id) == rate and governor.configured(bob.tenant_id) == 20
