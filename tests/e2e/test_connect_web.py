"""Linking by QR (provider `web`) from the dashboard in a real browser, neonize replaced by the
stand-in of tests/helpers/fake_neonize.py: the ban risk is said first, WhatsApp's own code is
shown (no pairing link, no localhost warning: the phone scans it inside WhatsApp), scanning it
links the number live, and a dropped connection says so in words."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from app.whatsapp import web
from tests.e2e.chat_helpers import api, api_token, sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import PHONE, shot
from tests.helpers.fake_neonize import FakeNeonize, proto

pytestmark = pytest.mark.asyncio(loop_scope="session")
CODE = "2@" + "k7Q2m9XaB4" * 18 + ",ZmFrZS1rZXk=,c2lnbmVk"   # as long as WhatsApp's


async def test_link_by_qr_from_the_dashboard(page: Page, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNeonize()
    monkeypatch.setattr(web, "load_neonize", fake.api)
    monkeypatch.setattr(web, "RECONNECT_BASE", 600.0)   # the drop below stays visible
    status, _ = await api(live, await api_token(live), "PUT", "/api/v1/whatsapp/config", {"provider": "web"})
    assert status == 200
    await sign_in(page, live)
    card = page.locator("#wa-card")
    await expect(card.locator("#wa-web-risk")).to_contain_text("WhatsApp puede bloquear")
    await page.click("#wa-connect")
    client = await fake.next_client()
    await client.show_qr(CODE)
    qr = page.locator("#wa-qr")
    await expect(qr).to_have_attribute("data-value", CODE)
    await expect(qr.locator("svg path")).to_have_count(1)
    await expect(card.locator("#wa-state")).to_have_text("Esperando el escaneo")
    await expect(page.locator("#wa-local-hint")).to_be_hidden()
    assert await page.locator("#wa-pair-link").count() == 0
    await shot(page, "qr-web-es-1280")
    await page.set_viewport_size(PHONE)
    await qr.scroll_into_view_if_needed()
    await shot(page, "qr-web-es-360")

    await client.scan("56987654321")
    await expect(card.locator("#wa-state")).to_have_text("Conectado")
    await expect(page.locator("#wa-number")).to_have_text("Número vinculado: +56 9 8765 4321")
    await expect(page.locator("#wa-qr-box")).to_be_hidden()

    await client.emit(proto.Disconnected())
    await expect(card.locator("#wa-state")).to_have_text("Desconectado")
    await expect(page.locator("#wa-desc")).to_contain_text("Reintentamos solos")
    await client.emit(proto.Connected(status=True))    # whatsmeow came back by itself
    await expect(card.locator("#wa-state")).to_have_text("Conectado")
    assert len(fake.clients) == 1
