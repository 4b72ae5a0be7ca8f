"""Resume over /ws: replay bounds, resync, commits racing the replay, latest-wins, slow consumers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import keys
from app.realtime import const
from app.realtime.connection import Connection
from app.realtime.stream import StreamState
from tests.helpers.actors import Actor
from tests.helpers.frames import (
    assert_strictly_increasing,
    barrier,
    closed_with,
    drain_until,
    error_codes,
    events,
    next_event,
)
from tests.helpers.stream import append_events, hook_reads, prune, stored_seqs, stream_state


def _is_replay_end(frame: Any) -> bool:
    return isinstance(frame, dict) and frame.get("type") == "replay_end"


async def _assert_live(actor: Actor, *sockets: Any) -> None:
    """A new inbound reaches every socket (the connection went live after its welcome)."""
    result = await actor.inbound(phone="56900000009", body="¿siguen ahí?")
    for ws in sockets:
        ev = await next_event(ws, "new_message")
        assert ev["data"]["message"]["id"] == result["message_id"]


async def test_resume_at_pruned_through_replays_one_below_resyncs(alice: Actor) -> None:
    client = alice.client
    seqs = await append_events(client, alice.tenant_id, 10)
    assert await prune(client, keep_events=4) > 0
    state = await stream_state(client, alice.tenant_id)
    pruned = state.pruned_through
    assert pruned == seqs[-5] and pruned >= 1
    assert await stored_seqs(client, alice.tenant_id) == seqs[-4:]

    ws, welcome = await alice.ws(resume={"epoch": state.epoch, "seq": pruned})
    assert welcome["resume"] == "replaying"
    assert welcome["head"] == state.head
    frames = await drain_until(ws, _is_replay_end)
    assert frames[-1] == {"type": "replay_end", "seq": state.head}
    replayed = events(frames)
    assert [e["seq"] for e in replayed] == seqs[-4:]
    assert [e["data"]["i"] for e in replayed] == [6, 7, 8, 9]
    assert {e["event"] for e in replayed} == {"new_message"}

    gap, welcome = await alice.ws(resume={"epoch": state.epoch, "seq": pruned - 1})
    assert welcome["resume"] == "resync_required"
    assert welcome["head"] == state.head
    assert await barrier(gap, 1) == []  # no replay, no replay_end
    await _assert_live(alice, ws, gap)


@pytest.mark.parametrize("cursor", ["wrong_epoch", "ahead_of_head"])
async def test_unservable_cursor_resyncs_then_goes_live(alice: Actor, cursor: str) -> None:
    seqs = await append_events(alice.client, alice.tenant_id, 3)
    state = await stream_state(alice.client, alice.tenant_id)
    assert state.head == seqs[-1]
    if cursor == "wrong_epoch":
        epoch = "zzzzzzzz" if state.epoch != "zzzzzzzz" else "yyyyyyyy"
        resume = {"epoch": epoch, "seq": seqs[0]}
    else:
        resume = {"epoch": state.epoch, "seq": state.head + 1}
    ws, welcome = await alice.ws(resume=resume)
    assert welcome["resume"] == "resync_required"
    assert welcome["epoch"] == state.epoch and welcome["head"] == state.head
    assert await barrier(ws, 1) == []
    await _assert_live(alice, ws)


async def test_resume_at_head_replays_nothing_then_goes_live(alice: Actor) -> None:
    await append_events(alice.client, alice.tenant_id, 2)
    state = await stream_state(alice.client, alice.tenant_id)
    ws, welcome = await alice.ws(resume={"epoch": state.epoch, "seq": state.head})
    assert welcome["resume"] == "replaying"
    assert await barrier(ws, 1) == [{"type": "replay_end", "seq": state.head}]
    await _assert_live(alice, ws)


async def test_commits_during_replay_pages_arrive_once_in_order(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events committed after the stream-state read (while pages are read) arrive live, once."""
    client = alice.client
    monkeypatch.setattr(const, "REPLAY_PAGE", 3)
    seqs = await append_events(client, alice.tenant_id, 10)
    epoch = (await stream_state(client, alice.tenant_id)).epoch
    late: list[int] = []
    state_read = False

    async def before() -> None:
        # Every read after the socket's state read is a replay page: commit one event first.
        if state_read and len(late) < 4:
            late.append(0)
            late[-1] = (await append_events(client, alice.tenant_id, 1, data=lambda i: {"late": 1}))[0]

    def after(result: Any) -> None:
        nonlocal state_read
        if isinstance(result, StreamState):
            state_read = True

    hook_reads(monkeypatch, client.app[keys.DB], before=before, after=after)
    ws, welcome = await alice.ws(resume={"epoch": epoch, "seq": 0})
    assert welcome["resume"] == "replaying" and welcome["head"] == seqs[-1]
    frames = await drain_until(ws, _is_replay_end)
    assert len(late) == 4  # 10 events in pages of 3: four page reads, each raced by a commit
    end = [i for i, f in enumerate(frames) if _is_replay_end(f)]
    assert len(end) == 1 and frames[end[0]]["seq"] == seqs[-1]
    assert [e["seq"] for e in events(frames[:end[0]])] == seqs
    frames += await drain_until(ws, lambda f: f.get("seq") == late[-1])
    assert [e["seq"] for e in events(frames[end[0]:])] == late
    assert await barrier(ws, 1) == []
    assert assert_strictly_increasing(events(frames)) == await stored_seqs(client, alice.tenant_id)


async def test_commit_between_register_and_state_read_arrives_once(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event both held live and inside the replay snapshot is delivered exactly once."""
    client = alice.client
    base = await append_events(client, alice.tenant_id, 3)
    epoch = (await stream_state(client, alice.tenant_id)).epoch
    hub = client.app[keys.HUB]
    original_register = hub.register
    registered: list[object] = []
    raced: list[dict[str, Any]] = []

    def register(conn: Any) -> None:
        original_register(conn)
        registered.append(conn)

    async def before() -> None:
        # The first read after registration is the socket's stream-state read.
        if registered and not raced:
            raced.append({})
            raced[0] = await alice.inbound(phone="56900000001", body="justo ahora")

    monkeypatch.setattr(hub, "register", register)
    hook_reads(monkeypatch, client.app[keys.DB], before=before)
    ws, welcome = await alice.ws(resume={"epoch": epoch, "seq": base[-1]})
    assert raced, "the inbound did not race the state read"
    # The inbound (new_message + conversation_updated, maybe already its stats) is inside the
    # snapshot, and was also pushed to the registered, not yet live, connection.
    head = welcome["head"]
    assert welcome["resume"] == "replaying" and head >= base[-1] + 2
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated")
    frames += await barrier(ws, 1)
    evs = events(frames)
    assert_strictly_increasing(evs)
    assert [e["event"] for e in evs[:2]] == ["new_message", "conversation_updated"]
    assert evs[0]["data"]["message"]["id"] == raced[0]["message_id"]
    assert [e["seq"] for e in evs[:2]] == [base[-1] + 1, base[-1] + 2]
    assert [e["event"] for e in evs].count("new_message") == 1
    assert [e["event"] for e in evs].count("conversation_updated") == 1
    end = frames.index({"type": "replay_end", "seq": head})
    assert [e["seq"] for e in events(frames[:end])] == list(range(base[-1] + 1, head + 1))

async def test_replay_returns_latest_per_key_and_every_durable(alice: Actor) -> None:
    live, _ = await alice.ws()
    sent = [("56911110001", "a1"), ("56911110001", "a2"), ("56911110001", "a3"),
            ("56911110002", "b1"), ("56911110002", "b2")]
    for phone, body in sent:
        await alice.inbound(phone=phone, body=body)
    frames = await drain_until(
        live, lambda f: f.get("event") == "stats_updated" and f["data"]["unread"] == len(sent))
    newest: dict[str, dict[str, Any]] = {}
    for e in events(frames):
        if e["event"] == "conversation_updated":
            newest[e["data"]["id"]] = e
    assert len(newest) == 2

    state = await stream_state(alice.client, alice.tenant_id)
    ws, welcome = await alice.ws(resume={"epoch": state.epoch, "seq": 0})
    assert welcome["resume"] == "replaying"
    replayed = events(await drain_until(ws, _is_replay_end))
    assert_strictly_increasing(replayed)
    messages = [e for e in replayed if e["event"] == "new_message"]
    assert [m["data"]["message"]["body"] for m in messages] == [body for _, body in sent]
    convs = [e for e in replayed if e["event"] == "conversation_updated"]
    assert len(convs) == 2
    assert {c["data"]["id"]: c for c in convs} == newest
    assert sorted(c["data"]["unread_count"] for c in convs) == [2, 3]
    stats = [e for e in replayed if e["event"] == "stats_updated"]
    assert len(stats) == 1 and stats[0]["data"]["unread"] == len(sent)
    assert len(replayed) == len(sent) + 2 + 1


async def test_slow_consumer_is_cut_4001_and_resume_recovers_everything(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = alice.client
    monkeypatch.setattr(const, "MAX_PENDING_FRAMES", 8)
    ws, welcome = await alice.ws()
    first = await append_events(client, alice.tenant_id, 1)
    last_seen = (await next_event(ws))["seq"]
    assert last_seen == first[0]

    burst = await append_events(client, alice.tenant_id, 40)  # one commit, one publish pass
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_SLOW_CONSUMER
    assert error_codes(seen) == ["slow_consumer"]
    for e in events(seen):
        last_seen = max(last_seen, e["seq"])

    again, welcome = await alice.ws(resume={"epoch": welcome["epoch"], "seq": last_seen})
    assert welcome["resume"] == "replaying"
    frames = await drain_until(again, _is_replay_end)
    frames += await barrier(again, 1)
    got = events(seen) + events(frames)
    assert [e["seq"] for e in got] == burst
    assert [e["data"]["i"] for e in got] == list(range(40))
    await _assert_live(alice, again)


async def test_replay_larger_than_the_byte_limit_completes(alice: Actor) -> None:
    """A backlog of big events (more than MAX_PENDING_BYTES in one page) replays without a cut."""
    client = alice.client
    body = "😀" * 4096  # WhatsApp's longest text body, 16 KiB of UTF-8
    start = await stream_state(client, alice.tenant_id)
    seqs = await append_events(client, alice.tenant_id, 300, data=lambda i: {"i": i, "body": body})
    assert len(seqs) < const.REPLAY_PAGE
    assert 300 * len(body.encode()) > const.MAX_PENDING_BYTES
    ws, welcome = await alice.ws(resume={"epoch": start.epoch, "seq": start.head})
    assert welcome["resume"] == "replaying"
    frames = await drain_until(ws, _is_replay_end)
    assert [e["seq"] for e in events(frames)] == seqs
    assert not error_codes(frames)
    await _assert_live(alice, ws)



@pytest.mark.parametrize("where", ["page_read", "drain_wait"])
async def test_live_overflow_during_replay_is_cut_4001_and_resume_recovers(
    alice: Actor, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Live events held while a replay runs count against the limit; the close code is 4001.

    The burst commits while the replay reads a page, or while it waits for the socket to drain
    (then the wait is ended by the close itself, not by the drain timer).
    """
    client = alice.client
    monkeypatch.setattr(const, "MAX_PENDING_FRAMES", 8)
    base = await append_events(client, alice.tenant_id, 3)
    epoch = (await stream_state(client, alice.tenant_id)).epoch
    burst: list[int] = []
    started: list[asyncio.Task[list[int]]] = []
    state_read = False

    async def before() -> None:
        if state_read and not burst:
            burst.extend(await append_events(client, alice.tenant_id, 20))

    def after(result: Any) -> None:
        nonlocal state_read
        if isinstance(result, StreamState):
            state_read = True

    original_wait = Connection.wait_writable

    async def wait_writable(conn: Connection) -> None:
        if not started:
            started.append(asyncio.ensure_future(append_events(client, alice.tenant_id, 20)))
        await original_wait(conn)

    if where == "page_read":
        hook_reads(monkeypatch, client.app[keys.DB], before=before, after=after)
    else:
        monkeypatch.setattr(const, "BACKLOG_RECHECK", 60.0)
        monkeypatch.setattr(Connection, "wait_writable", wait_writable)
    ws, welcome = await alice.ws(resume={"epoch": epoch, "seq": 0})
    assert welcome["resume"] == "replaying"
    code, seen = await closed_with(ws)
    if started:
        burst = await started[0]
    assert len(burst) == 20
    assert code == const.CLOSE_SLOW_CONSUMER
    assert error_codes(seen) == ["slow_consumer"]
    got = events(seen)
    last_seen = got[-1]["seq"] if got else 0

    monkeypatch.undo()
    again, welcome = await alice.ws(resume={"epoch": epoch, "seq": last_seen})
    assert welcome["resume"] == "replaying"
    got += events(await drain_until(again, _is_replay_end))
    assert [e["seq"] for e in got] == base + burst
    assert await barrier(again, 1) == []


async def test_pruned_during_replay_closes_4000_then_resync(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay that retention overtook is not sent half: reconnect, and the resume says resync."""
    client = alice.client
    seqs = await append_events(client, alice.tenant_id, 6)
    epoch = (await stream_state(client, alice.tenant_id)).epoch
    state_read = False
    pruned = False

    async def before() -> None:
        nonlocal pruned
        if state_read and not pruned:
            pruned = True
            await prune(client, keep_events=2)

    def after(result: Any) -> None:
        nonlocal state_read
        if isinstance(result, StreamState):
            state_read = True

    hook_reads(monkeypatch, client.app[keys.DB], before=before, after=after)
    ws, welcome = await alice.ws(resume={"epoch": epoch, "seq": 1})
    assert welcome["resume"] == "replaying"
    code, seen = await closed_with(ws)
    assert code == 4000 and pruned
    assert [f for f in seen if f.get("type") == "event"] == []  # nothing partial was sent
    _, again = await alice.ws(resume={"epoch": epoch, "seq": 1})
    assert again["resume"] == "resync_required" and again["head"] == seqs[-1]
