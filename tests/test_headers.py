"""Security headers (issue 7 item 2): a strict Content-Security-Policy on every HTML answer, and
nosniff, a same-origin referrer policy, no framing and a version-less Server header on every answer:
pages, API, static files, 404s and errors (handled and unhandled)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from app import create_app
from app.auth.middleware import public
from app.config import Config
from tests.helpers.actors import Actor

EVERY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
         "X-Frame-Options": "DENY", "Server": "Condorito"}


def assert_common(resp: Any) -> None:
    for name, value in EVERY.items():
        assert resp.headers.get(name) == value, (resp.url, name, resp.headers.get(name))
    assert resp.headers.getall("Server") == ["Condorito"]  # no aiohttp/Python version beside it


def csp_of(resp: Any) -> dict[str, str]:
    policy = resp.headers["Content-Security-Policy"]
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in policy.split(";")) if d}


def assert_strict_csp(resp: Any) -> None:
    csp = csp_of(resp)
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
    assert "unsafe" not in resp.headers["Content-Security-Policy"]


@pytest.fixture
async def boom_client(aiohttp_client: Any, config: Config) -> Any:
    """The app with two routes whose handlers fail unexpectedly (the 500 path)."""
    app = create_app(config)

    @public
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("unexpected")

    app.router.add_get("/api/v1/boom", boom)
    app.router.add_get("/boom", boom)
    return await aiohttp_client(app)


async def test_html_pages_have_a_strict_csp(client: Any, alice: Actor) -> None:
    for path, headers in (("/login", {}), ("/", alice.headers)):
        resp = await client.get(path, headers=headers, allow_redirects=False)
        assert resp.status == 200 and resp.content_type == "text/html", path
        assert_common(resp)
        assert_strict_csp(resp)


async def test_api_answers_are_nosniff(alice: Actor) -> None:
    resp = await alice.get("/api/v1/me")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert_common(resp)
    denied = await alice.client.get("/api/v1/me")
    assert denied.status == 401
    assert_common(denied)


async def test_static_files_are_nosniff(client: Any) -> None:
    for path in ("/static/css/app.css", "/static/js/realtime.js", "/static/favicon.svg"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert_common(resp)


async def test_not_found_answers(client: Any) -> None:
    for path in ("/nowhere", "/api/v1/nowhere", "/static/nowhere.js"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert_common(resp)
        if resp.content_type == "text/html":
            assert_strict_csp(resp)


async def test_error_answers(client: Any, boom_client: Any) -> None:
    bad = await client.post("/api/v1/auth/login", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status == 400
    assert_common(bad)
    for path in ("/api/v1/boom", "/boom"):
        resp = await boom_client.get(path)
        assert resp.status == 500, path
        assert_common(resp)
    page = await boom_client.get("/boom")
    assert page.content_type == "text/html"
    assert_strict_csp(page)
