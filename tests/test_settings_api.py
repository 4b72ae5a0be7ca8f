"""Settings over REST: team members with one-time passwords, the forced password change, own
profile, business settings; agents refused; other tenants untouched."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.helpers.actors import Actor, login, make_actor
from tests.helpers.api import assert_error, json_ok
from tests.helpers.frames import closed_with


async def add_agent(alice: Actor, email: str = "eva@acme.test") -> dict:
    return await json_ok(await alice.post("/api/v1/users", {"name": "Eva", "email": email, "role": "agent"}), 201)


async def test_a_new_member_gets_a_one_time_password_and_must_change_it(client: TestClient, alice: Actor) -> None:
    eva = await add_agent(alice)
    otp = eva.pop("one_time_password")
    assert len(otp) >= 12 and eva["must_change_password"] is True and eva["role"] == "agent"
    listed = (await json_ok(await alice.get("/api/v1/users")))["items"]
    assert "one_time_password" not in str(listed)  # shown once, never again
    token = await login(client, "eva@acme.test", otp)
    headers = {"Authorization": f"Bearer {token}"}
    me = await json_ok(await client.get("/api/v1/me", headers=headers))
    assert me["must_change_password"] is True
    for method, path in (("GET", "/api/v1/conversations"), ("GET", "/api/v1/stats"),
                         ("GET", "/api/v1/events"), ("PATCH", "/api/v1/me")):
        resp = await client.request(method, path, headers=headers, json={})
        await assert_error(resp, 403, "password_change_required")
    ws = await client.ws_connect("/ws?v=1")
    await ws.send_json({"type": "hello", "v": 1, "token": token})
    code, _ = await closed_with(ws)
    assert code == 4501  # nor does the live stream show anything
    page = await client.get("/", headers=headers, allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/account/password"
    changed = await client.post("/api/v1/me/password", headers=headers,
                                json={"current_password": otp, "new_password": "la mía de verdad"})
    assert changed.status == 204
    token = await login(client, "eva@acme.test", "la mía de verdad")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/conversations", headers=headers)).status == 200
    assert (await json_ok(await client.get("/api/v1/me", headers=headers)))["must_change_password"] is False


async def test_an_explicit_password_keeps_the_old_behaviour(client: TestClient, alice: Actor) -> None:
    user = await json_ok(await alice.post("/api/v1/users", {"email": "x@acme.test", "password": "elegida por api"}), 201)
    assert "one_time_password" not in user and user["must_change_password"] is False
    await login(client, "x@acme.test", "elegida por api")


async def test_reset_password_ends_sessions_and_forces_a_change(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    answer = await json_ok(await alice.post(f"/api/v1/users/{agent.user_id}/password-reset"))
    assert answer["must_change_password"] is True and answer["id"] == str(agent.user_id)
    assert (await agent.get("/api/v1/me")).status == 401  # the old session is over
    token = await login(client, agent.email, answer["one_time_password"])
    resp = await client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    await assert_error(resp, 403, "password_change_required")
    await assert_error(await alice.post(f"/api/v1/users/{alice.user_id}/password-reset"), 400, "cannot_reset_self")


async def test_role_and_disable_from_settings(client: TestClient, alice: Actor) -> None:
    eva = await add_agent(alice)
    promoted = await json_ok(await alice.patch(f"/api/v1/users/{eva['id']}", {"role": "admin"}))
    assert promoted["role"] == "admin"
    off = await json_ok(await alice.patch(f"/api/v1/users/{eva['id']}", {"disabled": True}))
    assert off["disabled"] is True
    await assert_error(await alice.patch(f"/api/v1/users/{alice.user_id}", {"role": "agent"}), 400,
                       "cannot_change_own_role")
    assert (await json_ok(await alice.get("/api/v1/me")))["role"] == "admin"


async def test_agents_are_refused_the_admin_parts(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    for method, path, body in (("GET", "/api/v1/users", None), ("POST", "/api/v1/users", {"email": "z@acme.test"}),
                               ("PATCH", f"/api/v1/users/{alice.user_id}", {"disabled": True}),
                               ("POST", f"/api/v1/users/{alice.user_id}/password-reset", None),
                               ("PATCH", "/api/v1/tenant", {"name": "Mía"})):
        await assert_error(await client.request(method, path, json=body, headers=agent.headers), 403, "forbidden")
    page = await agent.get("/settings/team")
    assert page.status == 403
    own = await (await agent.get("/settings")).text()
    assert 'id="profile"' in own and 'id="team"' not in own and 'id="business"' not in own
    assert (await json_ok(await agent.get("/api/v1/tenant")))["name"] == "Acme"
    assert (await alice.get("/api/v1/me")).status == 200  # nothing happened to the admin


async def test_own_profile_name_and_language(alice: Actor) -> None:
    resp = await alice.patch("/api/v1/me", {"name": "Ana María", "lang": "en"})
    me = await json_ok(resp)
    assert me["name"] == "Ana María" and me["lang"] == "en"
    assert resp.cookies["lang"].value == "en"
    html = await (await alice.get("/settings", headers={"Cookie": "lang=en"})).text()
    assert "My profile" in html
    await assert_error(await alice.patch("/api/v1/me", {"lang": "fr"}), 400, "invalid_field")
    cleared = await alice.patch("/api/v1/me", {"lang": ""})
    assert (await json_ok(cleared))["lang"] is None and cleared.cookies["lang"].value == "es"


async def test_business_settings_stay_in_the_tenant(alice: Actor, bob: Actor) -> None:
    got = await json_ok(await alice.patch("/api/v1/tenant", {"name": "Acme Limitada", "default_lang": "en",
                                                              "timezone": "America/Santiago"}))
    assert got == {"code": "acme", "name": "Acme Limitada", "provider": "sandbox",
                   "timezone": "America/Santiago", "default_lang": "en", "default_country": "CL"}
    await assert_error(await alice.patch("/api/v1/tenant", {"timezone": "Mars/Olympus"}), 400, "invalid_field")
    await assert_error(await alice.patch("/api/v1/tenant", {"default_lang": "fr"}), 400, "invalid_field")
    await assert_error(await alice.patch("/api/v1/tenant", {"name": "   "}), 400, "invalid_field")
    other = await json_ok(await bob.get("/api/v1/tenant"))
    assert other["code"] == "globex" and other["name"] == "Globex" and other["default_lang"] == "es"
    await json_ok(await bob.patch("/api/v1/tenant", {"name": "Globex SpA"}))
    assert (await json_ok(await alice.get("/api/v1/tenant")))["name"] == "Acme Limitada"


async def test_the_business_default_language_applies_at_sign_in(client: TestClient, alice: Actor) -> None:
    await json_ok(await alice.patch("/api/v1/tenant", {"default_lang": "en"}))
    agent = await make_actor(client, "acme", role="agent")
    client.session.cookie_jar.clear()
    resp = await client.post("/login", data={"email": agent.email, "password": "correct horse battery"},
                             headers={"Origin": str(client.make_url("")).rstrip("/")}, allow_redirects=False)
    assert resp.status == 303 and resp.cookies["lang"].value == "en"


async def test_the_default_country_follows_the_time_zone_until_chosen(alice: Actor, bob: Actor) -> None:
    got = await json_ok(await alice.patch("/api/v1/tenant", {"timezone": "Europe/Madrid"}))
    assert got["default_country"] == "ES"  # nobody chose one: the time zone's country
    got = await json_ok(await alice.patch("/api/v1/tenant", {"default_country": "ar"}))
    assert got["default_country"] == "AR"
    got = await json_ok(await alice.patch("/api/v1/tenant", {"timezone": "America/Mexico_City"}))
    assert got["default_country"] == "AR"  # a chosen country stays chosen
    for bad in ("XX", "", 56, "Chile"):
        resp = await alice.patch("/api/v1/tenant", {"default_country": bad})
        await assert_error(resp, 400, "invalid_field")
    assert (await json_ok(await alice.get("/api/v1/tenant")))["default_country"] == "AR"
    assert (await json_ok(await bob.get("/api/v1/tenant")))["default_country"] == "CL"  # UTC -> fallback
    await assert_error(await bob.patch("/api/v1/tenant", {"default_country": 1}), 400, "invalid_field")


async def test_the_settings_page_offers_the_default_country(alice: Actor) -> None:
    await json_ok(await alice.patch("/api/v1/tenant", {"timezone": "Europe/Madrid"}))
    html = await (await alice.get("/settings?lang=es")).text()
    assert '<select name="default_country">' in html
    assert re.search(r'<option value="ES" selected>España</option>', html)
    assert '<option value="CL" >Chile</option>' in html
    await json_ok(await alice.patch("/api/v1/tenant", {"default_country": "JP"}))  # not on the short list
    html = await (await alice.get("/settings?lang=en")).text()
    assert '<option value="JP" selected>' in html and "Country of phone numbers" in html
