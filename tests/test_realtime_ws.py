"""/ws v1 over real sockets: ephemeral events, heartbeat, hello, bad frames, limits, calls, batch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from app import create_app
from app.config import Config
from app.realtime import const
from tests.helpers.actors import Actor, make_actor
from tests.helpers.frames import (
    barrier,
    closed_with,
    drain_until,
    error_codes,
    events,
    next_event,
    next_frame,
    raw_ws,
    send,
)
from tests.helpers.stream import append_events, stream_state


async def _client(aiohttp_client: Any, config: Config, **changes: Any) -> TestClient:
    return await aiohttp_client(create_app(dataclasses.replace(config, **changes)))


async def test_typing_and_presence_are_ephemeral_live_only(
    alice: Actor, bob: Actor, client: TestClient
) -> None:
    a1, _ = await alice.ws()
    b1, _ = await bob.ws()
    conv_id = (await alice.inbound())["conversation_id"]
    await next_event(a1, "stats_updated")

    carol = await make_actor(client, "acme")
    c1, carol_welcome = await carol.ws()
    online = await next_event(a1, "presence_changed")
    assert online["seq"] is None
    assert online["data"] == {"user_id": str(carol.user_id), "online": True}

    await send(c1, {"type": "call", "id": 1, "method": "typing", "params": {"conversation_id": conv_id}})
    before_result = await drain_until(c1, lambda f: f.get("type") == "result")
    assert before_result[-1] == {"type": "result", "id": 1, "ok": True, "data": {}}
    assert not [e for e in events(before_result) if e["event"] == "typing"]  # not echoed
    typing = await next_event(a1, "typing")
    assert typing["seq"] is None
    assert typing["data"] == {"conversation_id": conv_id, "state": "start",
                              "user": {"id": str(carol.user_id), "name": carol_welcome["user"]["name"]}}
    # The other tenant hears nothing: its queue is empty up to a call answered afterwards.
    assert await barrier(b1, 1) == []

    await c1.close()
    offline = await next_event(a1, "presence_changed")
    assert offline["seq"] is None
    assert offline["data"] == {"user_id": str(carol.user_id), "online": False}

    epoch = (await stream_state(client, alice.tenant_id)).epoch
    a2, welcome = await alice.ws(resume={"epoch": epoch, "seq": 0})
    assert welcome["resume"] == "replaying"
    replayed = events(await drain_until(a2, lambda f: f.get("type") == "replay_end"))
    assert {e["event"] for e in replayed} == {"new_message", "conversation_updated", "stats_updated"}
    assert all(isinstance(e["seq"], int) for e in replayed)


async def test_no_pong_closes_4002(aiohttp_client: Any, config: Config) -> None:
    client = await _client(aiohttp_client, config, ping_interval=0.2, pong_timeout=0.1)
    actor = await make_actor(client, "acme")
    ws, welcome = await actor.ws()
    assert (welcome["ping_interval"], welcome["pong_timeout"]) == (0.2, 0.1)
    assert await next_frame(ws) == {"type": "ping"}
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_NO_PONG
    assert error_codes(seen) == ["no_pong"]


async def test_pongs_keep_the_socket_alive(aiohttp_client: Any, config: Config) -> None:
    client = await _client(aiohttp_client, config, ping_interval=0.25, pong_timeout=0.2)
    actor = await make_actor(client, "acme")
    ws, _ = await actor.ws()
    for _ in range(3):
        assert await next_frame(ws) == {"type": "ping"}
        await send(ws, {"type": "pong"})
    await send(ws, {"type": "call", "id": 1, "method": "presence"})
    while (frame := await next_frame(ws)) == {"type": "ping"}:
        await send(ws, {"type": "pong"})
    assert frame["type"] == "result" and frame["ok"] is True
    assert not ws.closed


async def test_no_hello_closes_4004(aiohttp_client: Any, config: Config) -> None:
    client = await _client(aiohttp_client, config, hello_timeout=0.2)
    ws = await raw_ws(client)
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_HELLO_TIMEOUT
    assert error_codes(seen) == ["hello_timeout"]


async def test_client_frame_over_64_kib_closes_1009(alice: Actor) -> None:
    ws, _ = await alice.ws()
    await send(ws, {"type": "pong", "pad": "x" * 60_000})  # under the limit: ignored
    assert await barrier(ws, 1) == []
    await send(ws, {"type": "pong", "pad": "x" * (const.MAX_INBOUND_FRAME + 1)})
    code, _ = await closed_with(ws)
    assert code == 1009


GARBAGE = [
    ("not_json", "this is not json"),
    ("json_array", '[{"type": "pong"}]'),
    ("no_type", '{"hello": 1}'),
    ("binary", b'{"type": "pong"}'),
]


@pytest.mark.parametrize("phase", ["before_hello", "after_hello"])
@pytest.mark.parametrize(("kind", "payload"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_garbage_frame_closes_4500_others_unaffected(
    alice: Actor, client: TestClient, phase: str, kind: str, payload: str | bytes
) -> None:
    other, _ = await alice.ws()
    if phase == "before_hello":
        ws = await raw_ws(client)
    else:
        ws, _ = await alice.ws()
    if isinstance(payload, bytes):
        await ws.send_bytes(payload)
    else:
        await ws.send_str(payload)
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_BAD_FRAME
    assert error_codes(seen) == ["bad_frame"]
    assert seen[-1]["type"] == "error"

    result = await alice.inbound(body=f"after {kind}")
    ev = await next_event(other, "new_message")
    assert ev["data"]["message"]["id"] == result["message_id"]


async def test_frame_other_than_hello_first_closes_4500(client: TestClient) -> None:
    ws = await raw_ws(client)
    await send(ws, {"type": "call", "id": 1, "method": "presence"})
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_BAD_FRAME
    assert error_codes(seen) == ["bad_frame"]


@pytest.mark.parametrize("query", ["", "?v=2", "?v=abc", "?v="])
async def test_unknown_or_missing_version_is_http_400(client: TestClient, query: str) -> None:
    resp = await client.get("/ws" + query)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unsupported_version"
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws" + query)
    assert info.value.status == 400


async def test_cross_origin_upgrade_is_403(alice: Actor, client: TestClient) -> None:
    resp = await client.get("/ws?v=1", headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert "error" in await resp.json()
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws?v=1", origin="https://evil.example")
    assert info.value.status == 403
    own = f"http://{client.server.host}:{client.server.port}"
    ws = await client.ws_connect("/ws?v=1", origin=own)
    await send(ws, {"type": "hello", "v": 1, "token": alice.token})
    assert (await next_frame(ws))["type"] == "welcome"


async def test_too_many_sockets_for_one_user_4504(aiohttp_client: Any, config: Config) -> None:
    client = await _client(aiohttp_client, config, max_sockets_per_user=2)
    actor = await make_actor(client, "acme")
    await actor.ws()
    await actor.ws()
    ws = await raw_ws(client)
    await send(ws, {"type": "hello", "v": 1, "token": actor.token})
    code, seen = await closed_with(ws)
    assert code == const.CLOSE_TOO_MANY
    assert error_codes(seen) == ["too_many_connections"]
    # The limit is per user: a colleague still gets in.
    colleague = await make_actor(client, "acme")
    _, welcome = await colleague.ws()
    assert welcome["resume"] == "fresh"


async def test_token_expiring_while_connected_closes_4003(aiohttp_client: Any, config: Config) -> None:
    client = await _client(aiohttp_client, config, token_ttl=1)
    actor = await make_actor(client, "acme")
    ws, welcome = await actor.ws()
    assert welcome["user"]["id"] == str(actor.user_id)
    code, seen = await closed_with(ws, timeout=3)
    assert code == const.CLOSE_TOKEN_EXPIRED
    assert error_codes(seen) == ["token_expired"]


async def test_calls_ids_methods_and_presence(alice: Actor, bob: Actor) -> None:
    foreign = (await bob.inbound())["conversation_id"]
    ws, _ = await alice.ws()

    async def call(call_id: int, method: str, **params: Any) -> dict[str, Any]:
        await send(ws, {"type": "call", "id": call_id, "method": method, "params": params})
        frames = await drain_until(ws, lambda f: f.get("type") == "result")
        assert frames[-1]["id"] == call_id
        return frames[-1]

    presence = await call(5, "presence")
    assert presence["ok"] is True and presence["data"] == {"online": [str(alice.user_id)]}
    reused = await call(5, "presence")
    assert reused["ok"] is False and reused["error"]["code"] == "id_reuse"
    lower = await call(3, "presence")
    assert lower["ok"] is False and lower["error"]["code"] == "id_reuse"
    unknown = await call(6, "no_such_method")
    assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_method"
    # Another tenant's conversation answers exactly like a missing one.
    theirs = await call(7, "typing", conversation_id=foreign)
    missing = await call(8, "typing", conversation_id="999999")
    assert theirs["error"]["code"] == missing["error"]["code"] == "not_found"
    assert theirs["error"]["message"] == missing["error"]["message"]
    assert (await call(9, "presence"))["ok"] is True


async def test_batch_feature_packs_a_burst_into_arrays(alice: Actor) -> None:
    batched, welcome = await alice.ws(features=["batch", "no_such_feature"])
    assert welcome["features"] == ["batch"]
    plain, welcome_plain = await alice.ws()
    assert welcome_plain["features"] == []

    seqs = await append_events(alice.client, alice.tenant_id, 300)
    messages: list[Any] = []
    while sum(len(m) if isinstance(m, list) else 1 for m in messages) < len(seqs):
        messages.append(await next_frame(batched))
    assert all(isinstance(m, list) for m in messages)
    assert all(2 <= len(m) <= const.BATCH_MAX_FRAMES for m in messages)
    assert len(messages) == 2  # 300 frames: 256 + 44
    from_batch = events(messages)

    singles = [await next_frame(plain) for _ in seqs]
    assert all(isinstance(m, dict) for m in singles)
    assert from_batch == singles
    assert [e["seq"] for e in from_batch] == seqs
    assert await barrier(batched, 1) == [] and await barrier(plain, 1) == []


async def test_renamed_user_is_asked_to_reconnect_4000(alice) -> None:
    ws, _ = await alice.ws()
    resp = await alice.patch(f"/api/v1/users/{alice.user_id}", {"name": "Alicia"})
    assert resp.status == 200
    code, frames_seen = await closed_with(ws)
    assert code == 4000
    assert frames_seen[-1] == {"type": "error", "error": {"code": "reconnect", "message": "profile changed"}}
    # The token still works: the new socket carries the new name.
    _, welcome = await alice.ws()
    assert welcome["user"]["name"] == "Alicia"
