"""GET /metrics and GET /healthz: counters move by what happened, access rules, counts only."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import create_app, keys
from app.config import Config
from app.services import health
from app.web import ops
from tests.helpers.actors import Actor
from tests.helpers.frames import next_event
from tests.test_webhooks import make_cloud, payload, post_hook, text

_SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$')


def parse(exposition: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample of a Prometheus text exposition."""
    out: dict[str, float] = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            match = _SAMPLE.match(line)
            assert match, line
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


async def scrape(client: TestClient, **headers: str) -> dict[str, float]:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await resp.text())


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_counters_move_by_the_traffic(alice: Actor, bob: Actor) -> None:
    client = alice.client
    await make_cloud(alice, "1001")
    ws, _ = await alice.ws()
    before = await scrape(client)
    assert before["condorito_ws_connections"] == 1

    # 3 signed deliveries (3 new messages) and 1 forged one; 2 sandbox messages for bob.
    for i in range(3):
        assert (await post_hook(alice, payload("1001", text(f"wamid.M{i}", "hola")))).status == 200
    assert (await post_hook(alice, payload("1001", text("wamid.X", "x")), secret="forged")).status == 401
    for phone in ("56911110001", "56911110002"):
        await bob.inbound(phone)
    await client.app[keys.WEBHOOKS].idle()
    for _ in range(3):
        await next_event(ws, "new_message")
    # A reply while the sandbox is not paired: the send fails with a code.
    conv = (await (await bob.get("/api/v1/conversations")).json())["items"][0]["id"]
    bob_ws, _ = await bob.ws()
    sent = await bob.post(f"/api/v1/conversations/{conv}/messages", {"body": "hola"})
    assert sent.status in (201, 202), await sent.text()
    await next_event(bob_ws, "message_status")
    # The bulk runner reports recipients through the shared instrument.
    client.app[keys.METRICS].bulk_recipient("sent", 4)
    # One socket cut for being slow.
    slow = next(c for c in client.app[keys.HUB].tenant_connections(bob.tenant_id))
    slow.fail_slow()
    after = await scrape(client)

    assert moved(before, after, 'condorito_webhook_requests_total{status="200"}') == 3
    assert moved(before, after, 'condorito_webhook_requests_total{status="401"}') == 1
    assert moved(before, after, "condorito_webhook_seconds_count") == 4
    # 3 webhooks + 2 sandbox messages in, 1 reply out.
    assert moved(before, after, 'condorito_events_published_total{name="message:new"}') == 6
    assert moved(before, after, 'condorito_send_errors_total{code="whatsapp_not_connected"}') == 1
    assert moved(before, after, 'condorito_bulk_recipients_total{outcome="sent"}') == 4
    assert moved(before, after, 'condorito_ws_server_closes_total{reason="slow_consumer"}') == 1
    assert after["condorito_outbox_depth"] == 0
    assert after['condorito_whatsapp_links{provider="cloud",state="stopped"}'] == 1
    assert after['condorito_whatsapp_links{provider="sandbox",state="stopped"}'] == 1
    # Every committed batch is timed and sized exactly once.
    assert moved(before, after, "condorito_sqlite_write_batches_total") > 0
    assert after["condorito_sqlite_write_seconds_count"] == after["condorito_sqlite_write_batches_total"]
    assert after["condorito_sqlite_write_batch_size_sum"] == after["condorito_sqlite_write_jobs_total"]
    # Counts only: no tenant, user, phone or text reaches the exposition.
    body = await (await client.get("/metrics")).text()
    for secret in ("acme", "globex", "56911110001", "hola", alice.email, "tok-acme"):
        assert secret not in body


async def test_open_sockets_long_polls_and_queue_depth(alice: Actor,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = alice.client
    await alice.ws()
    await alice.ws()
    hub = client.app[keys.HUB]
    parked = asyncio.Event()
    park = hub.park

    def park_and_tell(principal: Any) -> Any:
        waiter = park(principal)
        parked.set()
        return waiter

    monkeypatch.setattr(hub, "park", park_and_tell)
    start = await (await alice.get("/api/v1/events")).json()
    poll = asyncio.ensure_future(alice.get("/api/v1/events", params={
        "since": str(start["head"]), "epoch": start["epoch"], "timeout": "20"}))
    await asyncio.wait_for(parked.wait(), 10)
    conn = next(iter(hub.tenant_connections(alice.tenant_id)))
    conn.pending.extend([b"x"] * 7)  # frames the kernel has not taken yet
    figures = await scrape(client)
    conn.pending.clear()
    assert figures["condorito_ws_connections"] == 2
    assert figures["condorito_longpolls"] == 1
    assert figures["condorito_ws_queue_depth_max"] == 7
    hub.release_polls()
    assert (await poll).status == 200
    assert (await scrape(client))["condorito_longpolls"] == 0


async def test_metrics_local_only_without_a_token(client: TestClient) -> None:
    await scrape(client)
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        resp = await client.get("/metrics", headers=header)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"


async def test_metrics_token(aiohttp_client: Any, config: Config) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(config, metrics_token="m-" + "k" * 30)))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic m-" + "k" * 30}):
        resp = await client.get("/metrics", headers=headers)
        assert resp.status == 401, headers
        assert (await resp.json())["error"]["code"] == "unauthorized"
    # With the token even a proxied request is served.
    await scrape(client, Authorization="Bearer m-" + "k" * 30, **{"X-Forwarded-For": "203.0.113.9"})


async def test_healthz(alice: Actor, bob: Actor) -> None:
    client = alice.client
    await make_cloud(alice, "1001")
    resp = await client.get("/healthz")  # no login
    assert resp.status == 200
    report = await resp.json()
    assert report["status"] == "ok" and report["database"]["writable"] is True
    assert report["whatsapp"] == {"cloud": {"stopped": 1}, "sandbox": {"stopped": 1}}
    text_ = await resp.text()
    for secret in ("acme", "globex", alice.email, "1001", "tok-acme"):
        assert secret not in text_
    # The probe really wrote.
    probed = sqlite3.connect(client.app[keys.CONFIG].db_path)
    try:
        assert probed.execute("SELECT COUNT(*) FROM health_probe").fetchone()[0] == 1
    finally:
        probed.close()


async def test_healthz_is_503_while_the_database_takes_no_write(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "PROBE_TIMEOUT", 0.3)
    monkeypatch.setattr(ops, "PROBE_EVERY", 0.0)
    assert (await client.get("/healthz")).status == 200
    # Another process holds the write lock (a stuck job, a full disk look the same from here).
    other = sqlite3.connect(client.app[keys.CONFIG].db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        resp = await client.get("/healthz")
        assert resp.status == 503
        report = await resp.json()
        assert report["status"] == "unhealthy" and report["database"]["writable"] is False
    finally:
        other.execute("ROLLBACK")
        other.close()
    # The probe write waiting behind the lock goes through once it is released; healthy again.
    for _ in range(50):
        if (await client.get("/healthz")).status == 200:
            break
    else:
        pytest.fail("/healthz did not recover")


async def test_healthz_shares_one_probe_between_callers(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    probe = health.probe

    def counted(tx: Any) -> None:
        writes.append(1)
        probe(tx)

    monkeypatch.setattr(health, "probe", counted)
    answers = await asyncio.gather(*(client.get("/healthz") for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20
    assert len(writes) == 1  # one write for twenty checks within a second
