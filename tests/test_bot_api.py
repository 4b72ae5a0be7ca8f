"""Issue 11: GET/PUT /api/v1/bot, bot_status_changed, POST /api/v1/bot/try; tenant isolation."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers.actors import Actor, make_actor
from tests.helpers.frames import drain_until, is_event


async def put(actor: Actor, body: Any) -> Any:
    return await actor.client.put("/api/v1/bot", json=body, headers=actor.headers)


async def test_defaults_then_a_save_round_trips(alice: Actor) -> None:
    got = await (await alice.get("/api/v1/bot")).json()
    assert got["enabled"] is False and got["timezone"] == "UTC"
    assert got["business_hours"]["mon"] == [["09:00", "18:00"]] and got["business_hours"]["sun"] == []
    assert got["welcome_text"].startswith("¡Hola!")  # the business's language (Spanish by default)
    assert got["status"] == {"enabled": False, "answered_today": 0, "handed_off_today": 0,
                             "needs_attention": 0}
    body = {"enabled": True, "timezone": "America/Santiago",
            "business_hours": {"fri": [["22:00", "02:00"]]}, "holidays": ["2026-12-25"],
            "keywords": [{"match": "word", "pattern": "envío", "reply": "A todo Chile",
                          "menu": [{"label": "Santiago", "reply": "Mañana"}]}],
            "handoff_words": ["agente", "Humano"], "pause_minutes": 0}
    resp = await put(alice, body)
    assert resp.status == 200, await resp.text()
    saved = await (await alice.get("/api/v1/bot")).json()
    assert saved["enabled"] is True and saved["status"]["enabled"] is True
    assert saved["business_hours"]["fri"] == [["22:00", "02:00"]] and saved["business_hours"]["mon"] == []
    assert saved["keywords"] == [{"match": "word", "pattern": "envío", "reply": "A todo Chile",
                                  "menu": [{"key": "1", "label": "Santiago", "reply": "Mañana"}]}]
    assert saved["pause_minutes"] == 0 and saved["welcome_text"] == got["welcome_text"]
    # The time zone is the business's own: the tenant settings show the same.
    tenant = await (await alice.get("/api/v1/tenant")).json()
    assert tenant["timezone"] == "America/Santiago"


async def test_bad_settings_are_a_400_with_fields_and_change_nothing(alice: Actor) -> None:
    before = await (await alice.get("/api/v1/bot")).json()
    resp = await put(alice, {"enabled": True, "pause_minutes": "5",
                             "keywords": [{"match": "regex", "pattern": "(a+)\\1", "reply": "x"}],
                             "business_hours": {"mon": [["18:00", "18:00"]]}})
    assert resp.status == 400
    err = (await resp.json())["error"]
    assert err["code"] == "invalid_bot_settings"
    assert err["fields"] == {"pause_minutes": "out_of_range",
                             "keywords[0].pattern": "regex_unsupported",
                             "business_hours.mon[0]": "invalid_time"}
    assert await (await alice.get("/api/v1/bot")).json() == before
    for raw in (b"[1]", b"{nope"):
        bad = await alice.client.put("/api/v1/bot", data=raw, headers=alice.headers)
        assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_json"


async def test_agents_read_but_only_admins_change(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    assert (await agent.get("/api/v1/bot")).status == 200
    resp = await put(agent, {"enabled": True})
    assert resp.status == 403
    assert (await (await alice.get("/api/v1/bot")).json())["enabled"] is False


async def test_status_changes_reach_the_tenant_only(client: TestClient, alice: Actor, bob: Actor) -> None:
    ws_a, _ = await alice.ws()
    ws_b, _ = await bob.ws()
    assert (await put(alice, {"enabled": True})).status == 200
    frames = await drain_until(ws_a, is_event("bot_status_changed"))
    assert frames[-1]["data"]["enabled"] is True
    # B's own toggle reaches B; A's never did (B's first bot event is its own).
    assert (await put(bob, {"enabled": False})).status == 200
    b_frames = await drain_until(ws_b, is_event("bot_status_changed"))
    assert [f["data"]["enabled"] for f in b_frames if f.get("event") == "bot_status_changed"] == [False]
    assert (await (await bob.get("/api/v1/bot")).json())["enabled"] is False
    assert (await (await alice.get("/api/v1/bot")).json())["enabled"] is True
    # A's rules are A's: B's try box never answers with them.
    await put(alice, {"keywords": [{"match": "contains", "pattern": "quetzal", "reply": "solo acme"}]})
    tried = await (await bob.post("/api/v1/bot/try", {"text": "quetzal"})).json()
    assert tried["reply"] != "solo acme"


async def test_try_uses_saved_settings_or_a_draft(alice: Actor) -> None:
    await put(alice, {"business_hours": {}, "keywords": [
        {"match": "contains", "pattern": "precio", "reply": "Elige",
         "menu": [{"label": "A", "reply": "A cuesta 1"}, {"label": "B", "reply": "B cuesta 2"}]}]})
    first = await (await alice.post("/api/v1/bot/try", {"text": "Hola", "new_contact": True})).json()
    assert first["rule"] == "welcome" and first["parts"] == ["welcome"]
    menu = await (await alice.post("/api/v1/bot/try", {"text": "PRECIOS?"})).json()
    assert (menu["rule"], menu["menu"], menu["reply"]) == ("keyword", 0, "Elige\n\n1. A\n2. B")
    choice = await (await alice.post("/api/v1/bot/try", {"text": "2", "menu": menu["menu"]})).json()
    assert (choice["rule"], choice["reply"]) == ("menu", "B cuesta 2")
    draft = {"keywords": [{"match": "word", "pattern": "envio", "reply": "Borrador"}]}
    tried = await (await alice.post("/api/v1/bot/try", {"text": "¿envío?", "settings": draft})).json()
    assert tried["reply"] == "Borrador"
    saved = await (await alice.get("/api/v1/bot")).json()
    assert saved["keywords"][0]["pattern"] == "precio"  # the draft was not saved
    bad = await alice.post("/api/v1/bot/try", {"text": "x", "settings": {
        "keywords": [{"match": "regex", "pattern": "(?<=a)b", "reply": "r"}]}})
    assert bad.status == 400
    assert (await bad.json())["error"]["fields"] == {"keywords[0].pattern": "regex_unsupported"}
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "a", "menu": "1"}, {"text": "a", "settings": []}):
        resp = await alice.post("/api/v1/bot/try", body)
        assert resp.status == 400, body
