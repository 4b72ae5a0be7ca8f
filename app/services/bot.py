"""The auto-reply bot (issue 11): after an inbound message commits, wait for the burst to end,
then answer once through the outbox as `{"author": {"kind": "bot"}}`.

`evaluate` is the one way a message is judged: the pipeline below and the settings page's
"try a message" box (app/web/api_bot.py) both call it. The pipeline's whole turn (read the
burst, decide, queue the reply, remember) is one db.write, so it sees exactly what committed.

Never a loop: the bot reads inbound messages only (its own replies are outbound), never those
older than its last switch-on, never a customer's opt-out words, and sends at most
MAX_REPLIES_PER_HOUR per conversation (a customer's own auto-responder could otherwise trade
keyword answers with ours forever).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

from app.clock import now_ms
from app.db import Database, Tx
from app.realtime import stream
from app.services import bot_rules, bot_store, conversations, messages, optout
from app.services.bot_config import BotSettings
from app.services.bot_rules import Answer, Facts
from app.services.messages import TenantRef
from app.services.tenants import Directory

log = logging.getLogger("condorito.bot")

DEBOUNCE = 2.5  # s of quiet that ends a burst ("hola" / "una pregunta" / "el envío?")
MAX_WAIT = 10.0  # s after a burst's first message the bot answers even if the burst goes on
MAX_BURST = 20  # messages of one burst the bot reads
MAX_REPLIES_PER_HOUR = 10  # per conversation: the loop guard
HOUR_MS = 3600 * 1000


def is_opt_out(conn: sqlite3.Connection, tenant_id: int, text: str) -> bool:
    """The customer asked to stop (the tenant's stop words, app/services/optout.py, which also
    answers them): the bot leaves the message alone."""
    return optout.is_opt_out(optout.get_words(conn, tenant_id), text)


def evaluate(settings: BotSettings, facts: Facts, text: str, now: int, *, opt_out: bool = False) -> Answer:
    """What the bot would answer; the settings page's try box and the pipeline both call this."""
    return bot_rules.decide(settings, facts, text, now, opt_out=opt_out)


class Bot:
    """Debounces inbound messages per conversation and answers each burst once."""

    def __init__(self, db: Database, tenants: Directory, touch: Callable[[int], None],
                 on_queued: Callable[[], None], debounce: float = DEBOUNCE) -> None:
        self._db = db
        self._tenants = tenants
        self._touch = touch
        self._on_queued = on_queued
        self.debounce = debounce
        self.clock: Callable[[], int] = now_ms  # the rules' clock (tests freeze it)
        self._enabled: dict[int, bool] = {}
        self._timers: dict[tuple[int, int], asyncio.TimerHandle] = {}
        self._first: dict[tuple[int, int], float] = {}
        self._tasks: set[asyncio.Task[Answer | None]] = set()
        self._closed = False

    def forget(self, tenant_id: int) -> None:
        """The tenant's settings changed: read whether it is on again at its next message."""
        self._enabled.pop(tenant_id, None)

    def pending(self, tenant_id: int, conversation_id: int) -> bool:
        """A burst is waiting for its quiet moment."""
        return (tenant_id, conversation_id) in self._timers

    def on_inbound(self, tenant_id: int, conversation_id: int) -> None:
        """A customer's message committed (called after commit, on the loop)."""
        if self._closed or self._enabled.get(tenant_id) is False:
            return
        key = (tenant_id, conversation_id)
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        first = self._first.setdefault(key, now)
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, min(self.debounce, first + MAX_WAIT - now))
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: tuple[int, int]) -> None:
        self._timers.pop(key, None)
        self._first.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._turn(*key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self, tenant_id: int, conversation_id: int) -> Answer | None:
        """Answer a pending burst now (tests; shutdown leaves pending bursts unanswered)."""
        key = (tenant_id, conversation_id)
        timer = self._timers.pop(key, None)
        self._first.pop(key, None)
        if timer is not None:
            timer.cancel()
        return await self._turn(tenant_id, conversation_id)

    async def _turn(self, tenant_id: int, conversation_id: int) -> Answer | None:
        try:
            if self._enabled.get(tenant_id) is None:
                on = await self._db.read(lambda c: bot_store.enabled_since(c, tenant_id) is not None)
                self._enabled[tenant_id] = on
            if not self._enabled[tenant_id]:
                return None
            tenant = await self._tenants.get(tenant_id)
            ref = TenantRef(tenant.id, tenant.code)
            # On the writer thread and behind requests: regex rules may read up to 1 000
            # characters each (bench/bot_rules.py: ~2 ms for 220), never on the event loop.
            return await self._db.write(lambda tx: self.respond(tx, ref, conversation_id),
                                        heavy=True, background=True)
        except Exception:
            log.exception("bot turn failed", extra={"fields": {"tenant": tenant_id,
                                                               "conversation": conversation_id}})
            return None

    def respond(self, tx: Tx, tenant: TenantRef, conversation_id: int) -> Answer | None:
        """Inside a write: answer the messages the bot has not looked at yet (one burst)."""
        since = bot_store.enabled_since(tx.conn, tenant.id)
        if since is None:
            return None
        state = bot_store.conversation_state(tx.conn, tenant.id, conversation_id)
        burst = tx.execute(
            "SELECT id, body FROM messages WHERE tenant_id = ? AND conversation_id = ?"
            " AND direction = 'in' AND id > ? AND created_at >= ? ORDER BY id LIMIT ?",
            (tenant.id, conversation_id, state["handled_through"], since, MAX_BURST),
        ).fetchall()
        if not burst:
            return None
        now = self.clock()
        state["handled_through"] = burst[-1][0]
        paused = state["paused_until"] is not None and state["paused_until"] > now
        if now - state["window_start"] >= HOUR_MS:
            state["window_start"], state["window_replies"] = now, 0
        if paused or state["window_replies"] >= MAX_REPLIES_PER_HOUR:
            bot_store.remember(tx, tenant.id, conversation_id, state)
            return None
        settings = bot_store.load_settings(tx.conn, tenant.id)
        facts = bot_store.facts(tx.conn, tenant.id, conversation_id, burst[0][0], state)
        opt_out = any(is_opt_out(tx.conn, tenant.id, body) for _, body in burst)
        answer = evaluate(settings, facts, "\n".join(body for _, body in burst), now, opt_out=opt_out)
        state = bot_store.after_answer(state, answer, now)
        changed = False
        if answer.handoff:
            state["paused_until"] = (bot_store.FOREVER if settings.pause_minutes == 0
                                     else now + settings.pause_minutes * 60_000)
            bot_store.count(tx, tenant.id, "handoff", now)
            changed = True
            if bot_store.set_attention(tx, tenant.id, conversation_id, True) and not answer.reply:
                item = conversations.get_item(tx.conn, tenant.id, conversation_id)
                stream.append(tx, tenant.id, "conversation:updated", item, key=conversation_id)
        if answer.reply:
            # One key per burst: a retried turn can never send the same answer twice.
            key = f"bot:{conversation_id}:{burst[-1][0]}"
            messages.queue_outbound(tx, tenant, conversation_id, answer.reply, idempotency_key=key,
                                    author_kind="bot")
            state["window_replies"] += 1
            bot_store.count(tx, tenant.id, "answered", now)
            changed = True
            tx.after_commit.append(self._on_queued)
            tx.after_commit.append(lambda: self._touch(tenant.id))
        bot_store.remember(tx, tenant.id, conversation_id, state)
        if changed:
            bot_store.emit_status(tx, tenant.id)
        log.info("bot turn", extra={"fields": {"tenant": tenant.id, "conversation": conversation_id,
                                               "rule": answer.rule}})
        return answer

    async def close(self) -> None:
        """Stop: pending bursts stay unanswered (the next message after a restart starts anew);
        turns already writing finish."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
