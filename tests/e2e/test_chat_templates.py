"""The composer on the Cloud API when the 24-hour window is closed: a template picker with one
labelled field per parameter and a preview, instead of the text box; sending it reaches the
(fake) Graph API with the parameters. Screenshots desktop and phone, Spanish and English."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from app import create_app, keys
from app.auth import passwords, users
from app.config import Config
from app.services import link, tenants, whatsapp_config
from tests.e2e.chat_helpers import seed_inbound, sign_in, watch_errors
from tests.e2e.conftest import PASSWORD, Live
from tests.e2e.shots import shot
from tests.helpers.fake_graph import FakeGraph

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclasses.dataclass
class CloudLive(Live):
    graph: FakeGraph = dataclasses.field(default_factory=FakeGraph)
    old: str = ""     # a conversation whose customer last wrote 25 h ago
    recent: str = ""  # one whose customer wrote a minute ago


@pytest_asyncio.fixture(loop_scope="session")
async def cloud_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CloudLive]:
    monkeypatch.setattr(passwords, "LOG_N", 4)
    graph = await FakeGraph().start()
    graph.add_template("111", "pedido_listo", body="Hola {{1}}, tu pedido {{2}} está listo para retiro.")
    graph.add_template("111", "recordatorio", body="Hola, ¿seguimos con tu pedido?")
    config = Config(db_path=tmp_path / "e2e.db", secret=secrets.token_urlsafe(48),
                    allow_custom_api_base=True)
    server = TestServer(create_app(config), host="127.0.0.1", port=0)
    await server.start_server()
    db = server.app[keys.DB]
    tenant = await db.write(lambda tx: tenants.create_tenant(tx, "acme", "Acme", "cloud"))
    email = "admin@acme.test"
    pw_hash = passwords.hash_password(PASSWORD)
    await db.write(lambda tx: users.create_user(tx, tenant.id, email, "Ana Admin", "admin", pw_hash))
    await db.write(lambda tx: whatsapp_config.save(tx, tenant.id, {
        "provider": "cloud", "phone_number_id": "1001", "access_token": "tok", "app_secret": "s",
        "api_base": graph.base, "waba_id": "111"}, allow_custom_base=True))
    await db.write(lambda tx: link.set_state(tx, tenant.id, "connected", phone="1001"))
    live = CloudLive(server, str(server.make_url("")).rstrip("/"), email, tenant.id, graph)
    # María wrote 25 h ago (only templates reach her now), Pedro a minute ago.
    now = int(time.time() * 1000)
    await seed_inbound(live, [("56987654321", "María José Fuentes", "¿Me avisan cuando llegue?"),
                              ("56912345678", "Pedro Valenzuela", "¿Abren mañana?")],
                       start_ms=now - 25 * 3600_000, step_ms=25 * 3600_000 - 60_000)
    convs = await db.read(lambda c: dict(c.execute(
        "SELECT ct.phone, c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
        " WHERE c.tenant_id = ?", (tenant.id,)).fetchall()))
    live.old, live.recent = str(convs["56987654321"]), str(convs["56912345678"])
    yield live
    await server.close()
    await graph.close()


async def test_closed_window_offers_templates(browser: Browser, cloud_live: CloudLive) -> None:
    live = cloud_live
    ctx = await browser.new_context(locale="es-CL", viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    errors = watch_errors(page)
    await page.goto(live.base + "/login?lang=es")
    await sign_in(page, live, f"/chat/{live.old}")
    picker = page.locator(".tpl-picker")
    await expect(picker).to_be_visible()
    await expect(page.locator("form.composer")).to_be_hidden()
    await expect(picker).to_contain_text("24 h")
    select = page.get_by_label("Plantilla", exact=True)
    await expect(select.locator("option")).to_have_count(2)
    await select.select_option(label="pedido_listo (es)")
    send = page.get_by_role("button", name="Enviar plantilla")
    await expect(send).to_be_disabled()  # parameters still empty
    await page.get_by_label("Parámetro 1").fill("María")
    await page.get_by_label("Parámetro 2").press_sequentially("#1234")  # typed from the keyboard
    await expect(page.locator(".tpl-preview")).to_have_text(
        "Hola María, tu pedido #1234 está listo para retiro.")
    await shot(page, "chat-template-desktop-es")
    await page.set_viewport_size({"width": 375, "height": 760})
    assert await page.evaluate("document.documentElement.scrollWidth <= 375")
    await shot(page, "chat-template-phone-es")
    await send.focus()
    await page.keyboard.press("Enter")
    [sent] = await live.graph.wait_accepted(1)
    assert sent.payload["template"]["name"] == "pedido_listo"
    assert [p["text"] for p in sent.payload["template"]["components"][0]["parameters"]] == ["María", "#1234"]
    await expect(page.locator(".msg").last).to_contain_text("tu pedido #1234 está listo")
    await expect(page.get_by_label("Parámetro 1")).to_have_value("")
    # A customer who wrote a minute ago gets the ordinary text box.
    await page.goto(live.base + f"/chat/{live.recent}")
    await expect(page.locator("form.composer")).to_be_visible()
    await expect(picker).to_be_hidden()
    assert errors == []
    await ctx.close()


async def test_picker_in_english(browser: Browser, cloud_live: CloudLive) -> None:
    live = cloud_live
    ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    errors = watch_errors(page)
    await page.goto(live.base + "/login?lang=en")
    await sign_in(page, live, f"/chat/{live.old}")
    await expect(page.locator(".tpl-note")).to_contain_text("only delivers approved templates")
    await page.get_by_label("Template", exact=True).select_option(label="pedido_listo (es)")
    await page.get_by_label("Parameter 1").fill("Mary")
    await page.get_by_label("Parameter 2").fill("#77")
    await expect(page.get_by_role("button", name="Send template")).to_be_enabled()
    await shot(page, "chat-template-desktop-en")
    await page.set_viewport_size({"width": 375, "height": 760})
    assert await page.evaluate("document.documentElement.scrollWidth <= 375")
    await shot(page, "chat-template-phone-en")
    assert errors == []
    await ctx.close()
