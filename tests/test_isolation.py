"""PROTOCOL §2 and §4.1: tenant B never sees, changes or learns about anything of tenant A.

Every /api/v1 route must be named below with the case that covers it, so a new route cannot be
added without deciding how its isolation is tested.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.whatsapp import sandbox
from tests.helpers.actors import PASSWORD, Actor, login, make_actor
from tests.helpers.frames import drain_until, is_event
from tests.helpers.security import (
    ParkSignal,
    api_routes,
    assert_clean,
    fill,
    poll_while_parked,
    stats_now,
    stream_position,
    tenant_barrier,
)

# What identifies tenant A's data; none of it may ever reach tenant B.
A_PHONE, A_PHONE2, A_PAIR_PHONE = "56900000001", "56900000002", "56900000009"
A_NAME = "AcmeOnlyCustomer"
A_BODY = "quetzal manzana secreta"
A_MARKERS = [A_PHONE, A_PHONE2, A_PAIR_PHONE, A_NAME, "quetzal", '"clientCode":"acme"']
A_PHOTO = {"type": "image", "mime": "image/png", "data": "iVBORw0KGgo="}  # a PNG signature
B_PHONE, B_PHONE2 = "56977777771", "56977777772"


@dataclass(frozen=True)
class IdCase:
    """A route naming an object by id: what kind of id, the request, and the owner's answer."""

    kind: str  # "conversation", "user", "media", "suppression" or "campaign"
    owner_status: int
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    upload: bool = False  # a multipart body with a small PNG (attachments)


ID_CASES: dict[tuple[str, str], IdCase] = {
    ("GET", "/api/v1/conversations/{id}"): IdCase("conversation", 200),
    ("GET", "/api/v1/conversations/{id}/messages"): IdCase("conversation", 200),
    ("POST", "/api/v1/conversations/{id}/messages"): IdCase(
        "conversation", 201, {"body": "hola desde globex"}, {"Idempotency-Key": "iso-1"}),
    ("POST", "/api/v1/conversations/{id}/read"): IdCase("conversation", 204),
    ("PATCH", "/api/v1/users/{id}"): IdCase("user", 200, {"disabled": True}),
    ("POST", "/api/v1/users/{id}/password-reset"): IdCase("user", 200),
    ("GET", "/api/v1/media/{id}"): IdCase("media", 200),
    ("DELETE", "/api/v1/suppressions/{phone}"): IdCase("suppression", 204),
    ("POST", "/api/v1/conversations/{id}/media"): IdCase("conversation", 201, upload=True),
    # A's own requests run in sorted order: cancel (202) comes first, so the draft is cancelled
    # by the time pause, resume and start are tried (409 invalid_state, still A's campaign).
    ("GET", "/api/v1/bulk/{id}"): IdCase("campaign", 200),
    ("GET", "/api/v1/bulk/{id}/recipients"): IdCase("campaign", 200),
    ("GET", "/api/v1/bulk/{id}/export.csv"): IdCase("campaign", 200),
    ("POST", "/api/v1/bulk/{id}/cancel"): IdCase("campaign", 202),
    ("POST", "/api/v1/bulk/{id}/pause"): IdCase("campaign", 409),
    ("POST", "/api/v1/bulk/{id}/resume"): IdCase("campaign", 409),
    ("POST", "/api/v1/bulk/{id}/start"): IdCase("campaign", 409),
}

# Routes without an id, and the test that shows they stay inside the caller's tenant.
OTHER_CASES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): "test_lists_show_nothing_of_the_other_tenant (user.client_code)",
    ("POST", "/api/v1/auth/logout"): "test_tenant_wide_actions_stay_home",
    ("GET", "/api/v1/me"): "test_lists_show_nothing_of_the_other_tenant",
    ("POST", "/api/v1/me/password"): "test_tenant_wide_actions_stay_home",
    ("PATCH", "/api/v1/me"): "tests/test_settings_api.py::test_own_profile_name_and_language (own user only)",
    ("GET", "/api/v1/tenant"): "tests/test_settings_api.py::test_business_settings_stay_in_the_tenant",
    ("PATCH", "/api/v1/tenant"): "tests/test_settings_api.py::test_business_settings_stay_in_the_tenant",
    ("GET", "/api/v1/users"): "test_lists_show_nothing_of_the_other_tenant",
    ("POST", "/api/v1/users"): "test_tenant_wide_actions_stay_home",
    ("GET", "/api/v1/conversations"): "test_lists_show_nothing_of_the_other_tenant",
    ("GET", "/api/v1/stats"): "test_lists_show_nothing_of_the_other_tenant",
    ("GET", "/api/v1/stats/hourly"): "tests/test_dashboard_api.py::test_hourly_is_the_callers_tenant_only",
    ("GET", "/api/v1/whatsapp"): "test_lists_show_nothing_of_the_other_tenant",
    ("POST", "/api/v1/whatsapp/connect"): "test_tenant_wide_actions_stay_home",
    ("POST", "/api/v1/whatsapp/logout"): "test_tenant_wide_actions_stay_home",
    ("GET", "/api/v1/whatsapp/config"): "test_tenant_wide_actions_stay_home",
    ("PUT", "/api/v1/whatsapp/config"): "test_tenant_wide_actions_stay_home",
    ("GET", "/api/v1/whatsapp/templates"):
        "tests/test_cloud_templates.py::test_lists_the_approved_templates_of_the_tenants_account",
    ("POST", "/api/v1/sandbox/inbound"): "test_sandbox_inbound_never_reaches_the_other_tenant",
    ("GET", "/api/v1/events"): "test_*_long_poll_* and test_replay_*",
    ("GET", "/api/v1/openapi.json"): "a static document, the same for everyone (tests/test_openapi.py)",
    ("POST", "/api/v1/bulk/preview"): "tests/test_bulk_preview.py::test_contacts_source_is_the_callers_tenant_only",
    ("GET", "/api/v1/suppressions"): "tests/test_optout.py::test_lists_never_cross_tenants",
    ("POST", "/api/v1/suppressions"): "tests/test_optout.py::test_lists_never_cross_tenants",
    ("GET", "/api/v1/optout"): "tests/test_optout.py::test_lists_never_cross_tenants",
    ("PUT", "/api/v1/optout"): "tests/test_optout.py::test_lists_never_cross_tenants",
    ("GET", "/api/v1/bulk"): "tests/test_bulk.py::test_another_tenant_can_neither_see_nor_control_a_campaign",
    ("POST", "/api/v1/bulk"): "tests/test_bulk.py::test_another_tenant_can_neither_see_nor_control_a_campaign",
    ("GET", "/api/v1/bot"): "tests/test_bot_api.py::test_status_changes_reach_the_tenant_only",
    ("PUT", "/api/v1/bot"): "tests/test_bot_api.py::test_status_changes_reach_the_tenant_only",
    ("POST", "/api/v1/bot/try"): "tests/test_bot_api.py::test_status_changes_reach_the_tenant_only",
}


@pytest.fixture
def fast_receipts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sandbox receipts at once, so a test can await the last one instead of sleeping."""
    monkeypatch.setattr(sandbox, "RECEIPTS", (("sent", 0.0), ("delivered", 0.0), ("read", 0.0)))


async def request(actor: Actor, method: str, path: str, case: IdCase) -> tuple[int, Any]:
    if case.upload:
        form = aiohttp.FormData()
        form.add_field("file", base64.b64decode(A_PHOTO["data"]), content_type="image/png", filename="a.png")
        resp = await actor.client.request(method, path, data=form, headers={**actor.headers, **case.headers})
    else:
        resp = await actor.client.request(method, path, json=case.json,
                                          headers={**actor.headers, **case.headers})
    body = await resp.json() if resp.content_type == "application/json" else await resp.read()
    return resp.status, body


async def busy_day(client: TestClient, alice: Actor, ws_a: Any) -> None:
    """Tenant A produces every kind of event, each awaited on A's own socket."""
    first = await alice.inbound(phone=A_PHONE, body=A_BODY, name=A_NAME)
    await alice.inbound(phone=A_PHONE2, body=A_BODY + " dos")
    conv = first["conversation_id"]
    await drain_until(ws_a, is_event("new_message", lambda d: d["message"]["body"] == A_BODY + " dos"))
    await alice.inbound(phone=A_PHONE, body=A_BODY + " foto", media=A_PHOTO)
    await drain_until(ws_a, is_event("message_media", lambda d: d["media"]["state"] == "ready"))
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    qr = (await drain_until(ws_a, is_event("whatsapp_qr")))[-1]["data"]
    pair = await client.post("/sandbox/pair/" + qr["value"].rsplit("/", 1)[1], data={"phone": A_PAIR_PHONE})
    assert pair.status == 200
    await drain_until(ws_a, is_event("whatsapp_authenticated"))
    sent = await alice.post(f"/api/v1/conversations/{conv}/messages", {"body": A_BODY + " respuesta"})
    assert sent.status == 201
    out_id = (await sent.json())["id"]
    await drain_until(ws_a, is_event("message_status",
                                     lambda d: d["message_id"] == out_id and d["status"] == "read"))
    assert (await alice.post(f"/api/v1/conversations/{conv}/read")).status == 204
    await drain_until(ws_a, is_event("stats_updated",
                                     lambda d: d["unread"] == 1 and d["messages_today_out"] == 1))
    agent = await make_actor(client, "acme", role="agent")  # presence and typing, both ephemeral
    ws_agent, _ = await agent.ws()
    await drain_until(ws_a, is_event("presence_changed"))
    await ws_agent.send_json({"type": "call", "id": 1, "method": "typing",
                              "params": {"conversation_id": conv}})
    await drain_until(ws_a, is_event("typing"))


async def test_every_api_route_has_an_isolation_case(client: TestClient) -> None:
    routes = set(api_routes(client))
    assert routes, "no /api/v1 routes found"
    missing = routes - set(ID_CASES) - set(OTHER_CASES)
    assert not missing, f"add an isolation case for {sorted(missing)}"
    stale = (set(ID_CASES) | set(OTHER_CASES)) - routes
    assert not stale, f"cases for routes that no longer exist: {sorted(stale)}"
    for method, path in routes:
        assert ("{" in path) == ((method, path) in ID_CASES), (method, path)


async def test_foreign_ids_answer_like_missing_ones(client: TestClient, alice: Actor, bob: Actor) -> None:
    a_conv = (await alice.inbound(phone=A_PHONE, body=A_BODY, name=A_NAME))["conversation_id"]
    a_agent = await make_actor(client, "acme", role="agent")
    await bob.inbound(phone=B_PHONE, body="globex propio")
    a_photo = (await alice.inbound(phone=A_PHONE2, body="", media=A_PHOTO))["message_id"]
    await client.app[keys.MEDIA_FETCHER].idle()
    assert (await alice.post("/api/v1/suppressions", {"phone": A_PHONE})).status == 201
    a_campaign = await alice.post("/api/v1/bulk", {"name": "A", "body": A_BODY,
                                                   "recipients": [{"phone": "+56987654321"}]})
    assert a_campaign.status == 201
    foreign = {"conversation": [a_conv], "user": [str(a_agent.user_id), str(alice.user_id)],
               "media": [a_photo], "suppression": [A_PHONE], "campaign": [(await a_campaign.json())["id"]]}
    id_routes = [r for r in api_routes(client) if "{" in r[1]]
    assert len(id_routes) >= len(ID_CASES)
    for method, path in sorted(id_routes):
        case = ID_CASES.get((method, path))
        assert case is not None, f"no isolation case for {method} {path}"
        missing = [await request(bob, method, fill(path, v), case) for v in ("999999999", "nope")]
        for status, body in missing:
            assert status == 404 and body["error"]["code"] == "not_found", (method, path, missing)
        for object_id in foreign[case.kind]:
            got = await request(bob, method, fill(path, object_id), case)
            assert got == missing[0], (method, path, got, missing[0])

    # Nothing of A changed, and A's token and its agent's still work.
    item = await (await alice.get(f"/api/v1/conversations/{a_conv}")).json()
    assert item["unread_count"] == 1 and item["last_message"]["body"] == A_BODY
    msgs = await (await alice.get(f"/api/v1/conversations/{a_conv}/messages")).json()
    assert [m["body"] for m in msgs["items"]] == [A_BODY]
    assert (await a_agent.get("/api/v1/me")).status == 200
    users = (await (await alice.get("/api/v1/users")).json())["items"]
    assert not any(u["disabled"] for u in users)
    # The same requests by A on its own ids succeed: the ids B used were real.
    for method, path in sorted(id_routes):
        case = ID_CASES[(method, path)]
        status, body = await request(alice, method, fill(path, foreign[case.kind][0]), case)
        assert status == case.owner_status, (method, path, status, body)


async def test_lists_show_nothing_of_the_other_tenant(client: TestClient, alice: Actor, bob: Actor) -> None:
    a_conv = (await alice.inbound(phone=A_PHONE, body=A_BODY, name=A_NAME))["conversation_id"]
    await alice.inbound(phone=A_PHONE2, body="otra cosa")
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    b_conv = (await bob.inbound(phone=B_PHONE, body="globex hola", name="Gina"))["conversation_id"]

    async def convs(actor: Actor, query: str) -> list[str]:
        resp = await actor.get("/api/v1/conversations" + query)
        assert resp.status == 200
        body = await resp.json()
        if actor is bob:
            assert_clean([body], A_MARKERS)
        return [c["id"] for c in body["items"]]

    assert await convs(alice, "?q=quetzal") == [a_conv]  # the search works...
    for query in ("", "?status=all", "?unread=1", "?status=closed", "?q=quetzal", "?q=manzana%20secreta",
                  f"?q={A_PHONE}", f"?q={A_NAME}", "?q=acme", "?q=%25", "?q=_"):
        expected = [b_conv] if query in ("", "?status=all", "?unread=1") else []
        assert await convs(bob, query) == expected, query  # ...but never across tenants
    assert await convs(bob, "?q=globex") == [b_conv]

    me = await (await bob.get("/api/v1/me")).json()
    assert me["client_code"] == "globex" and me["id"] == str(bob.user_id)
    relogin = await client.post("/api/v1/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert (await relogin.json())["user"]["client_code"] == "globex"
    await make_actor(client, "acme", role="agent")
    users = (await (await bob.get("/api/v1/users")).json())["items"]
    assert [(u["id"], u["client_code"]) for u in users] == [(str(bob.user_id), "globex")]
    stats = await stats_now(bob)
    assert (stats["contacts"], stats["unread"], stats["messages_today_in"]) == (1, 1, 1)
    assert (await stats_now(alice))["contacts"] == 2
    wa = await (await bob.get("/api/v1/whatsapp")).json()
    assert wa["state"] == "stopped" and wa["qr"] is None
    assert (await (await alice.get("/api/v1/whatsapp")).json())["state"] in ("starting", "qr_pending")
    epoch_a, _ = await stream_position(alice)
    epoch_b, head_b = await stream_position(bob)
    assert epoch_a != epoch_b
    events = await (await bob.get(f"/api/v1/events?since=0&epoch={epoch_b}&timeout=0")).json()
    assert events["epoch"] == epoch_b and events["events"], events
    assert_clean(events["events"], A_MARKERS)
    assert all(e["seq"] <= events["head"] for e in events["events"])
    assert events["head"] >= head_b


async def test_sandbox_inbound_never_reaches_the_other_tenant(alice: Actor, bob: Actor) -> None:
    a = await alice.inbound(phone=A_PHONE, body=A_BODY, id="wamid.shared-1")
    assert (await stats_now(bob))["contacts"] == 0
    items = (await (await bob.get("/api/v1/conversations?status=all")).json())["items"]
    assert items == []
    # The same provider id and phone in B is B's own message, not a duplicate of A's.
    b = await bob.inbound(phone=A_PHONE, body="globex", id="wamid.shared-1")
    assert b["duplicate"] is False
    assert b["conversation_id"] != a["conversation_id"] and b["message_id"] != a["message_id"]
    msgs = (await (await alice.get(f"/api/v1/conversations/{a['conversation_id']}/messages")).json())
    assert [m["body"] for m in msgs["items"]] == [A_BODY]
    again = await alice.inbound(phone=A_PHONE, body=A_BODY, id="wamid.shared-1")
    assert again["duplicate"] is True and again["message_id"] == a["message_id"]


async def test_tenant_wide_actions_stay_home(client: TestClient, alice: Actor, bob: Actor) -> None:
    ws_a, _ = await alice.ws()
    await alice.inbound(phone=A_PHONE, body=A_BODY)
    await drain_until(ws_a, is_event("stats_updated"))
    a_cloud = {"provider": "cloud", "phone_number_id": "1110001", "access_token": "acme-token-XYZW",
               "app_secret": "acme-app-secret-QRST", "verify_token": "acme-verify-LMNO"}
    assert (await alice.client.put("/api/v1/whatsapp/config", json=a_cloud,
                                   headers=alice.headers)).status == 200
    assert (await alice.client.put("/api/v1/whatsapp/config", json={"provider": "sandbox"},
                                   headers=alice.headers)).status == 200
    users_a = (await (await alice.get("/api/v1/users")).json())["items"]
    wa_a = await (await alice.get("/api/v1/whatsapp")).json()
    config_a = await (await alice.get("/api/v1/whatsapp/config")).json()
    assert config_a["phone_number_id"] == "1110001"

    config_b = await (await bob.get("/api/v1/whatsapp/config")).json()
    assert config_b["provider"] == "sandbox" and config_b["webhook_url"].endswith("/globex")
    assert_clean([config_b], ["1110001", "XYZW", "QRST", "LMNO", "acme"])

    assert (await bob.post("/api/v1/whatsapp/connect")).status == 202
    assert (await (await bob.get("/api/v1/whatsapp")).json())["state"] in ("starting", "qr_pending")
    assert (await bob.post("/api/v1/whatsapp/logout")).status == 202
    b_cloud = {"provider": "cloud", "phone_number_id": "2220002", "access_token": "globex-token-1234",
               "app_secret": "globex-app-secret", "verify_token": "globex-verify"}
    assert (await bob.client.put("/api/v1/whatsapp/config", json=b_cloud,
                                 headers=bob.headers)).status == 200
    taken = await bob.client.put("/api/v1/whatsapp/config", json={**b_cloud, "phone_number_id": "1110001"},
                                 headers=bob.headers)
    assert taken.status == 409
    assert_clean([await taken.json()], ["XYZW", "QRST", "LMNO", "acme"])
    new_user = {"email": "nueva@globex.test", "password": "otra clave segura", "role": "agent"}
    assert (await bob.post("/api/v1/users", new_user)).status == 201
    bob2 = await make_actor(client, "globex")
    assert (await bob2.post("/api/v1/auth/logout")).status == 204
    pw = {"current_password": PASSWORD, "new_password": "una clave nueva"}
    assert (await bob.post("/api/v1/me/password", pw)).status == 204

    assert (await alice.get("/api/v1/me")).status == 200
    assert (await (await alice.get("/api/v1/users")).json())["items"] == users_a
    assert await (await alice.get("/api/v1/whatsapp")).json() == wa_a
    assert await (await alice.get("/api/v1/whatsapp/config")).json() == config_a
    assert await login(client, bob.email, "una clave nueva")
    # Nothing B did (QR, link events, logout, password change) reached A's socket.
    await tenant_barrier(ws_a, alice, phone=A_PHONE2, body="barrera")


async def test_live_socket_never_carries_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    ws_b, welcome_b = await bob.ws()
    ws_a, welcome_a = await alice.ws()
    assert welcome_b["epoch"] != welcome_a["epoch"]
    await busy_day(client, alice, ws_a)
    frames = await tenant_barrier(ws_b, bob, phone=B_PHONE, body="globex barrera")
    frames += await drain_until(ws_b, is_event("stats_updated"))
    assert_clean(frames, A_MARKERS)


async def test_waiting_long_poll_never_wakes_for_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    signal = ParkSignal(client)
    try:
        ws_a, _ = await alice.ws()
        epoch_b, head_b = await stream_position(bob)
        poll = await poll_while_parked(bob, signal, head_b, epoch_b)
        await busy_day(client, alice, ws_a)
        mine = await bob.inbound(phone=B_PHONE, body="globex barrera")
        answer = await poll
    finally:
        signal.restore()
    assert answer["epoch"] == epoch_b
    events = answer["events"]
    # Woken by B's own message, not earlier by A's events, and carrying none of A's.
    assert events and events[0]["event"] == "new_message", answer
    assert events[0]["data"]["message"]["id"] == mine["message_id"]
    assert_clean(events, A_MARKERS)


async def test_replay_never_carries_the_other_tenant(
    client: TestClient, alice: Actor, bob: Actor, fast_receipts: None,
) -> None:
    ws_a, _ = await alice.ws()
    await busy_day(client, alice, ws_a)
    mine = await bob.inbound(phone=B_PHONE, body="globex propio")
    epoch_a, head_a = await stream_position(alice)
    epoch_b, _ = await stream_position(bob)

    ws_b, welcome = await bob.ws(resume={"epoch": epoch_b, "seq": 0})
    assert welcome["resume"] == "replaying" and welcome["epoch"] == epoch_b
    frames = await drain_until(ws_b, lambda f: f["type"] == "replay_end")
    replayed = [f for f in frames if f["type"] == "event"]
    assert mine["message_id"] in [f["data"]["message"]["id"] for f in replayed if f["event"] == "new_message"]
    assert_clean(frames, A_MARKERS)

    polled = await (await bob.get(f"/api/v1/events?since=0&epoch={epoch_b}&timeout=0")).json()
    assert polled["epoch"] == epoch_b and polled["events"]
    assert_clean(polled["events"], A_MARKERS)
    assert mine["message_id"] in [e["data"]["message"]["id"] for e in polled["events"]
                                  if e["event"] == "new_message"]

    # A's epoch, or A's cursor, names nothing in B's stream: resync, never A's events.
    assert head_a > welcome["head"]
    ws_b2, welcome2 = await bob.ws(resume={"epoch": epoch_a, "seq": 0})
    ws_b3, welcome3 = await bob.ws(resume={"epoch": epoch_b, "seq": head_a})
    for welcome_ in (welcome2, welcome3):
        assert welcome_["resume"] == "resync_required" and welcome_["epoch"] == epoch_b
    frames2 = await tenant_barrier(ws_b2, bob, phone=B_PHONE2, body="globex barrera")
    frames3 = await drain_until(ws_b3, is_event("new_message"))
    assert frames3[-1]["data"]["message"]["id"] == frames2[-1]["data"]["message"]["id"]
    assert_clean(frames2 + frames3, A_MARKERS)
    gone = await bob.get(f"/api/v1/events?since=0&epoch={epoch_a}&timeout=0")
    assert gone.status == 410
    body = await gone.json()
    assert body["error"]["code"] == "resync_required" and "events" not in body
    assert_clean([body], A_MARKERS)
    assert body["error"].get("epoch", epoch_b) == epoch_b


async def test_typing_cannot_name_the_other_tenants_conversation(alice: Actor, bob: Actor) -> None:
    ws_a, _ = await alice.ws()
    ws_b, _ = await bob.ws()
    a_conv = (await alice.inbound(phone=A_PHONE, body=A_BODY))["conversation_id"]
    b_conv = (await bob.inbound(phone=B_PHONE, body="globex"))["conversation_id"]
    await bob.inbound(phone=B_PHONE2, body="globex dos")  # B's figures differ from A's
    await drain_until(ws_a, is_event("stats_updated"))

    async def typing(call_id: int, conv: str) -> dict[str, Any]:
        await ws_b.send_json({"type": "call", "id": call_id, "method": "typing",
                              "params": {"conversation_id": conv}})
        return (await drain_until(ws_b, lambda f: f["type"] == "result"))[-1]

    foreign = await typing(1, a_conv)
    missing = await typing(2, "999999999")
    assert foreign["ok"] is False and foreign["error"]["code"] == "not_found", foreign
    assert {**foreign, "id": 0} == {**missing, "id": 0}
    assert (await typing(3, b_conv))["ok"] is True  # typing in B's own conversation works
    await ws_b.send_json({"type": "call", "id": 4, "method": "presence"})
    result = (await drain_until(ws_b, lambda f: f["type"] == "result"))[-1]
    assert result["data"]["online"] == [str(bob.user_id)]
    # A's socket got no typing event, neither for its own conversation nor for B's.
    frames = await tenant_barrier(ws_a, alice, phone=A_PHONE2, body="barrera")
    assert not [f for f in frames if f.get("event") == "typing"]
