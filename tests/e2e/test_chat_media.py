"""Media in the thread: an inbound photo shows live as a thumbnail that really loaded (through the
signed-in session), opens full size; a document is a chip with its name, size and download; a
voice note is a player. Screenshots in Spanish and English, desktop and phone."""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
import wave
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page, expect

from tests.e2e.chat_helpers import api, api_token, inbound, pair_sandbox, sign_in, watch_errors
from tests.e2e.conftest import Live

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def photo() -> bytes:
    """A small JPEG that looks like a product photo (a blue shirt on a light background)."""
    img = Image.new("RGB", (480, 360), (236, 232, 224))
    draw = ImageDraw.Draw(img)
    draw.polygon([(150, 70), (205, 50), (275, 50), (330, 70), (380, 130), (340, 160), (320, 140),
                  (320, 320), (160, 320), (160, 140), (140, 160), (100, 130)], fill=(38, 92, 170))
    draw.ellipse((215, 45, 265, 80), fill=(236, 232, 224))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def voice_note() -> bytes:
    """A second of silence as WAV (a format every Chromium plays)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000)
    return out.getvalue()


async def send_file(live: Live, token: str, phone: str, kind: str, mime: str, data: bytes,
                    body: str = "", filename: str = "") -> dict[str, Any]:
    media = {"type": kind, "mime": mime, "data": base64.b64encode(data).decode(), "filename": filename}
    status, answer = await api(live, token, "POST", "/api/v1/sandbox/inbound",
                               {"from": phone, "name": "María José Fuentes", "body": body, "media": media})
    assert status == 202, answer
    return dict(answer)


async def test_an_inbound_photo_shows_in_the_open_thread(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    conv = (await inbound(live, token, "56987654321", "Hola, ¿les queda esta polera?",
                          name="María José Fuentes"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    await expect(page.locator(".msg.in .text")).to_have_text("Hola, ¿les queda esta polera?")
    # Arrives while the thread is open: new_message (pending), then message_media (ready).
    await send_file(live, token, "56987654321", "image", "image/jpeg", photo(), body="Esta, en talla M")
    thumb = page.locator(".msg.in .media-image img")
    await expect(thumb).to_be_visible()
    await expect(thumb).to_have_attribute("alt", "Esta, en talla M")
    await page.wait_for_function(
        "() => { const i = document.querySelector('.media-image img'); return i && i.complete && i.naturalWidth === 480; }")
    link = page.locator(".msg.in a.media-image")
    await expect(link).to_have_attribute("target", "_blank")
    async with page.context.expect_page() as opened:
        await link.click()
    full = await opened.value
    await full.wait_for_load_state()
    assert await full.evaluate("document.images[0].naturalWidth") == 480   # the full photo opens
    await full.close()

    await send_file(live, token, "56987654321", "document", "application/pdf", b"%PDF-1.4 " + b"x" * 2400,
                    filename="Cotización polera.pdf")
    chip = page.locator(".msg.in a.doc-chip")
    await expect(chip).to_contain_text("Cotización polera.pdf")
    await expect(chip).to_contain_text(re.compile(r"2[.,]4 KB · PDF"))
    await expect(chip).to_have_attribute("download", "Cotización polera.pdf")
    async with page.expect_download() as dl:
        await chip.focus()
        await page.keyboard.press("Enter")                   # keyboard reaches the download
    assert (await dl.value).suggested_filename == "Cotización polera.pdf"
    assert errors == []


async def test_media_screenshots(browser: Browser, live: Live, tmp_path: Path) -> None:
    shots = DOCS_SHOTS if os.environ.get("CONDORITO_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    token = await api_token(live)
    await pair_sandbox(live, token)
    phone = "56987654321"
    conv = (await inbound(live, token, phone, "Hola! ¿Les queda la polera azul en talla M?",
                          name="María José Fuentes"))["conversation_id"]
    await send_file(live, token, phone, "image", "image/jpeg", photo(), body="Esta misma 👆")
    await api(live, token, "POST", f"/api/v1/conversations/{conv}/messages",
              {"body": "¡Sí! Nos quedan 3 en talla M 😊"})
    await send_file(live, token, phone, "audio", "audio/wav", voice_note())
    await send_file(live, token, phone, "document", "application/pdf", b"%PDF-1.4 " + b"x" * 48_000,
                    filename="Orden de compra 2291.pdf")
    for lang in ("es", "en"):
        ctx = await browser.new_context(locale="es-CL" if lang == "es" else "en-US",
                                        viewport={"width": 1280, "height": 800})
        page = await ctx.new_page()
        errors = watch_errors(page)
        await page.goto(live.base + f"/login?lang={lang}")
        await sign_in(page, live, f"/chat/{conv}")
        await expect(page.locator(".msg.in a.doc-chip")).to_be_visible()
        await page.wait_for_function("() => [...document.images].every((i) => i.complete)")
        await expect(page.locator(".media-audio")).to_be_visible()
        await page.screenshot(path=str(shots / f"chat-media-{lang}-1280.png"))
        if lang == "es":
            await page.emulate_media(color_scheme="dark")
            await page.wait_for_function("() => document.getAnimations().length === 0")
            await page.screenshot(path=str(shots / "chat-media-dark-es-1280.png"))
            await page.emulate_media(color_scheme="light")
        await page.set_viewport_size({"width": 375, "height": 760})
        await page.locator(".messages").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
        assert await page.evaluate("document.documentElement.scrollWidth <= 375")
        await page.screenshot(path=str(shots / f"chat-media-{lang}-375.png"))
        await page.wait_for_load_state("networkidle")
        await ctx.close()
        assert errors == []


def png_photo() -> bytes:
    img = Image.new("RGB", (320, 240), (250, 214, 90))
    ImageDraw.Draw(img).ellipse((100, 60, 220, 180), fill=(200, 60, 40))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def test_an_agent_attaches_a_photo_from_the_keyboard(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    await pair_sandbox(live, token)
    conv = (await inbound(live, token, "56987654321", "¿Me mandas una foto del modelo?",
                          name="María José Fuentes"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    attach = page.get_by_role("button", name="Adjuntar foto o documento")
    await expect(attach).to_be_enabled()
    bar = page.locator(".attach-bar")
    # Opening the conversation puts the cursor in the composer; Shift+Tab reaches the clip.
    await expect(page.locator("#composer-input")).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await expect(attach).to_be_focused()
    # Enter on the clip opens the file picker: the picker's own click is counted (and the native
    # dialog, which headless Chromium shows unreliably, kept closed); files are then chosen on
    # the input as the dialog would.
    await page.evaluate("""() => { window.__picks = 0; document.addEventListener("click", (e) => {
        if (e.target.matches(".attach-input")) { window.__picks += 1; e.preventDefault(); } }, true); }""")
    await page.keyboard.press("Enter")
    await page.wait_for_function("() => window.__picks === 1")
    picker = page.locator(".attach-input")
    # A type WhatsApp would not take is refused in words before anything is sent.
    await picker.set_input_files(files=[{"name": "setup.exe", "mimeType": "application/x-msdownload",
                                         "buffer": b"MZ\x90\x00"}])
    await expect(bar).to_contain_text("Solo se pueden enviar fotos JPG o PNG")
    await attach.press("Enter")
    await page.wait_for_function("() => window.__picks === 2")
    await picker.set_input_files(files=[{"name": "modelo.png", "mimeType": "image/png", "buffer": png_photo()}])
    await expect(bar).to_contain_text("modelo.png")
    box = page.locator("#composer-input")
    await box.fill("Este es el modelo 🌞")
    shots = DOCS_SHOTS if os.environ.get("CONDORITO_SCREENSHOTS") == "1" else Path(tempfile.mkdtemp())
    await page.screenshot(path=str(shots / "chat-attach-es-1280.png"))
    await page.set_viewport_size({"width": 375, "height": 760})
    assert await page.evaluate("document.documentElement.scrollWidth <= 375")
    await page.screenshot(path=str(shots / "chat-attach-es-375.png"))
    await box.press("Enter")                                  # the text goes as its caption
    sent = page.locator(".msg.out", has=page.locator(".media-image img"))
    await expect(sent).to_contain_text("Este es el modelo 🌞")
    await expect(bar).to_be_hidden()
    await expect(box).to_have_value("")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.msg.out .media-image img')].some((i) => i.complete && i.naturalWidth === 320)")
    await expect(sent).to_have_attribute("data-status", "read", timeout=15_000)   # the sandbox delivered it
    _, msgs = await api(live, token, "GET", f"/api/v1/conversations/{conv}/messages")
    assert [(m["type"], m["body"]) for m in msgs["items"]][-1] == ("image", "Este es el modelo 🌞")
    assert len(msgs["items"]) == 2                            # sent once
    await page.wait_for_load_state("networkidle")
    assert errors == []


async def test_a_failed_attachment_says_why_and_offers_no_text_retry(page: Page, live: Live) -> None:
    errors = watch_errors(page)
    token = await api_token(live)
    conv = (await inbound(live, token, "56987654321", "¿Y la factura?"))["conversation_id"]
    await sign_in(page, live, f"/chat/{conv}")
    # WhatsApp is not linked: the outbox refuses the queued file (whatsapp_not_connected).
    form = aiohttp.FormData()
    form.add_field("file", png_photo(), content_type="image/png", filename="factura.png")
    async with aiohttp.ClientSession() as s, s.post(
        f"{live.base}/api/v1/conversations/{conv}/media", data=form,
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        assert r.status == 201, await r.text()
    failed = page.locator('.msg.out[data-status="failed"]')
    await expect(failed.locator(".fail-reason")).to_have_text("No se envió: WhatsApp no estaba conectado.")
    await expect(failed.locator(".media-image img")).to_be_visible()
    # Retrying would have sent the caption as a text without the file: there is no such button.
    await expect(failed.locator("button.retry-send")).to_have_count(0)
    assert errors == []
