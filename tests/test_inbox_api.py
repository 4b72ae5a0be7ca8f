"""REST inbox: lists and their seq, filters, paging, search, idempotent sends, read marks,
stats coalescing, bad input, and forward-only statuses."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from app import keys
from app.errors import Invalid
from app.services import messages
from tests.helpers.actors import Actor
from tests.helpers.api import assert_error, json_ok, stats
from tests.helpers.frames import barrier, drain_until, events, next_event

CONVS = "/api/v1/conversations"


def phone(i: int) -> str:
    return f"5691000{i:04d}"


async def conversations(actor: Actor, **query: Any) -> dict[str, Any]:
    return await json_ok(await actor.get(CONVS, params={k: str(v) for k, v in query.items()}))


async def all_pages(actor: Actor, cursor: str | None = None, **query: Any) -> list[str]:
    """Follow `next` to the end (from `cursor`); return the ids in the order served."""
    ids: list[str] = []
    for _ in range(50):
        page = await conversations(actor, **query, **({"cursor": cursor} if cursor else {}))
        ids += [c["id"] for c in page["items"]]
        cursor = page["next"]
        if cursor is None:
            return ids
    raise AssertionError("paging never ended")


async def seed(actor: Actor, n: int) -> list[str]:
    """n conversations (one inbound each, in order); return their ids, oldest first."""
    return [(await actor.inbound(phone(i), f"mensaje {i}", name=f"Cliente {i}"))["conversation_id"]
            for i in range(n)]


async def test_list_newest_first_with_stream_seq(alice: Actor) -> None:
    ws, _ = await alice.ws()
    ids = await seed(alice, 3)
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated" and f["data"]["unread"] == 3)
    seen_before = max(f["seq"] for f in events(frames) if f["seq"] is not None)

    page = await conversations(alice)
    assert [c["id"] for c in page["items"]] == ids[::-1]
    assert page["next"] is None
    first = page["items"][0]
    assert first["contact"]["phone"] == phone(2) and first["contact"]["name"] == "Cliente 2"
    assert first["last_message"]["body"] == "mensaje 2"
    assert first["last_message"]["direction"] == "in"
    assert first["unread_count"] == 1 and first["status"] == "open"
    assert isinstance(first["updated_at"], int)
    # The seq is the head the items were read at: a seq the stream really has, and no older
    # than any event already committed when the list was read.
    later = events(await barrier(ws))
    assert page["seq"] >= seen_before
    assert page["seq"] in {seen_before} | {f["seq"] for f in later}


async def test_status_filter(client: Any, alice: Actor) -> None:
    ids = await seed(alice, 3)
    db = client.app[keys.DB]
    await db.write(lambda tx: tx.execute("UPDATE conversations SET status = 'closed' WHERE id = ?",
                                         (int(ids[1]),)))
    assert [c["id"] for c in (await conversations(alice))["items"]] == [ids[2], ids[0]]
    assert [c["id"] for c in (await conversations(alice, status="open"))["items"]] == [ids[2], ids[0]]
    closed = (await conversations(alice, status="closed"))["items"]
    assert [c["id"] for c in closed] == [ids[1]] and closed[0]["status"] == "closed"
    assert [c["id"] for c in (await conversations(alice, status="all"))["items"]] == ids[::-1]
    await assert_error(await alice.get(CONVS, params={"status": "archived"}), 400)

    # A new message from the customer reopens the conversation.
    await alice.inbound(phone(1), "¿hola?")
    assert (await conversations(alice, status="closed"))["items"] == []
    assert (await conversations(alice))["items"][0]["id"] == ids[1]


async def test_cursor_paging(client: Any, alice: Actor) -> None:
    ids = await seed(alice, 5)
    assert await all_pages(alice, limit=2) == ids[::-1]
    first = await conversations(alice, limit=2)
    assert len(first["items"]) == 2 and first["next"]

    # A conversation arriving while paging goes to the top; the pages after are unaffected.
    newcomer = (await alice.inbound(phone(99), "nuevo"))["conversation_id"]
    rest = await all_pages(alice, limit=2, cursor=first["next"])
    assert [c["id"] for c in first["items"]] + rest == ids[::-1]
    assert newcomer not in rest

    # Identical timestamps: the order is still total and every item is served exactly once.
    db = client.app[keys.DB]
    await db.write(lambda tx: tx.execute("UPDATE conversations SET updated_at = 1700000000000"))
    paged = await all_pages(alice, limit=2)
    assert sorted(paged) == sorted([*ids, newcomer]) and len(paged) == 6
    assert paged == [c["id"] for c in (await conversations(alice, limit=100))["items"]]


async def test_search(alice: Actor, bob: Actor) -> None:
    song = (await alice.inbound(phone(1), "Hola, ¿tienen la canción NEAR (the) \"end\"?", name="Ana"))
    other = await alice.inbound(phone(2), "Quiero pagar con tarjeta", name="Bruno Pérez")
    await bob.inbound(phone(3), "canción de bob")
    song_id, other_id = song["conversation_id"], other["conversation_id"]

    async def found(q: str) -> list[str]:
        return [c["id"] for c in (await conversations(alice, q=q, status="all"))["items"]]

    assert await found("cancion") == [song_id]        # accents ignored
    assert await found("CANCIÓN") == [song_id]
    assert await found("canc") == [song_id]           # prefix
    assert await found("tienen cancion") == [song_id]
    assert await found("tienen tarjeta") == []        # every word must match
    assert await found("Bruno") == [other_id]         # contact name
    assert await found(phone(2)[-5:]) == [other_id]   # phone digits
    assert await found("zapato") == []

    # FTS syntax is plain text: never a 500, and the words in it still match.
    for q in ['"canción"', "canción*", "NEAR(canción tienen)", "(canción)", '"canción', "-canción",
              "canción:", "^canción", "{canción}", "canción +", "NEAR", '"end"', "(the)"]:
        assert await found(q) == [song_id], q
    assert await found("canción OR zapato") == []  # OR is a word to find, not an operator
    for q in ['"', "*", "(", ")", "NEAR(", '"*', "AND", "OR", "NOT", "%", "_", "\\", "'", ":", "^",
              "a" * 300, "🙂", "\u0301"]:
        page = await conversations(alice, q=q, status="all")
        assert all(c["id"] in (song_id, other_id) for c in page["items"]), q
    assert await found("%") == [] and await found("_") == []  # LIKE wildcards are literal


async def test_messages_page_oldest_to_newest(alice: Actor) -> None:
    bodies = [f"m{i}" for i in range(5)]
    for b in bodies:
        conv = (await alice.inbound(phone(1), b))["conversation_id"]
    path = f"{CONVS}/{conv}/messages"
    full = await json_ok(await alice.get(path))
    assert [m["body"] for m in full["items"]] == bodies and full["next"] is None
    assert isinstance(full["seq"], int)
    assert all(m["conversation_id"] == conv and m["direction"] == "in" for m in full["items"])

    pages: list[list[str]] = []
    before = None
    while True:
        page = await json_ok(await alice.get(path, params={"limit": "2", **({"before": before} if before else {})}))
        pages.append([m["body"] for m in page["items"]])
        before = page["next"]
        if before is None:
            break
    assert pages == [["m3", "m4"], ["m1", "m2"], ["m0"]]


async def send(actor: Actor, conv: str, body: str, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await actor.post(f"{CONVS}/{conv}/messages", {"body": body}, headers=headers)


async def test_idempotent_send(alice: Actor, bob: Actor) -> None:
    conv = (await alice.inbound(phone(1), "hola"))["conversation_id"]
    ws, _ = await alice.ws()
    first = await json_ok(await send(alice, conv, "respuesta", "key-1"), 201)
    assert first["status"] == "queued" and first["body"] == "respuesta"
    again = await send(alice, conv, "respuesta", "key-1")
    assert (await json_ok(again, 201))["id"] == first["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    outgoing = [f for f in events(await barrier(ws), "new_message") if f["data"]["message"]["direction"] == "out"]
    assert [f["data"]["message"]["id"] for f in outgoing] == [first["id"]]

    await assert_error(await send(alice, conv, "otra cosa", "key-1"), 409, "idempotency_key_reused")
    other_conv = (await alice.inbound(phone(2), "hola"))["conversation_id"]
    await assert_error(await send(alice, other_conv, "respuesta", "key-1"), 409, "idempotency_key_reused")

    # Two identical requests racing: one message.
    a, b = await asyncio.gather(send(alice, conv, "carrera", "key-2"), send(alice, conv, "carrera", "key-2"))
    assert (await json_ok(a, 201))["id"] == (await json_ok(b, 201))["id"]
    items = (await json_ok(await alice.get(f"{CONVS}/{conv}/messages")))["items"]
    assert [m["body"] for m in items if m["direction"] == "out"] == ["respuesta", "carrera"]

    # Without a key every POST is a new message; keys are per tenant.
    c1 = await json_ok(await send(alice, conv, "sin clave"), 201)
    c2 = await json_ok(await send(alice, conv, "sin clave"), 201)
    assert c1["id"] != c2["id"]
    bob_conv = (await bob.inbound(phone(3), "hola"))["conversation_id"]
    assert (await json_ok(await send(bob, bob_conv, "respuesta", "key-1"), 201))["id"] != first["id"]
    await assert_error(await send(alice, conv, "x", "k" * 201), 400, "invalid_idempotency_key")


async def test_read(alice: Actor, bob: Actor) -> None:
    await alice.inbound(phone(1), "uno")
    conv = (await alice.inbound(phone(1), "dos"))["conversation_id"]
    await alice.inbound(phone(2), "otra")
    ws, _ = await alice.ws()
    assert (await stats(alice))["unread"] == 3

    resp = await alice.post(f"{CONVS}/{conv}/read")
    assert resp.status == 204, await resp.text()
    # (A stats event still due from the inbound messages may come first: wait for the true one.)
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated" and f["data"]["unread"] == 1)
    [updated] = [f for f in events(frames, "conversation_updated") if f["data"]["id"] == conv]
    assert updated["data"]["unread_count"] == 0
    assert frames[-1]["seq"] > updated["seq"]
    item = await json_ok(await alice.get(f"{CONVS}/{conv}"))
    assert item["unread_count"] == 0
    items = (await json_ok(await alice.get(f"{CONVS}/{conv}/messages")))["items"]
    assert {m["status"] for m in items} == {"read"}

    # Reading again changes nothing and announces nothing.
    assert (await alice.post(f"{CONVS}/{conv}/read")).status == 204
    assert events(await barrier(ws), "conversation_updated") == []
    await assert_error(await bob.post(f"{CONVS}/{conv}/read"), 404, "not_found")
    await assert_error(await alice.post(f"{CONVS}/999999/read"), 404, "not_found")


async def test_stats_coalesced_and_last_is_true(alice: Actor) -> None:
    ws, _ = await alice.ws()
    n = 100
    await asyncio.gather(*(alice.inbound(phone(i % 10), f"ráfaga {i}") for i in range(n)))
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated" and f["data"]["unread"] == n)
    assert len(events(frames, "new_message")) == n
    bursts = events(frames, "stats_updated")
    assert 1 <= len(bursts) <= 10, len(bursts)
    final = {k: v for k, v in (await stats(alice)).items() if k != "seq"}
    assert {k: v for k, v in bursts[-1]["data"].items() if k != "seq"} == final
    assert final["messages_today_in"] == n and final["contacts"] == 10 and final["conversations_open"] == 10
    # Whatever the coalescer still had scheduled says the same (at its own seq).
    assert all({**f["data"], "seq": None} == {**final, "seq": None}
               for f in events(await barrier(ws), "stats_updated"))


NOT_A_500 = [
    ("get", f"{CONVS}?limit=0", 400), ("get", f"{CONVS}?limit=101", 400),
    ("get", f"{CONVS}?limit=-1", 400), ("get", f"{CONVS}?limit=abc", 400),
    ("get", f"{CONVS}?limit=1.5", 400), ("get", f"{CONVS}?limit=%C2%B2", 400),
    ("get", f"{CONVS}?cursor=garbage!!", 400), ("get", f"{CONVS}?cursor=W10", 400),
    ("get", f"{CONVS}?status=ALL", 400),
    ("get", f"{CONVS}/abc/messages", 404), ("get", f"{CONVS}/-1/messages", 404),
    ("get", f"{CONVS}/1e3/messages", 404), ("get", f"{CONVS}/%C2%B2/messages", 404),
    ("get", f"{CONVS}/{'9' * 30}/messages", 404), ("get", f"{CONVS}/abc", 404),
    ("post", f"{CONVS}/abc/read", 404), ("post", f"{CONVS}/%C2%B2/read", 404),
    ("get", "/api/v1/nothing-here", 404), ("get", "/api/v2/conversations", 404),
    ("post", "/api/v1/stats", 405),
]


@pytest.mark.parametrize(("method", "path", "status"), NOT_A_500)
async def test_bad_query_and_path(alice: Actor, method: str, path: str, status: int) -> None:
    await alice.inbound(phone(1), "hola")
    resp = await alice.client.request(method.upper(), path, headers=alice.headers)
    await assert_error(resp, status)


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_bad_cursors_and_before(alice: Actor) -> None:
    conv = (await alice.inbound(phone(1), "hola"))["conversation_id"]
    for raw in (b"[1]", b"[1, 2, 3]", b'["a", 1]', b"[1.5, 1]", b"{}", b"\xff\xfe",
                b"[18446744073709551615, 1]", b"[1, 18446744073709551615]", b"[-9223372036854775809, 1]"):
        await assert_error(await alice.get(CONVS, params={"cursor": _cursor(raw)}), 400, "invalid_cursor")
    for before in ("abc", "-1", "1" * 19, "²", "1.0"):
        resp = await alice.get(f"{CONVS}/{conv}/messages", params={"before": before})
        await assert_error(resp, 400, "invalid_cursor")


async def test_bad_send_bodies(alice: Actor, bob: Actor) -> None:
    conv = (await alice.inbound(phone(1), "hola"))["conversation_id"]
    path = f"{CONVS}/{conv}/messages"
    json_ct = {"Content-Type": "application/json"}
    await assert_error(await alice.post(path, data=b'{"body": ', headers=json_ct), 400, "invalid_json")
    await assert_error(await alice.post(path, data=b"\xff\xfe", headers=json_ct), 400, "invalid_json")
    for not_object in ([1, 2], "body", 3, None, True):
        await assert_error(await alice.post(path, data=orjson.dumps(not_object), headers=json_ct), 400)
    await assert_error(await alice.post(path), 400, "invalid_body")
    for bad in ({}, {"body": ""}, {"body": "   "}, {"body": 5}, {"body": ["x"]}, {"body": None}):
        await assert_error(await alice.post(path, bad), 400, "invalid_body")
    await assert_error(await alice.post(path, {"body": "x" * 4097}), 400, "body_too_long")
    assert (await alice.post(path, {"body": "x" * 4096})).status == 201
    await assert_error(await alice.post(path, data=io.BytesIO(b"x" * (1024 * 1024 + 10)), headers=json_ct), 413)
    # Another tenant's conversation is not found, exactly like a missing one.
    await assert_error(await bob.post(path, {"body": "hola"}), 404, "not_found")
    await assert_error(await bob.get(path), 404, "not_found")
    await assert_error(await alice.post(f"{CONVS}/{quote('²')}/messages", {"body": "hola"}), 404)


async def test_status_never_moves_backwards(client: Any, alice: Actor) -> None:
    ws, _ = await alice.ws()
    conv = (await alice.inbound(phone(1), "hola"))["conversation_id"]
    sent = await json_ok(await send(alice, conv, "respuesta"), 201)
    mid = int(sent["id"])
    # Not paired: the outbox fails it first; read (from a late receipt) still moves it forward.
    failed = await next_event(ws, "message_status")
    assert failed["data"]["status"] == "failed"
    db = client.app[keys.DB]
    tid = alice.tenant_id

    async def move(status: str) -> bool:
        return await db.write(lambda tx: messages.set_status(tx, tid, mid, status))

    assert await move("read") is True
    assert [await move(s) for s in ("delivered", "sent", "failed", "queued", "read")] == [False] * 5
    statuses = [f["data"]["status"] for f in events(await barrier(ws), "message_status")]
    assert statuses == ["read"]
    items = (await json_ok(await alice.get(f"{CONVS}/{conv}/messages")))["items"]
    assert next(m for m in items if m["id"] == sent["id"])["status"] == "read"
    with pytest.raises(Invalid):
        await move("seen")


async def test_contact_names_match_without_accents_or_case(alice: Actor) -> None:
    await alice.inbound(phone(7), "hola", name="José Ñúñez")
    for q in ("jose", "JOSÉ", "ñuñez", "nunez", "jose nu"):
        listed = await json_ok(await alice.get("/api/v1/conversations", params={"q": q}))
        assert [c["contact"]["name"] for c in listed["items"]] == ["José Ñúñez"], q
    listed = await json_ok(await alice.get("/api/v1/conversations", params={"q": "josefa"}))
    assert listed["items"] == []
