"""Opt-out: stop words, the suppression list and its REST routes, the one confirmation."""

from __future__ import annotations

from typing import Any

import pytest

from app import keys
from app.services import optout
from tests.helpers.actors import Actor, make_actor
from tests.helpers.api import assert_error, json_ok
from tests.helpers.frames import drain_until, is_event
from tests.test_webhooks import make_cloud, payload, post_hook, text

SUPP = "/api/v1/suppressions"


@pytest.mark.parametrize("message", ["BAJA", "  baja ", "Bajá", "¡Baja!", "stop.", "Cancelar 🙏", "PARAR\n"])
def test_stop_words_match_the_whole_message_ignoring_case_and_accents(message: str) -> None:
    assert optout.is_opt_out(optout.DEFAULT_WORDS, message)


@pytest.mark.parametrize("message", ["baja el precio", "no quiero parar", "", "!!!", "stopp", "ba ja"])
def test_other_messages_are_not_opt_outs(message: str) -> None:
    assert not optout.is_opt_out(optout.DEFAULT_WORDS, message)


def test_custom_words_with_accents_and_spaces() -> None:
    assert optout.is_opt_out(["No más"], "NO MAS")
    assert optout.is_opt_out(["no  más"], "no más!")
    assert not optout.is_opt_out(["No más"], "baja")


async def thread(actor: Actor, conversation_id: str) -> list[dict[str, Any]]:
    return (await json_ok(await actor.get(f"/api/v1/conversations/{conversation_id}/messages")))["items"]


async def suppressed(actor: Actor) -> list[dict[str, Any]]:
    return (await json_ok(await actor.get(SUPP)))["items"]


async def test_baja_suppresses_and_confirms_once_in_the_tenant_language(alice: Actor) -> None:
    first = await alice.inbound("56911112222", "Baja", name="Ana")
    assert [s["phone"] for s in await suppressed(alice)] == ["56911112222"]
    item = (await suppressed(alice))[0]
    assert item["source"] == "keyword" and item["name"] == "Ana"
    out = [m for m in await thread(alice, first["conversation_id"]) if m["direction"] == "out"]
    assert len(out) == 1 and out[0]["body"].startswith("Listo")
    assert out[0]["author"]["kind"] == "bot"
    # Saying it again: still on the list, no second confirmation.
    await alice.inbound("56911112222", "BAJA")
    out = [m for m in await thread(alice, first["conversation_id"]) if m["direction"] == "out"]
    assert len(out) == 1
    # A business that speaks English answers in English.
    await json_ok(await alice.client.patch("/api/v1/tenant", json={"default_lang": "en"},
                                           headers=alice.headers))
    other = await alice.inbound("56933334444", "stop")
    out = [m for m in await thread(alice, other["conversation_id"]) if m["direction"] == "out"]
    assert len(out) == 1 and out[0]["body"].startswith("Done")


async def test_an_ordinary_message_suppresses_nobody(alice: Actor) -> None:
    got = await alice.inbound("56911112222", "baja el precio por favor")
    assert await suppressed(alice) == []
    assert all(m["direction"] == "in" for m in await thread(alice, got["conversation_id"]))


async def test_the_confirmation_goes_through_the_outbox(alice: Actor) -> None:
    ws, _ = await alice.ws()
    await alice.inbound("56911112222", "PARAR")
    await drain_until(ws, is_event("message_status", lambda d: d["status"] == "failed"))
    state = await alice.client.app[keys.DB].read(lambda c: c.execute(
        "SELECT o.state, o.idempotency_key FROM outbox o WHERE o.tenant_id = ?", (alice.tenant_id,)
    ).fetchall())
    # The sandbox is not paired in this test: the send is tried and refused, not lost.
    assert [(r[0], r[1].startswith("optout:")) for r in state] == [("failed", True)]


async def test_webhook_deliveries_opt_out_too(alice: Actor) -> None:
    await make_cloud(alice, "2001")
    body = payload("2001", text("wamid.O1", "hola", sender="16505550001"),
                   text("wamid.O2", "Stop", sender="16505550002"))
    assert (await post_hook(alice, body)).status == 200
    await alice.client.app[keys.WEBHOOKS].idle()
    assert [s["phone"] for s in await suppressed(alice)] == ["16505550002"]
    # Meta redelivers: nothing new is queued.
    assert (await post_hook(alice, body)).status == 200
    await alice.client.app[keys.WEBHOOKS].idle()
    n = await alice.client.app[keys.DB].read(lambda c: c.execute(
        "SELECT COUNT(*) FROM outbox WHERE tenant_id = ?", (alice.tenant_id,)).fetchone()[0])
    assert n == 1


async def test_configured_words_replace_the_defaults(alice: Actor) -> None:
    got = await json_ok(await alice.get("/api/v1/optout"))
    assert got["words"] == ["STOP", "BAJA", "PARAR", "CANCELAR"]
    put = await alice.client.put("/api/v1/optout", json={"words": ["Chao", "CHAÓ", " no más "]},
                                 headers=alice.headers)
    assert (await json_ok(put))["words"] == ["Chao", "no más"]
    await alice.inbound("56911110001", "baja")
    await alice.inbound("56911110002", "No mas")
    assert [s["phone"] for s in await suppressed(alice)] == ["56911110002"]


@pytest.mark.parametrize("words", [[], "BAJA", [1], [""], ["!!"], ["x" * 41], ["w"] * 51])
async def test_bad_words_are_refused(alice: Actor, words: Any) -> None:
    resp = await alice.client.put("/api/v1/optout", json={"words": words}, headers=alice.headers)
    await assert_error(resp, 400, "invalid_field")
    assert (await json_ok(await alice.get("/api/v1/optout")))["words"][0] == "STOP"


async def test_agents_read_words_but_only_admins_change_them(alice: Actor) -> None:
    agent = await make_actor(alice.client, "acme", role="agent")
    await json_ok(await agent.get("/api/v1/optout"))
    resp = await agent.client.put("/api/v1/optout", json={"words": ["X"]}, headers=agent.headers)
    await assert_error(resp, 403)


async def test_agents_add_list_page_and_remove(alice: Actor) -> None:
    agent = await make_actor(alice.client, "acme", role="agent")
    for i in range(5):
        resp = await agent.post(SUPP, {"phone": f"9 8765 432{i}" if i % 2 else f"+56 9 8765 432{i}"})
        assert (await json_ok(resp, 201))["source"] == "agent"
    again = await json_ok(await agent.post(SUPP, {"phone": "56987654323"}), 200)
    assert again["phone"] == "56987654323"
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await json_ok(await agent.get(SUPP, params={"limit": "2", **({"cursor": cursor} if cursor else {})}))
        assert page["total"] == 5 and isinstance(page["seq"], int)
        seen += [s["phone"] for s in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"5698765432{i}" for i in reversed(range(5))]
    resp = await agent.client.delete(f"{SUPP}/56987654323", headers=agent.headers)
    assert resp.status == 204
    await assert_error(await agent.client.delete(f"{SUPP}/56987654323", headers=agent.headers), 404)
    assert "56987654323" not in [s["phone"] for s in await suppressed(agent)]


async def test_a_contacts_stored_phone_is_taken_as_it_is(alice: Actor) -> None:
    # 56900000002 is no Chilean number phonenumbers knows, but it is a contact's phone.
    await assert_error(await alice.post(SUPP, {"phone": "56900000002"}), 400, "invalid_phone")
    await alice.inbound("56900000002", "hola")
    assert (await json_ok(await alice.post(SUPP, {"phone": "56900000002"}), 201))["phone"] == "56900000002"


@pytest.mark.parametrize("phone", [None, 5691111, "", "abc", "123", "1" * 16, "56 9 x", "+56 2"])
async def test_bad_phones_are_refused(alice: Actor, phone: Any) -> None:
    await assert_error(await alice.post(SUPP, {"phone": phone}), 400, "invalid_phone")
    assert await suppressed(alice) == []


async def test_bad_cursor_and_limit(alice: Actor) -> None:
    await assert_error(await alice.get(SUPP, params={"cursor": "nope"}), 400, "invalid_cursor")
    await assert_error(await alice.get(SUPP, params={"limit": "0"}), 400, "invalid_limit")


async def test_lists_never_cross_tenants(alice: Actor, bob: Actor) -> None:
    await alice.inbound("56911112222", "BAJA")
    await json_ok(await alice.post(SUPP, {"phone": "56955556666"}), 201)
    assert await suppressed(bob) == []
    # Bob cannot remove Alice's entries (404 as for a phone not on his list) ...
    await assert_error(await bob.client.delete(f"{SUPP}/56955556666", headers=bob.headers), 404)
    # ... his own entry for the same phone is his alone, and so are his words.
    await json_ok(await bob.post(SUPP, {"phone": "56955556666"}), 201)
    await bob.client.put("/api/v1/optout", json={"words": ["ADIOS"]}, headers=bob.headers)
    assert (await json_ok(await alice.get("/api/v1/optout")))["words"][0] == "STOP"
    assert len(await suppressed(alice)) == 2
    assert (await json_ok(await bob.get(SUPP)))["total"] == 1
