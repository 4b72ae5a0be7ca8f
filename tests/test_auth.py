"""Authentication (PROTOCOL §2, §3.3; reference §2–3): every bad credential is refused on REST
(401 JSON with error.code) and on /ws (error frame, then 4501, 4003 or 4503); revocation closes
open sockets; login is throttled and says the same for every failure; the browser session is
an HttpOnly Lax cookie guarded by an Origin check."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from app import create_app, keys
from app.auth.session import COOKIE_NAME
from app.config import Config
from tests.helpers.actors import PASSWORD, Actor, login, make_actor
from tests.helpers.frames import closed_with, drain_until, next_frame
from tests.helpers.security import (
    alg_none,
    api_routes,
    assert_closed,
    claims_of,
    expired,
    fill,
    rest_error,
    sign,
    tamper,
    tenant_barrier,
    without,
    ws_hello,
    ws_refused,
)

# The OpenAPI document is the same for everyone and holds no data (tests/test_openapi.py).
PUBLIC_API = {("POST", "/api/v1/auth/login"), ("GET", "/api/v1/openapi.json")}
NEW_PASSWORD = "otra clave larga"

Forge = Callable[[TestClient, Actor, Actor], str]
FORGERIES: dict[str, tuple[Forge, str]] = {
    "alg_none": (lambda c, a, b: alg_none(a.token), "unauthorized"),
    "alg_none_old_signature": (lambda c, a, b: alg_none(a.token, keep_signature=True), "unauthorized"),
    "hs512_right_key": (lambda c, a, b: sign(c, claims_of(a.token), algorithm="HS512"), "unauthorized"),
    "wrong_key": (lambda c, a, b: sign(c, claims_of(a.token), key=secrets.token_urlsafe(48)),
                  "unauthorized"),
    "tampered_tid": (lambda c, a, b: tamper(a.token, tid=b.tenant_id), "unauthorized"),
    "tampered_sub": (lambda c, a, b: tamper(a.token, sub=str(b.user_id)), "unauthorized"),
    "tampered_exp": (lambda c, a, b: tamper(a.token, exp=claims_of(a.token)["exp"] + 86400),
                     "unauthorized"),
    "missing_exp": (lambda c, a, b: without(c, a.token, "exp"), "unauthorized"),
    "missing_iat": (lambda c, a, b: without(c, a.token, "iat"), "unauthorized"),
    "missing_sub": (lambda c, a, b: without(c, a.token, "sub"), "unauthorized"),
    "expired": (lambda c, a, b: expired(c, a.token), "token_expired"),
    # Correctly signed (as if the secret leaked) but naming a user outside the tenant, a stale
    # token version or an unknown session: the database still says no.
    "signed_other_tenant": (lambda c, a, b: sign(c, {**claims_of(a.token), "tid": b.tenant_id}),
                            "unauthorized"),
    "signed_old_version": (lambda c, a, b: sign(c, {**claims_of(a.token), "ver": 0}), "unauthorized"),
    "signed_unknown_session": (lambda c, a, b: sign(c, {**claims_of(a.token), "sid": "nope"}),
                               "unauthorized"),
}
GARBAGE = ["", "garbage", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30.", "null", "x" * 4000,
           "Bearer abc", "ey.ey.ey.ey"]


def origin(client: TestClient) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def cookie_login(client: TestClient, actor: Actor, **form: str) -> Any:
    data = {"email": actor.email, "password": PASSWORD, **form}
    return await client.post("/login", data=data, allow_redirects=False)


async def test_actors_token_works(alice: Actor) -> None:
    """The control for every refusal below: the real token is accepted on both transports."""
    assert (await alice.get("/api/v1/me")).status == 200
    _, welcome = await alice.ws()
    assert welcome["user"]["id"] == str(alice.user_id)


@pytest.mark.parametrize("kind", sorted(FORGERIES))
async def test_forged_token_refused(client: TestClient, alice: Actor, bob: Actor, kind: str) -> None:
    forge, code = FORGERIES[kind]
    token = forge(client, alice, bob)
    assert token != alice.token
    assert (await rest_error(client, token))["code"] == code
    if code == "token_expired":
        await ws_refused(client, token, code=4003, name="token_expired")
    else:
        await ws_refused(client, token)
    assert (await alice.get("/api/v1/me")).status == 200


async def test_garbage_refused(client: TestClient, alice: Actor) -> None:
    for token in GARBAGE:
        assert (await rest_error(client, token))["code"] == "unauthorized", token
    for value in ("Basic YTpi", "Token " + alice.token, alice.token, "Bearer"):
        resp = await client.get("/api/v1/me", headers={"Authorization": value})
        assert resp.status == 401, value
        assert (await resp.json())["error"]["code"] == "unauthorized"
    for token in [*GARBAGE, None, 12345, ["x"], {"token": alice.token}]:
        await ws_refused(client, token)
    ws = await ws_hello(client)  # no token, no cookie
    code, seen = await closed_with(ws)
    assert code == 4501 and seen[0]["error"]["code"] == "unauthorized"


async def test_token_expiring_while_connected_closes_4003(client: TestClient, alice: Actor) -> None:
    token = expired(client, alice.token, seconds_ago=2)  # within the 5 s leeway: accepted...
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status == 200
    ws = await ws_hello(client, token)
    await assert_closed(ws, 4003, "token_expired")  # ...but a socket does not outlive its exp


async def test_every_api_route_needs_credentials(client: TestClient) -> None:
    routes = api_routes(client)
    public = {r for r, handler in routes.items() if getattr(handler, "__condorito_public__", False)}
    assert public == PUBLIC_API
    assert len(routes) > len(PUBLIC_API)
    for method, path in sorted(set(routes) - PUBLIC_API):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Cookie": f"{COOKIE_NAME}=nope"}):
            resp = await client.request(method, fill(path, "1"), json={}, headers=headers)
            assert resp.status == 401, (method, path, headers, resp.status)
            assert (await resp.json())["error"]["code"] == "unauthorized", (method, path)


async def test_logout_kills_that_session_and_its_sockets(client: TestClient, alice: Actor) -> None:
    ws1, _ = await alice.ws()
    ws2, _ = await alice.ws()
    other = dataclasses.replace(alice, token=await login(client, alice.email), sockets=[])
    ws_other, _ = await other.ws()
    assert (await alice.post("/api/v1/auth/logout")).status == 204
    await assert_closed(ws1)
    await assert_closed(ws2)
    assert (await rest_error(client, alice.token))["code"] == "unauthorized"
    await ws_refused(client, alice.token)
    assert (await alice.post("/api/v1/auth/logout")).status == 401
    # The user's other login is untouched, socket included.
    assert (await other.get("/api/v1/me")).status == 200
    await tenant_barrier(ws_other, other, phone="56911110000", body="sigo aquí")


async def test_password_change_kills_every_session_of_the_user(
    client: TestClient, alice: Actor, bob: Actor
) -> None:
    agent = await make_actor(client, "acme", role="agent")
    second = dataclasses.replace(agent, token=await login(client, agent.email), sockets=[])
    ws1, _ = await agent.ws()
    ws2, _ = await second.ws()
    ws_alice, _ = await alice.ws()
    wrong = await agent.post("/api/v1/me/password",
                             {"current_password": "not it at all", "new_password": NEW_PASSWORD})
    assert wrong.status == 400 and (await wrong.json())["error"]["code"] == "invalid_credentials"
    assert (await agent.get("/api/v1/me")).status == 200
    ok = await agent.post("/api/v1/me/password",
                          {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert ok.status == 204
    await assert_closed(ws1)
    await assert_closed(ws2)
    for token in (agent.token, second.token):
        assert (await rest_error(client, token))["code"] == "unauthorized"
        await ws_refused(client, token)
    bad = await client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    assert bad.status == 401
    assert await login(client, agent.email, NEW_PASSWORD)
    # Other users keep their sessions and sockets (alice only sees her colleague go offline).
    assert (await bob.get("/api/v1/me")).status == 200
    gone = await drain_until(ws_alice, lambda f: f.get("event") == "presence_changed")
    assert gone[-1]["data"] == {"user_id": str(agent.user_id), "online": False}
    await tenant_barrier(ws_alice, alice, phone="56911110000", body="sigo aquí")


async def test_disabled_user_is_locked_out(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    ws1, _ = await agent.ws()
    ws2, _ = await agent.ws()
    resp = await alice.patch(f"/api/v1/users/{agent.user_id}", {"disabled": True})
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    await assert_closed(ws1)
    await assert_closed(ws2)
    assert (await rest_error(client, agent.token))["code"] == "unauthorized"
    await ws_refused(client, agent.token)
    denied = await client.post("/api/v1/auth/login", json={"email": agent.email, "password": PASSWORD})
    unknown = await client.post("/api/v1/auth/login", json={"email": "nadie@acme.test", "password": PASSWORD})
    assert denied.status == unknown.status == 401
    assert await denied.json() == await unknown.json()
    # Enabling again does not bring the old token back; a new login works.
    assert (await alice.patch(f"/api/v1/users/{agent.user_id}", {"disabled": False})).status == 200
    assert (await rest_error(client, agent.token))["code"] == "unauthorized"
    assert await login(client, agent.email)
    selfdisable = await alice.patch(f"/api/v1/users/{alice.user_id}", {"disabled": True})
    assert selfdisable.status == 400


async def test_suspended_tenant_is_forbidden(client: TestClient, alice: Actor, bob: Actor) -> None:
    app = client.app
    await app[keys.DB].write(lambda tx: tx.execute(
        "UPDATE tenants SET status = 'suspended' WHERE id = ?", (alice.tenant_id,)))
    app[keys.AUTH].forget_user(alice.user_id)
    assert (await rest_error(client, alice.token, status=403))["code"] == "forbidden"
    await ws_refused(client, alice.token, code=4503, name="forbidden")
    resp = await client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "invalid_credentials"
    assert (await bob.get("/api/v1/me")).status == 200


async def test_login_failures_look_alike(client: TestClient, alice: Actor) -> None:
    answers = []
    for email, password in ((alice.email, "wrong password"), ("nobody@acme.test", PASSWORD),
                            ("nobody@acme.test", "wrong password"), (alice.email.upper(), "nope nope")):
        resp = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        answers.append((resp.status, await resp.json()))
    assert answers[0][0] == 401 and answers[0][1]["error"]["code"] == "invalid_credentials"
    assert all(a == answers[0] for a in answers), answers
    ok = await client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD})
    user = (await ok.json())["user"]
    assert user["id"] == str(alice.user_id) and user["client_code"] == "acme"


async def test_login_is_throttled(aiohttp_client: Any, config: Config) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(config, login_max_failures=3)))
    alice = await make_actor(client, "acme")
    other = await make_actor(client, "acme")

    async def attempt(email: str, password: str) -> Any:
        return await client.post("/api/v1/auth/login", json={"email": email, "password": password})

    for email in (alice.email, "nobody@acme.test"):  # unknown e-mails are throttled alike
        for _ in range(3):
            assert (await attempt(email, "wrong password")).status == 401
        resp = await attempt(email, PASSWORD)  # even the right password now waits
        assert resp.status == 429, email
        assert (await resp.json())["error"]["code"] == "rate_limited"
        retry = int(resp.headers["Retry-After"])
        assert 0 < retry <= config.login_window
    page = await client.post("/login", data={"email": alice.email, "password": PASSWORD},
                             allow_redirects=False)
    assert page.status == 429 and COOKIE_NAME not in page.cookies
    # Per account: another account from the same address still logs in.
    assert await login(client, other.email)


async def test_agent_cannot_use_admin_routes(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    admin_only = [
        ("POST", "/api/v1/users", {"email": "x@acme.test", "password": "long enough 1", "role": "admin"}),
        ("GET", "/api/v1/users", None),
        ("PATCH", f"/api/v1/users/{agent.user_id}", {"role": "admin"}),
        ("PATCH", f"/api/v1/users/{alice.user_id}", {"disabled": True}),
        ("POST", "/api/v1/whatsapp/connect", None),
        ("POST", "/api/v1/whatsapp/logout", None),
        ("GET", "/api/v1/whatsapp/config", None),
        ("PUT", "/api/v1/whatsapp/config", {"provider": "cloud"}),
    ]
    for method, path, body in admin_only:
        resp = await client.request(method, path, json=body, headers=agent.headers)
        assert resp.status == 403, (method, path, resp.status)
        assert (await resp.json())["error"]["code"] == "forbidden"
    users = (await (await alice.get("/api/v1/users")).json())["items"]
    assert sorted((u["email"], u["role"], u["disabled"]) for u in users) == sorted(
        [(alice.email, "admin", False), (agent.email, "agent", False)])
    assert (await (await alice.get("/api/v1/whatsapp")).json())["state"] == "stopped"
    assert (await agent.get("/api/v1/conversations")).status == 200  # agents do their work


async def test_browser_session_cookie(client: TestClient, alice: Actor) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    failed = await cookie_login(client, alice, password="wrong password")
    assert failed.status == 401 and COOKIE_NAME not in failed.cookies
    resp = await cookie_login(client, alice, next="//evil.example/x")
    assert resp.status == 303 and resp.headers["Location"] == "/"  # no open redirect
    set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(COOKIE_NAME + "="))
    attrs = [a.strip().lower() for a in set_cookie.split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs
    assert (await cookie_login(client, alice, next="/chat")).headers["Location"] == "/chat"

    me = await client.get("/api/v1/me")  # the jar's cookie, no Authorization header
    assert me.status == 200 and (await me.json())["email"] == alice.email
    assert (await client.get("/", allow_redirects=False)).status == 200

    inbound = {"from": "56911112222", "body": "hola"}
    for bad in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                {"Origin": origin(client) + ".evil.example"}):
        resp = await client.post("/api/v1/sandbox/inbound", json=inbound, headers=bad)
        assert resp.status == 403, bad
        assert (await resp.json())["error"]["code"] == "csrf_failed"
    resp = await client.post("/api/v1/sandbox/inbound", json=inbound, headers={"Origin": origin(client)})
    assert resp.status == 202
    stats = await (await alice.get("/api/v1/stats")).json()
    assert stats["messages_today_in"] == 1  # only the same-origin post did anything

    ws = await ws_hello(client)  # no token in hello: the upgrade carried the cookie
    welcome = await next_frame(ws)
    assert welcome["type"] == "welcome" and welcome["user"]["id"] == str(alice.user_id)
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws?v=1", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403

    out = await client.post("/logout", headers={"Origin": origin(client)}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    await assert_closed(ws)  # the cookie session's socket ends with it
    assert (await client.get("/api/v1/me")).status == 401
    assert (await alice.get("/api/v1/me")).status == 200  # the bearer login is another session


async def test_expired_claims_keep_other_fields(client: TestClient, alice: Actor) -> None:
    """The forgery helpers change only what they say (guards the tests above)."""
    claims = claims_of(alice.token)
    assert {"sub", "tid", "sid", "ver", "iat", "exp"} <= set(claims)
    old = claims_of(expired(client, alice.token))
    assert old["exp"] < time.time() - 5 and {k: old[k] for k in ("sub", "tid", "sid", "ver")} == {
        k: claims[k] for k in ("sub", "tid", "sid", "ver")}
    assert claims_of(tamper(alice.token, tid=99))["tid"] == 99
