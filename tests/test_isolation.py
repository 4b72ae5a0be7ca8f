"""PROTOCOL §2 and §4.1: tenant B never sees, changes or learns about anything of tenant A.

Every /api/v1 route must be named below with the case that covers it, so a new route cannot be
added without deciding how its isolation is tested. The realtime paths (socket, long-poll,
replay, typing) are in tests/test_isolation_realtime.py.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from app import keys
from tests.helpers.actors import PASSWORD, Actor, login, make_actor
from tests.helpers.frames import drain_until, is_event
from tests.helpers.security import (
    api_routes,
    assert_clean,
    fill,
    stats_now,
    stream_position,
    tenant_barrier,
)
from tests.helpers.tenant_a import A_BODY, A_MARKERS, A_NAME, A_PHONE, A_PHONE2, A_PHOTO, B_PHONE


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
