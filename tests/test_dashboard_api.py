"""The dashboard's data: today's activity per hour (GET /api/v1/stats/hourly) and the page."""

from __future__ import annotations

import re

from tests.helpers.actors import Actor, make_actor


async def hourly(actor: Actor) -> dict:
    resp = await actor.get("/api/v1/stats/hourly")
    assert resp.status == 200
    return await resp.json()


async def test_hourly_counts_messages_in_and_out_of_today(alice: Actor) -> None:
    empty = await hourly(alice)
    assert len(empty["hours"]) == 24 and isinstance(empty["seq"], int)
    assert all(h["in"] == h["out"] == 0 for h in empty["hours"])
    starts = [h["start"] for h in empty["hours"]]
    assert starts == [empty["day_start"] + i * 3_600_000 for i in range(24)]
    first = await alice.inbound("56911112222", "hola")
    await alice.inbound("56911112222", "¿hay stock?")
    sent = await alice.post(f"/api/v1/conversations/{first['conversation_id']}/messages", {"body": "sí"})
    assert sent.status == 201
    data = await hourly(alice)
    assert sum(h["in"] for h in data["hours"]) == 2
    assert sum(h["out"] for h in data["hours"]) == 1
    busy = [h for h in data["hours"] if h["in"]]
    assert len(busy) == 1 and busy[0]["start"] <= (await sent.json())["created_at"] < busy[0]["start"] + 3_600_000


async def test_hourly_is_the_callers_tenant_only(alice: Actor, bob: Actor) -> None:
    await alice.inbound("56911112222", "solo de acme")
    assert sum(h["in"] for h in (await hourly(alice))["hours"]) == 1
    assert sum(h["in"] for h in (await hourly(bob))["hours"]) == 0


async def test_an_agent_sees_the_activity_too(client, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    await alice.inbound("56911112222", "hola")
    assert sum(h["in"] for h in (await hourly(agent))["hours"]) == 1


async def test_dashboard_checklist_follows_the_tenant(client, alice: Actor) -> None:
    html = await (await alice.get("/")).text()
    assert 'id="checklist"' in html
    assert re.search(r'id="check-first_message" class=""', html)
    await alice.inbound("56911112222", "hola")
    await make_actor(client, "acme", role="agent")
    html = await (await alice.get("/")).text()
    assert re.search(r'id="check-first_message" class="done"', html)
    assert re.search(r'id="check-teammate" class="done"', html)
    assert re.search(r'id="check-whatsapp" class=""', html)


async def test_dashboard_whatsapp_card_speaks_words_not_codes(alice: Actor) -> None:
    html = await (await alice.get("/?lang=es")).text()
    assert "Sin vincular" in html and 'id="wa-connect"' in html
    assert ">stopped<" not in html and ">qr_pending<" not in html


async def test_an_agent_gets_no_connect_button(client) -> None:
    agent = await make_actor(client, "acme", role="agent")
    html = await (await agent.get("/?lang=es")).text()
    assert 'id="wa-connect"' not in html and "Solo un administrador" in html
    assert 'id="checklist"' not in html
