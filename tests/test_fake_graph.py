"""The fake Graph API answers like Meta's docs: the other Cloud API tests rely on these shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.helpers.fake_graph import FakeGraph

TOKEN = "tok"
SEND = {"messaging_product": "whatsapp", "to": "16505551234", "type": "text", "text": {"body": "hi"}}


async def post(session: aiohttp.ClientSession, graph: FakeGraph, body: Any,
               token: str = TOKEN) -> tuple[int, Any]:
    async with session.post(f"{graph.base}/1001/messages", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_accepts_counts_and_records_the_token() -> None:
    async with FakeGraph() as graph, aiohttp.ClientSession() as session:
        status, body = await post(session, graph, SEND, token="secret-1")
        assert status == 200
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"] == [{"input": "16505551234", "wa_id": "16505551234"}]
        wamid = body["messages"][0]["id"]
        assert wamid.startswith("wamid.")
        assert [(s.wamid, s.phone_number_id, s.token) for s in graph.accepted] == \
            [(wamid, "1001", "secret-1")]
        assert graph.tokens == ["secret-1"]
        # Each accepted send has its own id.
        _, again = await post(session, graph, SEND)
        assert again["messages"][0]["id"] != wamid


async def test_scripted_errors_have_meta_shape_then_success() -> None:
    async with FakeGraph() as graph, aiohttp.ClientSession() as session:
        graph.throttle()
        graph.fail(190)
        graph.fail(131047, subcode=2388001)
        graph.fail(None, http_status=503)
        status, body = await post(session, graph, SEND)
        assert status == 400
        err = body["error"]
        assert err["code"] == 130429 and err["type"] == "OAuthException"
        assert err["fbtrace_id"] and err["error_data"]["messaging_product"] == "whatsapp"
        assert (await post(session, graph, SEND))[0] == 401
        status, body = await post(session, graph, SEND)
        assert (status, body["error"]["code"], body["error"]["error_subcode"]) == (400, 131047, 2388001)
        async with session.post(f"{graph.base}/1001/messages", json=SEND) as resp:
            assert resp.status == 503  # a bare 5xx, no JSON
        assert graph.accepted == []  # none of the failures counted as a send
        assert (await post(session, graph, SEND))[0] == 200
        assert len(graph.accepted) == 1


async def test_wrong_token_is_190_and_mark_read_is_not_a_send() -> None:
    async with FakeGraph(token="good") as graph, aiohttp.ClientSession() as session:
        status, body = await post(session, graph, SEND, token="bad")
        assert (status, body["error"]["code"]) == (401, 190)
        read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}
        assert await post(session, graph, read, token="good") == (200, {"success": True})
        assert graph.reads == [read] and graph.accepted == []


async def test_hold_counts_the_send_before_answering() -> None:
    async with FakeGraph() as graph, aiohttp.ClientSession() as session:
        graph.hold()
        call = asyncio.ensure_future(post(session, graph, SEND))
        await graph.wait_accepted(1)
        assert not call.done()  # accepted at Meta, answer not back yet
        graph.release()
        status, _ = await call
        assert status == 200


async def test_templates_listed_per_account() -> None:
    async with FakeGraph() as graph, aiohttp.ClientSession() as session:
        graph.add_template("waba1", "order_ready")
        graph.add_template("waba1", "draft", status="PENDING")
        graph.add_template("waba2", "other")
        async with session.get(f"{graph.base}/waba1/message_templates",
                               params={"status": "APPROVED"}) as resp:
            body = await resp.json()
        assert [t["name"] for t in body["data"]] == ["order_ready"]
        assert body["data"][0]["components"][0]["type"] == "BODY"
