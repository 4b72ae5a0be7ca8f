"""Logs: one line per event (text or JSON), request ids in and out, socket ids, and no secret or
message body ever at INFO."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.config import ConfigError, load_config
from app.logs import CONN_ID, REQUEST_ID, JsonFormatter, TextFormatter
from tests.helpers.actors import PASSWORD, Actor
from tests.helpers.frames import closed_with, next_event
from tests.test_webhooks import SECRET, make_cloud, payload, post_hook, text


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record of the app at INFO and above, as the server writes it with --log-format json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def record(msg: str, **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("condorito.test", logging.WARNING, __file__, 1, msg, None, None)
    rec.fields = fields
    return rec


def test_formats_one_line_each_with_the_context_ids() -> None:
    token = REQUEST_ID.set("req-1")
    conn = CONN_ID.set("c0ffee01")
    try:
        as_json = JsonFormatter().format(record("two\nlines", tenant=3))
        as_text = TextFormatter().format(record("two\nlines", tenant=3, note="a\nb"))
    finally:
        REQUEST_ID.reset(token)
        CONN_ID.reset(conn)
    assert "\n" not in as_json and "\n" not in as_text
    parsed = orjson.loads(as_json)
    assert parsed["request_id"] == "req-1" and parsed["conn"] == "c0ffee01" and parsed["tenant"] == 3
    assert parsed["level"] == "warning" and parsed["msg"] == "two\nlines"
    assert as_text.endswith("WARNING condorito.test two\\nlines request_id=req-1 conn=c0ffee01"
                            " tenant=3 note=a\\nb")
    # Outside a request nothing is added.
    assert "request_id" not in orjson.loads(JsonFormatter().format(record("x")))


def test_log_format_setting() -> None:
    assert load_config(env={}).log_format == "text"
    assert load_config(env={"CONDORITO_LOG_FORMAT": "json"}).log_format == "json"
    assert load_config(env={"CONDORITO_LOG_FORMAT": "json"}, log_format="text").log_format == "text"
    with pytest.raises(ConfigError):
        load_config(env={"CONDORITO_LOG_FORMAT": "xml"})


async def test_request_ids_in_and_out(alice: Actor, json_log: io.StringIO) -> None:
    client = alice.client
    given = await alice.get("/api/v1/me", headers={"X-Request-Id": "lb-7f3a.1"})
    assert given.headers["X-Request-Id"] == "lb-7f3a.1"
    made = [await alice.get("/api/v1/me") for _ in range(2)]
    ids = [r.headers["X-Request-Id"] for r in made]
    assert ids[0] != ids[1] and all(ids)
    # Refused ids (too long, characters that could forge a log line) are replaced.
    for bad in ("x" * 65, "a b", 'a"b'):
        resp = await alice.get("/api/v1/me", headers={"X-Request-Id": bad})
        assert resp.headers["X-Request-Id"] not in (bad, "")
    # Errors, redirects, static files and the WebSocket upgrade carry it too.
    for path in ("/api/v1/nope", "/", "/static/css/app.css"):
        resp = await client.get(path, allow_redirects=False, headers={"X-Request-Id": "r-" + path[-3:]})
        assert resp.headers["X-Request-Id"] == "r-" + path[-3:], path
    ws = await client.ws_connect("/ws?v=1", headers={"X-Request-Id": "ws-1"})
    assert ws._response.headers["X-Request-Id"] == "ws-1"
    await ws.close()
    # A line logged while a request is handled names it.
    failed = await client.post("/api/v1/auth/login", json={"email": alice.email, "password": "nope-nope"},
                               headers={"X-Request-Id": "login-9"})
    assert failed.status == 401
    logged = [line for line in lines(json_log) if line["msg"] == "login failed"]
    assert [line["request_id"] for line in logged] == ["login-9"]


async def test_socket_lines_name_the_connection(alice: Actor, json_log: io.StringIO) -> None:
    ws, _ = await alice.ws()
    conn = next(iter(alice.client.app[keys.HUB].tenant_connections(alice.tenant_id)))
    conn.fail_slow()
    await closed_with(ws)
    socket_lines = [line for line in lines(json_log) if line["logger"] == "condorito.ws"]
    assert [line["msg"] for line in socket_lines] == ["ws open", "slow consumer", "ws closed"]
    assert {line["conn"] for line in socket_lines} == {conn.id}
    assert socket_lines[-1]["code"] == 4001


async def test_no_secret_or_message_body_at_info(client: TestClient, alice: Actor, bob: Actor,
                                                 json_log: io.StringIO) -> None:
    """Everything a shop does in a day, then the whole log is searched for what must not be there."""
    secrets = [PASSWORD, alice.token, bob.token, SECRET + "acme", "tok-acme", "verify-acme"]
    await make_cloud(alice, "1001")
    ws, _ = await alice.ws()
    body_in = "mi dirección es Calle Falsa 123"
    assert (await post_hook(alice, payload("1001", text("wamid.S1", body_in)))).status == 200
    assert (await post_hook(alice, payload("1001", text("wamid.S2", "forjado")), secret="x")).status == 401
    await next_event(ws, "new_message")
    await bob.inbound("56922223333", "mi clave del banco es 4455")
    conv = (await (await bob.get("/api/v1/conversations")).json())["items"][0]["id"]
    reply = "su pedido sale mañana"
    await bob.post(f"/api/v1/conversations/{conv}/messages", {"body": reply})
    created = await (await bob.post("/api/v1/users", {"email": "nueva@globex.test", "role": "agent"})).json()
    otp = created["one_time_password"]
    await client.post("/api/v1/auth/login", json={"email": "nueva@globex.test", "password": otp})
    await client.post("/api/v1/auth/login", json={"email": alice.email, "password": "adivinanza-mala"})
    reset = await (await bob.post(f"/api/v1/users/{created['id']}/password-reset")).json()
    secrets += [body_in, "4455", reply, otp, reset["one_time_password"], "adivinanza-mala"]
    await client.app[keys.WEBHOOKS].idle()
    await ws.close()

    logged = json_log.getvalue()
    assert {"login", "login failed", "webhook signature refused", "ws open"} <= {
        line["msg"] for line in lines(json_log)}
    for secret in secrets:
        assert secret not in logged, secret
