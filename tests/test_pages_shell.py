"""The frame of the signed-in pages: top bar everywhere, no 404 for planned pages, translations
complete, and the password form."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.i18n import LANGS, TEXT, client_text, load_text
from tests.helpers.actors import PASSWORD, Actor, login

PAGES = ("/", "/chat", "/bulk", "/bot", "/settings", "/account/password")


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_has_the_top_bar(alice: Actor, path: str) -> None:
    resp = await alice.get(path)
    assert resp.status == 200, path
    html = await resp.text()
    for href in ('href="/"', 'href="/chat"', 'href="/bulk"', 'href="/bot"', 'href="/settings"'):
        assert href in html
    assert 'id="live-indicator"' in html and 'id="nav-unread"' in html
    assert 'action="/logout"' in html
    # CSP-friendly: the only <script> blocks are modules from /static and the JSON strings.
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'type="module" src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "style=" not in html


async def test_the_active_tab_is_marked(alice: Actor) -> None:
    html = await (await alice.get("/bulk")).text()
    assert re.search(r'id="nav-bulk" class="nav-item active"\s*aria-current="page"', html)
    assert 'id="nav-chat" class="nav-item"' in html


async def test_unread_count_on_the_chats_tab(alice: Actor) -> None:
    html = await (await alice.get("/bot")).text()
    assert re.search(r'id="nav-unread"[^>]*data-count="0"[^>]*hidden', html)
    await alice.inbound("56911112222", "hola")
    await alice.inbound("56911112222", "¿están?")
    html = await (await alice.get("/bot")).text()
    badge = re.search(r'<span id="nav-unread"[^>]*>(\d+)</span>', html)
    assert badge and badge.group(1) == "2"


async def test_coming_soon_pages_are_translated(alice: Actor) -> None:
    es = await (await alice.get("/bot?lang=es")).text()
    en = await (await alice.get("/bot?lang=en")).text()
    assert "Muy pronto" in es and "Bot de respuestas" in es
    assert "Coming soon" in en and "Reply bot" in en


def test_every_string_has_both_languages() -> None:
    for key, entry in TEXT.items():
        for lang in LANGS:
            assert entry.get(lang, "").strip(), (key, lang)
            # Placeholders must match, or one language would show "{n}" literally.
            assert set(re.findall(r"\{(\w+)\}", entry[lang])) == set(re.findall(r"\{(\w+)\}", entry["es"])), key
    assert client_text("en")["nav.bulk"] == "Bulk sends"


def test_a_key_defined_twice_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"x.y": {"es": "uno", "en": "one"}}))
    (tmp_path / "b.json").write_text(json.dumps({"x.y": {"es": "dos", "en": "two"}}))
    with pytest.raises(ValueError, match="already defined"):
        load_text(tmp_path)
    (tmp_path / "b.json").write_text(json.dumps({"x.z": {"es": "dos"}}))
    with pytest.raises(ValueError, match="lacks en"):
        load_text(tmp_path)


async def test_password_form_changes_it_and_keeps_the_browser_signed_in(alice: Actor) -> None:
    form = {"current_password": PASSWORD, "new_password": "otra clave larga",
            "confirm_password": "otra clave larga"}
    resp = await alice.client.post("/account/password", data=form, headers=alice.headers,
                                   allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/account/password?done=1"
    assert "condorito_session" in resp.cookies
    # The old token is revoked; the new password works.
    assert (await alice.get("/api/v1/me")).status == 401
    await login(alice.client, alice.email, "otra clave larga")


@pytest.mark.parametrize(("current", "new", "confirm", "text"), [
    ("wrong password", "otra clave larga", "otra clave larga", "La contraseña actual no es correcta."),
    (PASSWORD, "otra clave larga", "otra clave distinta", "no coinciden"),
    (PASSWORD, "corta", "corta", "al menos 8 caracteres"),
])
async def test_password_form_errors_say_what_to_fix(alice: Actor, current: str, new: str,
                                                    confirm: str, text: str) -> None:
    form = {"current_password": current, "new_password": new, "confirm_password": confirm}
    resp = await alice.client.post("/account/password?lang=es", data=form, headers=alice.headers)
    assert resp.status == 400
    assert text in await resp.text()
    assert (await alice.get("/api/v1/me")).status == 200  # nothing changed, nothing revoked


async def test_favicon_is_served_without_login(client) -> None:
    resp = await client.get("/favicon.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert (await resp.read()).startswith(b"<svg")
