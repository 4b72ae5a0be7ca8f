"""The whole `hello` is validated first: odd values are ignored or refused with an error frame
and close 4500 (4502 for another version), never a traceback or an HTTP 500 in the stream."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from app.realtime import const
from app.realtime import ws as ws_module
from tests.helpers.actors import Actor
from tests.helpers.frames import FRAME_TIMEOUT

BAD = ("refused", const.CLOSE_BAD_FRAME, "bad_frame")


async def say_hello(client: TestClient, frame: dict[str, Any]) -> tuple[Any, ...]:
    """Send `frame` as the first frame of a new socket; return what the server made of it:
    ("welcome", welcome) or ("refused", close code, error code)."""
    ws = await client.ws_connect("/ws?v=1")
    try:
        # The stdlib encoder: it writes integers past 64 bits, which orjson refuses to.
        await ws.send_str(json.dumps(frame))
        msg = await ws.receive(FRAME_TIMEOUT)
        # An HTTP 500 written into the stream arrives as a protocol error, not as text.
        assert msg.type is WSMsgType.TEXT, (msg.type, msg.data)
        first = orjson.loads(msg.data)
        if first["type"] == "welcome":
            return ("welcome", first)
        assert first["type"] == "error", first
        closing = await ws.receive(FRAME_TIMEOUT)
        assert closing.type is WSMsgType.CLOSE, (closing.type, closing.data)
        assert const.CLOSE_NAMES[closing.data] == first["error"]["code"], (closing.data, first)
        return ("refused", closing.data, first["error"]["code"])
    finally:
        await ws.close()


def hello(actor: Actor, **fields: Any) -> dict[str, Any]:
    return {"type": "hello", "v": 1, "token": actor.token, **fields}


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]


REFUSED_FIELDS = [
    ("features_object", {"features": {"batch": True}}),
    ("features_list_of_objects", {"features": [{"name": "batch"}]}),
    ("features_nested_list", {"features": [["batch"]]}),
    ("features_string", {"features": "batch"}),
    ("features_number", {"features": 1}),
    ("features_with_null", {"features": ["batch", None]}),
    ("seq_string", {"resume": {"epoch": "abcdefgh", "seq": "5"}}),
    ("seq_float", {"resume": {"epoch": "abcdefgh", "seq": 5.0}}),
    ("seq_negative", {"resume": {"epoch": "abcdefgh", "seq": -1}}),
    ("seq_huge_float", {"resume": {"epoch": "abcdefgh", "seq": 10**30}}),  # orjson: a float
    ("seq_over_int64", {"resume": {"epoch": "abcdefgh", "seq": 2**64 - 1}}),
    ("seq_bool", {"resume": {"epoch": "abcdefgh", "seq": True}}),
    ("seq_missing", {"resume": {"epoch": "abcdefgh"}}),
    ("epoch_number", {"resume": {"epoch": 12345678, "seq": 0}}),
    ("epoch_list", {"resume": {"epoch": ["abcdefgh"], "seq": 0}}),
    ("resume_list", {"resume": ["abcdefgh", 0]}),
    ("resume_string", {"resume": "abcdefgh:0"}),
    ("v_string", {"v": "1"}),
    ("v_float", {"v": 1.0}),
    ("v_bool", {"v": True}),
    ("v_list", {"v": [1]}),
]


@pytest.mark.parametrize(("name", "fields"), REFUSED_FIELDS, ids=[r[0] for r in REFUSED_FIELDS])
async def test_wrong_type_is_refused_4500(
    client: TestClient, alice: Actor, no_error_logs: None, name: str, fields: dict[str, Any]
) -> None:
    assert await say_hello(client, hello(alice, **fields)) == BAD
    # The server is unharmed: the same user connects right after.
    assert (await say_hello(client, hello(alice)))[0] == "welcome"


@pytest.mark.parametrize("token", [12345, {"jwt": "x"}, ["x"], True, 1.5])
async def test_token_of_wrong_type_is_refused_4501(
    client: TestClient, alice: Actor, no_error_logs: None, token: Any
) -> None:
    assert await say_hello(client, hello(alice, token=token)) == (
        "refused", const.CLOSE_UNAUTHORIZED, "unauthorized")


async def test_other_version_is_refused_4502(client: TestClient, alice: Actor, no_error_logs: None) -> None:
    assert await say_hello(client, hello(alice, v=2)) == (
        "refused", const.CLOSE_UNSUPPORTED_VERSION, "unsupported_version")


async def test_harmless_oddities_are_ignored(client: TestClient, alice: Actor, no_error_logs: None) -> None:
    # Unknown feature names (a newer client's opt-ins) are simply not granted.
    kind, welcome = await say_hello(client, hello(alice, features=["future", "batch", "batch"]))
    assert kind == "welcome" and welcome["features"] == ["batch"]
    for features in ([], None, ["x" * 1000]):
        kind, welcome = await say_hello(client, hello(alice, features=features))
        assert kind == "welcome" and welcome["features"] == [], features
    # Extra keys anywhere, including inside resume, are ignored.
    kind, welcome = await say_hello(client, hello(
        alice, client={"name": "app", "build": [1, {"x": None}]}, extra=1.5,
        resume=None, token_hint="y"))
    assert kind == "welcome" and welcome["resume"] == "fresh"
    head = welcome["head"]
    kind, welcome = await say_hello(client, hello(alice, resume={"epoch": welcome["epoch"], "seq": head, "x": 1}))
    assert kind == "welcome" and welcome["resume"] == "replaying"
    # A cursor no stream gave out (wrong epoch, seq past the head) is a resync, not an error.
    for resume in ({"epoch": "", "seq": 0}, {"epoch": welcome["epoch"], "seq": 2**63 - 1}):
        kind, welcome = await say_hello(client, hello(alice, resume=resume))
        assert kind == "welcome" and welcome["resume"] == "resync_required", resume
    # v and token absent or null: this version, and the session cookie (none here: 4501).
    kind, _ = await say_hello(client, {"type": "hello", "token": alice.token, "v": None})
    assert kind == "welcome"
    for token in (None, ""):
        assert await say_hello(client, {"type": "hello", "v": 1, "token": token}) == (
            "refused", const.CLOSE_UNAUTHORIZED, "unauthorized")


VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 2**63, 2**64 - 1, 1.5, -0.0, 10**30, "", "batch", "1", "x" * 300,
    [], ["batch"], [1], [None], [[]], [{"a": 1}], {}, {"a": 1}, {"epoch": "e", "seq": 1},
    {"epoch": "e", "seq": "1"}, {"epoch": None, "seq": 0}, [[[[{"deep": [1, [2, [3]]]}]]]],
]
FIELDS = ["v", "token", "resume", "features", "client", "seq", "epoch"]


async def test_fuzz_hello_value_types(client: TestClient, alice: Actor, no_error_logs: None) -> None:
    """Random value types in every field: always a welcome or a documented refusal."""
    rng = random.Random(20261206)  # deterministic: a failure names its case
    outcomes = set()
    for _ in range(200):
        frame: dict[str, Any] = hello(alice)
        # Mostly one odd field, so most cases get past the others to the check of that one.
        for field in rng.sample(FIELDS, 1 if rng.random() < 0.6 else rng.randint(2, 3)):
            value = alice.token if field == "token" and rng.random() < 0.3 else rng.choice(VALUES)
            if field in ("seq", "epoch"):
                resume = frame.setdefault("resume", {"epoch": "abcdefgh", "seq": 0})
                if isinstance(resume, dict):
                    resume[field] = value
            else:
                frame[field] = value
        result = await say_hello(client, frame)
        assert result[0] == "welcome" or result[1:] in {
            (const.CLOSE_BAD_FRAME, "bad_frame"),
            (const.CLOSE_UNSUPPORTED_VERSION, "unsupported_version"),
            (const.CLOSE_UNAUTHORIZED, "unauthorized"),
        }, (frame, result)
        outcomes.add(result[0] if result[0] == "welcome" else result[2])
    # The cases reached both sides of the validation, not only one.
    assert {"welcome", "bad_frame", "unsupported_version"} <= outcomes, outcomes


async def test_a_bug_after_the_upgrade_closes_1011_not_http_500(
    client: TestClient, alice: Actor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever slips past validation: a close frame the client understands, and one ERROR."""
    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ws_module, "_go_live", broken)
    ws = await client.ws_connect("/ws?v=1")
    await ws.send_str(json.dumps(hello(alice)))
    msg = await ws.receive(FRAME_TIMEOUT)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, 1011), (msg.type, msg.data)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == ["ws handler failed"]
