"""GET /api/v1/events: the same stream as /ws, over long-polling (PROTOCOL §4 point 7)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from app import create_app, keys
from app.config import Config
from app.realtime import const
from tests.helpers.actors import Actor, make_actor
from tests.helpers.frames import barrier, events, next_event
from tests.helpers.security import ParkSignal, poll_while_parked, stream_position
from tests.helpers.stream import append_events, hook_reads, prune, stream_state

WAIT = 5.0  # a woken poll must answer well before this; its own timeout is far longer


async def _poll(actor: Actor, **query: Any) -> tuple[int, dict[str, Any]]:
    resp = await actor.get("/api/v1/events", params={k: str(v) for k, v in query.items()})
    return resp.status, await resp.json()


def _signal_waiting_polls(monkeypatch: pytest.MonkeyPatch, actor: Actor) -> asyncio.Queue[None]:
    """A queue that gets one item each time a poll has read the log and found nothing new."""
    parked: asyncio.Queue[None] = asyncio.Queue()

    def after(result: Any) -> None:
        if getattr(result, "frames", None) == [] and getattr(result, "more", None) is False:
            parked.put_nowait(None)

    hook_reads(monkeypatch, actor.client.app[keys.DB], after=after)
    return parked


async def test_without_since_starts_at_head(alice: Actor) -> None:
    await append_events(alice.client, alice.tenant_id, 2)
    state = await stream_state(alice.client, alice.tenant_id)
    status, body = await _poll(alice)
    assert status == 200
    assert body["epoch"] == state.epoch
    assert (body["events"], body["next"], body["head"], body["more"]) == ([], state.head, state.head, False)


async def test_behind_answers_at_once_with_ws_shaped_frames(alice: Actor) -> None:
    ws, welcome = await alice.ws()
    seqs = await append_events(alice.client, alice.tenant_id, 3)
    live = [await next_event(ws) for _ in seqs]
    status, body = await asyncio.wait_for(
        _poll(alice, since=welcome["head"], epoch=welcome["epoch"], timeout=30), WAIT)
    assert status == 200
    assert body["events"] == live
    assert [e["seq"] for e in body["events"]] == seqs
    assert (body["next"], body["head"], body["more"]) == (seqs[-1], seqs[-1], False)


async def test_more_splits_a_long_backlog(alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(const, "POLL_MAX_EVENTS", 2)
    start = await stream_state(alice.client, alice.tenant_id)
    seqs = await append_events(alice.client, alice.tenant_id, 5)
    got: list[int] = []
    since = start.head
    answers = []
    while True:
        status, body = await _poll(alice, since=since, epoch=start.epoch, timeout=0)
        assert status == 200 and body["head"] == seqs[-1]
        answers.append((len(body["events"]), body["more"]))
        got += [e["seq"] for e in body["events"]]
        assert body["next"] == got[-1]
        since = body["next"]
        if not body["more"]:
            break
    assert answers == [(2, True), (2, True), (1, False)]
    assert got == seqs


async def test_latest_wins_rows_are_polled_once(alice: Actor) -> None:
    start = await stream_state(alice.client, alice.tenant_id)
    await append_events(alice.client, alice.tenant_id, 3, name="conversation:updated", key=7)
    status, body = await _poll(alice, since=start.head, epoch=start.epoch)
    assert status == 200
    assert [(e["event"], e["data"]) for e in body["events"]] == [("conversation_updated", {"i": 2})]
    assert body["next"] == body["head"] == start.head + 3


async def test_nothing_new_waits_then_answers_empty(alice: Actor) -> None:
    state = await stream_state(alice.client, alice.tenant_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await _poll(alice, since=state.head, epoch=state.epoch, timeout=1)
    assert loop.time() - started >= 0.9
    assert status == 200
    assert (body["events"], body["next"], body["head"], body["more"]) == ([], state.head, state.head, False)


async def test_waiting_poll_is_woken_by_an_inbound(
    alice: Actor, bob: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    parked = _signal_waiting_polls(monkeypatch, alice)
    state = await stream_state(alice.client, alice.tenant_id)
    theirs = await stream_state(alice.client, bob.tenant_id)
    poll = asyncio.ensure_future(_poll(alice, since=state.head, epoch=state.epoch, timeout=50))
    other = asyncio.ensure_future(_poll(bob, since=theirs.head, epoch=theirs.epoch, timeout=50))
    await asyncio.wait_for(parked.get(), WAIT)
    await asyncio.wait_for(parked.get(), WAIT)
    hub = alice.client.app[keys.HUB]
    assert hub.polls_of(alice.tenant_id, alice.user_id) == 1

    result = await alice.inbound(body="¿hay alguien?")
    status, body = await asyncio.wait_for(poll, WAIT)
    assert status == 200
    assert body["events"][0]["event"] == "new_message"
    assert body["events"][0]["data"]["message"]["id"] == result["message_id"]
    assert body["events"][0]["seq"] == state.head + 1
    assert body["next"] >= state.head + 2
    # The other tenant's poll is still waiting: nothing of acme reached it.
    assert not other.done()
    await bob.inbound(body="globex")
    status, body = await asyncio.wait_for(other, WAIT)
    assert status == 200
    assert [e["data"]["clientCode"] for e in body["events"] if e["event"] == "new_message"] == ["globex"]


async def test_unservable_cursor_is_410(alice: Actor) -> None:
    seqs = await append_events(alice.client, alice.tenant_id, 6)
    await prune(alice.client, keep_events=3)
    state = await stream_state(alice.client, alice.tenant_id)
    assert state.pruned_through == seqs[2]

    status, body = await _poll(alice, since=state.pruned_through, epoch=state.epoch, timeout=0)
    assert status == 200 and [e["seq"] for e in body["events"]] == seqs[3:]
    for since, epoch in [(state.pruned_through - 1, state.epoch),   # pruned away
                         (state.head, "zzzzzzzz"),                 # another epoch
                         (state.head + 1, state.epoch)]:           # ahead of the head
        status, body = await _poll(alice, since=since, epoch=epoch, timeout=0)
        assert status == 410, (since, epoch, body)
        assert body["error"]["code"] == "resync_required"


async def test_too_many_waiting_polls_is_429(
    aiohttp_client: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(config, max_polls_per_user=2)))
    actor = await make_actor(client, "acme")
    parked = _signal_waiting_polls(monkeypatch, actor)
    state = await stream_state(client, actor.tenant_id)
    query = {"since": state.head, "epoch": state.epoch, "timeout": 50}
    waiting = [asyncio.ensure_future(_poll(actor, **query)) for _ in range(2)]
    for _ in waiting:
        await asyncio.wait_for(parked.get(), WAIT)

    resp = await actor.get("/api/v1/events", params={k: str(v) for k, v in query.items()})
    assert resp.status == 429
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert resp.headers.get("Retry-After") == "1"
    # A colleague has a budget of their own.
    colleague = await make_actor(client, "acme")
    status, _ = await _poll(colleague, since=state.head, epoch=state.epoch, timeout=0)
    assert status == 200

    await actor.inbound()
    for poll in waiting:
        status, body = await asyncio.wait_for(poll, WAIT)
        assert status == 200 and body["events"][0]["event"] == "new_message"


async def test_an_audience_reaches_only_the_polls_and_sockets_that_accept_it(
    client: Any, alice: Actor
) -> None:
    """One predicate (Principal.accepts) for parked polls, their answers and live sockets."""
    agent = await make_actor(client, "acme", role="agent")
    ws_admin, _ = await alice.ws()
    ws_agent, _ = await agent.ws()
    await barrier(ws_admin)  # the agent's presence_changed
    signal = ParkSignal(client)
    try:
        epoch, head = await stream_position(alice)
        admin_poll = await poll_while_parked(alice, signal, head, epoch)
        agent_poll = await poll_while_parked(agent, signal, head, epoch)
        [for_agents] = await append_events(client, alice.tenant_id, 1, audience="role:agent")
        answer = await asyncio.wait_for(agent_poll, WAIT)
        assert [e["seq"] for e in answer["events"]] == [for_agents]
        assert [e["seq"] for e in events(await barrier(ws_agent))] == [for_agents]
        assert events(await barrier(ws_admin)) == []
        # The admin's poll slept through it: the next event it may see is all it gets.
        [for_all] = await append_events(client, alice.tenant_id, 1)
        answer = await asyncio.wait_for(admin_poll, WAIT)
        assert [e["seq"] for e in answer["events"]] == [for_all]
    finally:
        signal.restore()
