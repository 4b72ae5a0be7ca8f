"""Issue 11: the bot answering real inbound messages through the outbox, hand-off, no loops.

Bursts wait `bot.debounce` seconds; most tests set it long and call `bot.flush` (the same turn
the timer runs), so nothing here sleeps. The rules' clock is frozen through `bot.clock`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.clock import now_ms
from app.services.bot import MAX_REPLIES_PER_HOUR, Bot
from tests.helpers.actors import Actor
from tests.helpers.frames import drain_until, is_event

TZ = "America/Santiago"
RULES: dict[str, Any] = {
    "enabled": True, "timezone": TZ,
    "business_hours": {d: [["09:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "welcome_text": "Bienvenido", "away_text": "Cerrado", "fallback_text": "Ya te atienden",
    "handoff_text": "Te paso con una persona", "pause_minutes": 30,
    "keywords": [
        {"match": "word", "pattern": "envío", "reply": "Enviamos a todo Chile"},
        {"match": "contains", "pattern": "precio", "reply": "Elige",
         "menu": [{"label": "Poleras", "reply": "Poleras $10"}, {"label": "Gorros", "reply": "Gorros $5"}]},
    ],
}
MONDAY_10 = int(datetime(2026, 12, 7, 10, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)
SUNDAY_10 = int(datetime(2026, 12, 13, 10, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)


@pytest.fixture
def bot(client: TestClient) -> Bot:
    b = client.app[keys.BOT]
    b.debounce = 3600.0  # bursts end when a test says so (flush)
    b.clock = lambda: MONDAY_10
    return b


async def enable(actor: Actor, **changes: Any) -> None:
    resp = await actor.client.put("/api/v1/bot", json={**RULES, **changes}, headers=actor.headers)
    assert resp.status == 200, await resp.text()


async def thread(actor: Actor, conv: str) -> list[tuple[str, str]]:
    """(author kind, body) of every message of a conversation, oldest first."""
    items = (await (await actor.get(f"/api/v1/conversations/{conv}/messages")).json())["items"]
    return [(m["author"]["kind"], m["body"]) for m in items]


async def say(actor: Actor, bot: Bot, body: str, phone: str = "56911112222") -> str:
    """A customer's message, then the end of its burst; returns the conversation id."""
    conv = (await actor.inbound(phone=phone, body=body))["conversation_id"]
    await bot.flush(actor.tenant_id, int(conv))
    return conv


async def test_welcome_once_then_keywords_through_the_outbox(client: TestClient, alice: Actor,
                                                             bot: Bot) -> None:
    await enable(alice)
    ws, _ = await alice.ws()
    conv = await say(alice, bot, "hola")
    frames = await drain_until(ws, is_event("new_message", lambda d: d["message"]["direction"] == "out"))
    reply = frames[-1]["data"]["message"]
    assert reply["author"] == {"kind": "bot"} and reply["body"] == "Bienvenido"
    await say(alice, bot, "hola de nuevo")  # no second welcome: the fallback answers
    await say(alice, bot, "¿Hacen ENVIO?")
    assert await thread(alice, conv) == [
        ("contact", "hola"), ("bot", "Bienvenido"), ("contact", "hola de nuevo"),
        ("bot", "Ya te atienden"), ("contact", "¿Hacen ENVIO?"), ("bot", "Enviamos a todo Chile")]
    # Every bot answer went through the outbox like an agent's, one row each.
    rows = await client.app[keys.DB].read(lambda c: c.execute(
        "SELECT COUNT(*) FROM outbox o JOIN messages m ON m.id = o.message_id"
        " WHERE o.tenant_id = ? AND m.author_kind = 'bot'", (alice.tenant_id,)).fetchone()[0])
    assert rows == 3
    status = (await (await alice.get("/api/v1/bot")).json())["status"]
    assert status["answered_today"] == 3


async def test_a_burst_gets_one_answer(alice: Actor, bot: Bot) -> None:
    await enable(alice, welcome_text="")
    first = await alice.inbound(body="hola")
    conv = int(first["conversation_id"])
    await alice.inbound(body="una pregunta")
    await alice.inbound(body="cuánto sale el envío?")
    assert bot.pending(alice.tenant_id, conv)
    answer = await bot.flush(alice.tenant_id, conv)
    assert answer is not None and answer.rule == "keyword"  # the whole burst was read
    assert await bot.flush(alice.tenant_id, conv) is None  # nothing left to answer
    assert [k for k, _ in await thread(alice, str(conv))] == ["contact"] * 3 + ["bot"]


async def test_the_timer_ends_a_burst_by_itself(alice: Actor, bot: Bot) -> None:
    await enable(alice)
    bot.debounce = 0.05
    ws, _ = await alice.ws()
    await alice.inbound(body="uno")
    await alice.inbound(body="dos")
    frames = await drain_until(ws, is_event("new_message", lambda d: d["message"]["direction"] == "out"))
    assert frames[-1]["data"]["message"]["body"] == "Bienvenido"


async def test_out_of_hours_by_the_tenants_clock(alice: Actor, bot: Bot) -> None:
    await enable(alice)
    bot.clock = lambda: SUNDAY_10
    conv = await say(alice, bot, "hola", phone="56900000001")
    assert (await thread(alice, conv))[-1] == ("bot", "Bienvenido\n\nCerrado")
    await say(alice, bot, "hay alguien?", phone="56900000001")  # away only once per window
    assert len(await thread(alice, conv)) == 3


async def test_menu_navigation(alice: Actor, bot: Bot) -> None:
    await enable(alice, welcome_text="")
    conv = await say(alice, bot, "precios")
    await say(alice, bot, "2")
    await say(alice, bot, "1")
    assert [b for k, b in await thread(alice, conv) if k == "bot"] == [
        "Elige\n\n1. Poleras\n2. Gorros", "Gorros $5", "Poleras $10"]


async def test_an_agent_reply_pauses_the_bot_until_the_pause_ends(alice: Actor, bot: Bot) -> None:
    await enable(alice, welcome_text="", business_hours={})  # the real clock: always open
    conv = await say(alice, bot, "envío?")
    sent = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "Hola, soy Ana"})
    assert sent.status == 201
    real_now = now_ms()
    bot.clock = lambda: real_now + 29 * 60_000  # within pause_minutes (30)
    await say(alice, bot, "y el envío a Arica?")
    assert (await thread(alice, conv))[-1] == ("contact", "y el envío a Arica?")
    bot.clock = lambda: real_now + 31 * 60_000
    await say(alice, bot, "envío a Arica?")
    assert (await thread(alice, conv))[-1] == ("bot", "Enviamos a todo Chile")


async def test_asking_for_a_person_needs_attention_until_an_agent_answers(alice: Actor, bot: Bot) -> None:
    await enable(alice, welcome_text="")
    ws, _ = await alice.ws()
    conv = await say(alice, bot, "quiero hablar con un HUMANO")
    frames = await drain_until(ws, is_event("conversation_updated", lambda d: d["needs_attention"]))
    assert frames[-1]["data"]["id"] == conv
    assert (await thread(alice, conv))[-1] == ("bot", "Te paso con una persona")
    listed = (await (await alice.get("/api/v1/conversations")).json())["items"]
    assert [c["needs_attention"] for c in listed] == [True]
    status = (await (await alice.get("/api/v1/bot")).json())["status"]
    assert (status["needs_attention"], status["handed_off_today"]) == (1, 1)
    await say(alice, bot, "envío?")  # the bot stays quiet: a person is coming
    assert (await thread(alice, conv))[-1] == ("contact", "envío?")
    await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": "Aquí Ana"})
    await drain_until(ws, is_event("conversation_updated", lambda d: not d["needs_attention"]))
    assert (await (await alice.get("/api/v1/bot")).json())["status"]["needs_attention"] == 0


async def test_never_old_messages_never_opt_out_never_a_loop(alice: Actor, bot: Bot) -> None:
    conv = (await alice.inbound(body="envío? (antes de encender el bot)"))["conversation_id"]
    await enable(alice, welcome_text="", fallback_text="")
    assert await bot.flush(alice.tenant_id, int(conv)) is None  # older than the bot's start
    # Stop words: the opt-out service confirms (app/services/optout.py); the bot adds nothing.
    await alice.inbound(body="¡BAJA!")
    answer = await bot.flush(alice.tenant_id, int(conv))
    assert answer is not None and (answer.rule, answer.reply) == ("opt_out", None)
    assert [b for _, b in await thread(alice, conv)].count("¡BAJA!") == 1
    # A customer's auto-responder repeating a keyword: the bot stops after its hourly budget.
    other = await say(alice, bot, "envío", phone="56922223333")
    for _ in range(MAX_REPLIES_PER_HOUR + 2):
        await say(alice, bot, "envío", phone="56922223333")
    bot_replies = [k for k, _ in await thread(alice, other)].count("bot")
    assert bot_replies == MAX_REPLIES_PER_HOUR


async def test_off_means_silent_and_other_tenants_are_untouched(alice: Actor, bob: Actor,
                                                                 bot: Bot) -> None:
    await enable(alice)
    conv_b = await say(bob, bot, "envío?", phone="56977777771")  # globex never enabled its bot
    assert await thread(bob, conv_b) == [("contact", "envío?")]
    await enable(alice, enabled=False)
    conv_a = await say(alice, bot, "envío?")
    assert await thread(alice, conv_a) == [("contact", "envío?")]


async def test_the_try_box_answers_as_the_pipeline(alice: Actor, bot: Bot) -> None:
    await enable(alice, business_hours={})
    bot.clock = now_ms  # the try box answers "now"
    texts = ["hola", "¿Hacen envío?", "precio", "nada que ver", "humano por favor"]
    for i, text in enumerate(texts):
        phone = f"5690000010{i}"
        for new_contact in (True, False):
            if not new_contact:
                await alice.inbound(phone=phone, body="primer mensaje")
                await bot.flush(alice.tenant_id, int((await alice.inbound(phone=phone, body="x"))
                                                     ["conversation_id"]))
            tried = await (await alice.post("/api/v1/bot/try", {"text": text,
                                                                 "new_contact": new_contact})).json()
            conv = await say(alice, bot, text, phone=phone if not new_contact else phone + "9")
            last = (await thread(alice, conv))[-1]
            expected = ("bot", tried["reply"]) if tried["reply"] else ("contact", text)
            assert last == expected, (text, new_contact, tried)
