"""Issue 12 Done 3: `/api/v1/openapi.json` describes every REST route, and it is true.

schemathesis generates requests from the description (valid and invalid ones) and sends them to
the live server (`python run.py` on a fresh database): no answer may be a 5xx, and every answer
must match its documented status, content type and schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.web import openapi
from tests.test_cli import Server, field

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 15  # per operation: every field's edge cases show up; ~2 min in all on a loaded VM


def routes(app: web.Application, prefix: str = "/") -> set[tuple[str, str]]:
    """Every (method, path template) registered under `prefix` (HEAD mirrors GET)."""
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith(prefix) and route.method != "HEAD":
            out.add((route.method.lower(), path))
    return out


async def test_every_api_route_is_described(client: TestClient) -> None:
    resp = await client.get(openapi.PATH)  # no login needed
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc == json.loads(json.dumps(openapi.document()))
    described = {(m, p) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    missing = routes(client.app, "/api/v1/") - described
    assert missing == set(), "routes without a description in app/web/openapi.py"
    assert described - routes(client.app) == set(), "described routes the server does not have"


def test_every_operation_documents_its_errors_and_references_resolve() -> None:
    doc = openapi.document()
    schemas = doc["components"]["schemas"]
    text = json.dumps(doc)
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in schemas, name
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert "4XX" in operation["responses"], (method, path)
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)


# -- schemathesis against the live server ------------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """run.py on a fresh database, and a token of its first admin."""
    tmp: Path = tmp_path_factory.mktemp("live")
    server = Server(tmp / "condorito.db", tmp / "server.log")
    try:
        lines = server.lines_until_listening()
        status, body = server.login(field(lines, "e-mail"), field(lines, "password"))
        assert status == 200, body
        base = f"http://127.0.0.1:{server.port}"
        # Something to find: a conversation with a message.
        inbound = requests.post(base + "/api/v1/sandbox/inbound", timeout=10,
                                json={"from": "56911112222", "name": "Ana", "body": "hola"},
                                headers={"Authorization": "Bearer " + body["token"]})
        assert inbound.status_code == 202, inbound.text
        yield {"base": base, "token": body["token"], "user_id": body["user"]["id"], "server": server}
        errors = [json.loads(line) for line in server.log.read_text().splitlines()
                  if '"level":"error"' in line]
        assert errors == [], "\n".join(e.get("exc", e["msg"])[-1500:] for e in errors)
    finally:
        server.stop()


# The document the server serves (the first test checks they are the same), loaded eagerly:
# the live server is only needed to answer the cases.
schema = schemathesis.openapi.from_dict(openapi.document())


# Signing out would end the token every other case uses; tests/test_auth.py covers logout.
@schema.exclude(path="/api/v1/auth/logout").parametrize()
# derandomize: CI sends the same requests every run, so a red run is reproducible, not luck.
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_live_answers_match_the_description(case: Any, live: dict[str, Any]) -> None:
    if case.path.startswith("/api/v1/users/") and case.path_parameters.get("id") == live["user_id"]:
        # The fuzzing admin must not change its own password under itself (its token would die).
        case.path_parameters["id"] = "999999"
    case.call_and_validate(base_url=live["base"], headers={"Authorization": "Bearer " + live["token"]},
                           checks=CHECKS, timeout=30)
