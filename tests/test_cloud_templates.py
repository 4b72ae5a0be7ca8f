"""Templates on the Cloud API: the approved list (cached briefly, per tenant), a template send
with its parameters through the outbox, and the checks before anything is written."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.whatsapp import cloud_templates
from app.whatsapp.cloud_templates import TemplateCache, parse_templates
from tests.helpers.actors import make_actor
from tests.helpers.fake_graph import FakeGraph
from tests.test_cloud_sends import cloud_actor, conversation

ORDER_READY = "Hola {{1}}, tu pedido {{2}} está listo."


async def with_waba(actor: Any, graph: FakeGraph, waba: str) -> None:
    resp = await actor.client.put("/api/v1/whatsapp/config", json={
        "provider": "cloud", "api_base": graph.base, "waba_id": waba}, headers=actor.headers)
    assert resp.status == 200, await resp.text()


async def test_lists_the_approved_templates_of_the_tenants_account(
        stand_in: TestClient, graph: FakeGraph) -> None:
    graph.add_template("111", "order_ready", body=ORDER_READY)
    graph.add_template("111", "order_ready", language="en_US", body="Hi {{1}}, order {{2}} is ready.")
    graph.add_template("111", "draft_one", status="PENDING")
    graph.add_template("222", "globex_only", body="Hola")
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    bob = await cloud_actor(stand_in, "globex", graph, "2002")
    await with_waba(alice, graph, "111")
    await with_waba(bob, graph, "222")
    agent = await make_actor(stand_in, "acme", role="agent", email="agent@acme.test")
    resp = await agent.get("/api/v1/whatsapp/templates")
    assert resp.status == 200, await resp.text()
    items = (await resp.json())["items"]
    assert items == [
        {"name": "order_ready", "language": "en_US", "category": "UTILITY",
         "body": "Hi {{1}}, order {{2}} is ready.", "params": 2},
        {"name": "order_ready", "language": "es", "category": "UTILITY", "body": ORDER_READY,
         "params": 2},
    ]
    assert graph.tokens[-1] == "tok-acme"
    # Cached: a second look does not ask Meta again.
    await alice.get("/api/v1/whatsapp/templates")
    assert graph.template_requests == 1
    bob_items = (await (await bob.get("/api/v1/whatsapp/templates")).json())["items"]
    assert [t["name"] for t in bob_items] == ["globex_only"]
    assert graph.tokens[-1] == "tok-globex"


async def test_templates_need_cloud_and_a_waba(stand_in: TestClient, graph: FakeGraph) -> None:
    sandbox = await make_actor(stand_in, "initech")
    resp = await sandbox.get("/api/v1/whatsapp/templates")
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "templates_unavailable"
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    resp = await alice.get("/api/v1/whatsapp/templates")
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "waba_id_missing"
    await with_waba(alice, graph, "111")
    graph.token = "not-alices"  # Meta refuses the token: 502 with Meta's code, not a 500
    resp = await alice.get("/api/v1/whatsapp/templates")
    assert resp.status == 502 and (await resp.json())["error"]["code"] == "wa_190"


async def test_template_send_carries_its_parameters(stand_in: TestClient, graph: FakeGraph) -> None:
    graph.add_template("111", "order_ready", body=ORDER_READY)
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    await with_waba(alice, graph, "111")
    conv = await conversation(alice)
    # The list item says when the customer last wrote (the composer's 24-hour window).
    item = await (await alice.get(f"/api/v1/conversations/{conv}")).json()
    assert isinstance(item["last_inbound_at"], int) and item["last_inbound_at"] > 0
    resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"template": {
        "name": "order_ready", "language": "es", "params": ["Ana", "#1234"]}})
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["type"] == "template"
    assert message["body"] == "Hola Ana, tu pedido #1234 está listo."  # what the thread shows
    [sent] = await graph.wait_accepted(1)
    assert sent.payload["type"] == "template"
    assert sent.payload["template"] == {
        "name": "order_ready", "language": {"code": "es"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                                        {"type": "text", "text": "#1234"}]}]}
    assert "text" not in sent.payload


@pytest.mark.parametrize(("template", "code"), [
    ({"name": "order_ready", "language": "es", "params": ["Ana"]}, "template_params"),
    ({"name": "nope", "language": "es", "params": []}, "unknown_template"),
    ({"name": "order_ready", "language": "fr", "params": ["a", "b"]}, "unknown_template"),
    ({"name": "Order Ready", "language": "es"}, "invalid_template"),
    ({"name": "order_ready", "language": "es", "params": ["a", ""]}, "invalid_template"),
    ({"name": "order_ready", "language": "es", "params": "a,b"}, "invalid_template"),
    ("order_ready", "invalid_template"),
])
async def test_bad_template_sends_write_nothing(stand_in: TestClient, graph: FakeGraph,
                                               template: Any, code: str) -> None:
    graph.add_template("111", "order_ready", body=ORDER_READY)
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    await with_waba(alice, graph, "111")
    conv = await conversation(alice)
    resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"template": template})
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    items = (await (await alice.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]
    assert len(items) == 1 and graph.requests == 0


async def test_another_tenants_template_is_unknown(stand_in: TestClient, graph: FakeGraph) -> None:
    graph.add_template("222", "globex_only", body="Hola {{1}}")
    alice = await cloud_actor(stand_in, "acme", graph, "1001")
    await with_waba(alice, graph, "111")
    conv = await conversation(alice)
    resp = await alice.post(f"/api/v1/conversations/{conv}/messages", {"template": {
        "name": "globex_only", "language": "es", "params": ["x"]}})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "unknown_template"


async def test_cache_expires() -> None:
    now = [0.0]
    calls = []

    async def fetch(tenant_id: int) -> list[Any]:
        calls.append(tenant_id)
        return []

    cache = TemplateCache(fetch, clock=lambda: now[0])
    await cache.get(1)
    await cache.get(1)
    await cache.get(2)
    assert calls == [1, 2]
    now[0] += cloud_templates.CACHE_SECONDS
    await cache.get(1)
    assert calls == [1, 2, 1]
    cache.forget(2)
    await cache.get(2)
    assert calls == [1, 2, 1, 2]


def test_parse_and_render() -> None:
    data = {"data": [
        {"name": "a", "language": "es", "status": "APPROVED", "category": "MARKETING",
         "components": [{"type": "HEADER", "text": "x"}, {"type": "BODY", "text": "{{2}} y {{1}}"}]},
        {"name": "b", "language": "es", "status": "REJECTED", "components": [{"type": "BODY", "text": "x"}]},
        {"name": "c", "language": "es", "status": "APPROVED", "components": []},
        "junk",
    ]}
    [a] = parse_templates(data)
    assert a.params == 2 and a.render(["uno", "dos"]) == "dos y uno"
    assert parse_templates({"error": {}}) == [] and parse_templates(None) == []
