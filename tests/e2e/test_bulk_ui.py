"""The bulk pages in a real browser: a Spanish Excel CSV (`;`, Latin-1, a bad row) checked with its
bad row reported and the first message previewed; a campaign page following bulk_message_progress
live to 100 % and its completion notice; screenshots es/en at desktop and phone width."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from app import keys
from app.realtime import stream
from tests.e2e.chat_helpers import api, sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import DESKTOP, PHONE, shot
from tests.e2e.test_dashboard import api_token

pytestmark = pytest.mark.asyncio(loop_scope="session")

# As Excel in Spanish saves "CSV": semicolons, Windows-1252, CRLF; row 3 has no usable number.
EXCEL_CSV = ("Nombre;Teléfono;Comuna\r\nJosé Núñez;9 8765 4321;Ñuñoa\r\nBeto Ruiz;llamar después;Maipú\r\n"
             "María Peña;+56 9 2222 3333;Viña del Mar\r\n").encode("cp1252")


async def no_overflow(page: Page) -> None:
    scroll, client = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, "the page scrolls sideways"


async def test_csv_upload_reports_the_bad_row_and_previews(page: Page, live: Live) -> None:
    await sign_in(page, live, "/bulk/new")
    await expect(page.locator("#body-count")).not_to_be_empty()  # the page's module is running
    await page.fill("#f-name", "Recordatorio de diciembre")
    await page.fill("#f-body", "Hola ")
    await page.click("#chips button[data-var=nombre]")  # the chip inserts at the cursor
    await page.type("#f-body", ", te esperamos.")
    await expect(page.locator("#f-body")).to_have_value("Hola {{nombre}}, te esperamos.")
    await page.set_input_files("#f-file", files=[{"name": "clientes.csv", "mimeType": "text/csv", "buffer": EXCEL_CSV}])
    await expect(page.locator("#summary")).to_have_text(
        "2 destinatarios listos · 1 con problemas · Columna de teléfono: «Teléfono»")
    bad = page.locator("#problems tbody tr")
    await expect(bad).to_have_count(1)
    await expect(bad).to_have_attribute("data-row", "3")
    await expect(bad.locator("td")).to_have_text(["3", "llamar después", "No es un número"])
    bubbles = page.locator("#preview .bubble")
    await expect(bubbles).to_have_text(["Hola José Núñez, te esperamos.", "Hola María Peña, te esperamos."])
    # The CSV's other columns became chips; one typed in updates the preview as the shop writes.
    await page.click("#chips button[data-var=comuna]")
    await expect(bubbles.first).to_have_text("Hola José Núñez, te esperamos.Ñuñoa")
    await page.fill("#f-body", "Hola {{nombre}} de {{comuna}} {{descuento}}")
    await expect(bubbles.nth(1)).to_have_text("Hola María Peña de Viña del Mar ")
    await expect(page.locator("#unknown-vars")).to_contain_text("{{descuento}}")
    await shot(page, "bulk-new-es-1280", full_page=True)
    await page.set_viewport_size(PHONE)
    await no_overflow(page)
    await page.locator("#problems").scroll_into_view_if_needed()
    await shot(page, "bulk-new-es-360")


async def test_pasted_numbers_and_errors_in_words(page: Page, live: Live) -> None:
    await sign_in(page, live, "/bulk/new?lang=en")
    await expect(page.locator("#body-count")).not_to_be_empty()
    await page.check("input[name=source][value=pasted]")
    await page.fill("#f-numbers", "987654321\n+56 9 8765 4321\n123")
    await page.click("#check")
    await expect(page.locator("#summary")).to_have_text("1 recipients ready · 1 with problems · 1 repeated")
    await expect(page.locator("#problems tbody tr td:last-child")).to_have_text(
        ["Repeated: already in row 1", "Too few digits"])
    # Creating without a name, or after changing the list, says what to do next to the button.
    await page.click("#create")
    await expect(page.locator("#create-error")).to_have_text("Give the campaign a name.")
    await page.fill("#f-name", "Test")
    await page.fill("#f-body", "Hi {{name}}")
    await page.fill("#f-numbers", "987654321")
    await page.click("#create")
    await expect(page.locator("#create-error")).to_have_text(
        "You changed the recipients: check them again before creating the campaign.")
    await page.check("input[name=source][value=csv]")
    await page.set_input_files("#f-file", files=[{"name": "x.csv", "mimeType": "text/csv", "buffer": b"producto;precio\npan;1000\n"}])
    await expect(page.locator("#check-error")).to_have_text(
        "We could not find the phone column. Name it Phone, Mobile or WhatsApp.")
    await shot(page, "bulk-new-en-1280", full_page=True)
    await page.set_viewport_size(PHONE)
    await no_overflow(page)
    await shot(page, "bulk-new-en-360")


def campaign_at(done_n: int, status: str, total: int, cid: str) -> dict[str, Any]:
    return {"id": cid, "name": "Oferta de verano", "status": status, "total": total,
            "pending": total - done_n, "sent": done_n, "delivered": max(0, done_n - 1), "read": 0,
            "failed": 0, "skipped": 0, "replied": 0, "rate": 0.5, "eta": (total - done_n) * 2,
            "created_at": 1765000000000, "pacing": {"mode": "rate", "rate": 10.0}}


async def progress(live: Live, data: dict[str, Any]) -> None:
    """What the runner does: the campaign object as a latest-wins event, committed and published."""
    await live.app[keys.DB].write(lambda tx: stream.append(tx, live.tenant_id, "bulk:progress", data, key=data["id"]))


async def test_campaign_page_follows_progress_live_to_completion(page: Page, live: Live) -> None:
    # A real campaign, never started; its REST snapshot and recipients are served by the test
    # (the page's contract) and its progress arrives through the real stream and socket.
    token = await api_token(live)
    status, made = await api(live, token, "POST", "/api/v1/bulk", {
        "name": "Oferta de verano", "body": "Hola", "recipients": [{"phone": f"5698765432{i}"} for i in range(3)]})
    assert status == 201, made
    cid = made["id"]

    def campaign(done_n: int, status: str = "running", total: int = 3) -> dict[str, Any]:
        return campaign_at(done_n, status, total, cid)

    async def snapshot(route: Route) -> None:
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(campaign(0)))

    async def recipients(route: Route) -> None:
        items = [{"phone": f"5698765432{i}", "name": f"Cliente {i}", "state": "pending"} for i in range(3)]
        await route.fulfill(status=200, content_type="application/json",
                            body=json.dumps({"items": items, "next": None, "seq": 0}))

    await page.route(f"**/api/v1/bulk/{cid}", snapshot)
    await page.route(f"**/api/v1/bulk/{cid}/recipients*", recipients)
    await sign_in(page, live, f"/bulk/{cid}")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    bar = page.locator("#c-bar")
    await expect(bar).to_have_attribute("aria-valuenow", "0")
    await expect(page.locator("#c-status")).to_have_text("Enviando")
    await expect(page.locator(".rspace .rrow")).to_have_count(3)
    await expect(page.locator("#c-pause")).to_be_visible()
    await progress(live, {**campaign(1), "id": "other"})  # another campaign's event changes nothing
    await progress(live, campaign(1))
    await expect(bar).to_have_attribute("aria-valuenow", "33")
    await expect(page.locator("#n-sent")).to_have_text("1")
    await expect(page.locator("#c-rate")).to_have_text("30 mensajes por minuto")
    await expect(page.locator("#c-pacing")).to_have_text("Esta campaña envía hasta 10 mensajes por segundo.")
    await expect(page.locator("#c-done")).to_be_hidden()
    await progress(live, campaign(2))
    await expect(bar).to_have_attribute("aria-valuenow", "66")
    await shot(page, "bulk-campaign-es-1280", full_page=True)
    await progress(live, campaign(3, "completed"))
    await expect(bar).to_have_attribute("aria-valuenow", "100")
    await expect(page.locator("#c-percent")).to_have_text("100 %")
    notice = page.locator("#c-done")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_text("Campaña terminada: 3 enviados, 0 fallidos, 0 omitidos.")
    await expect(page.locator("#c-pause")).to_be_hidden()
    await expect(page.locator("#c-cancel")).to_be_hidden()
    await page.set_viewport_size(PHONE)
    await no_overflow(page)
    await shot(page, "bulk-campaign-es-360")
    # Opened later, in English: the finished campaign says so at once.
    await page.route(f"**/api/v1/bulk/{cid}", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(campaign(3, "completed"))))
    await page.goto(live.base + f"/bulk/{cid}?lang=en")
    await expect(page.locator("#c-done")).to_have_text("Campaign finished: 3 sent, 0 failed, 0 skipped.")
    await expect(page.locator("#c-status")).to_have_text("Finished")
    await no_overflow(page)
    await shot(page, "bulk-campaign-en-360")
    await page.set_viewport_size(DESKTOP)
    await shot(page, "bulk-campaign-en-1280", full_page=True)


async def test_a_campaign_gone_meanwhile_says_so(page: Page, live: Live) -> None:
    token = await api_token(live)
    status, made = await api(live, token, "POST", "/api/v1/bulk", {"name": "X", "body": "Hola",
                                                                   "recipients": [{"phone": "56987654321"}]})
    assert status == 201
    await page.route(f"**/api/v1/bulk/{made['id']}", lambda route: route.fulfill(
        status=404, content_type="application/json", body='{"error": {"code": "not_found", "message": "x"}}'))
    await sign_in(page, live, f"/bulk/{made['id']}")
    await expect(page.locator("#c-missing")).to_be_visible()
    await expect(page.locator("#c-name")).to_have_text("Esta campaña no existe.")


async def test_list_warns_when_whatsapp_pauses_the_campaigns(page: Page, live: Live) -> None:
    await sign_in(page, live, "/bulk")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    alert = page.locator("#campaigns-alert")
    await expect(alert).to_be_hidden()
    await live.app[keys.DB].write(lambda tx: stream.append(
        tx, live.tenant_id, "bulk:alert", {"kind": "paused", "reason": "spam_limit", "code": 131048,
                                           "campaign_ids": ["1"], "at": 1}, audience="role:admin"))
    await expect(alert).to_have_text("WhatsApp frenó los envíos de tu número, así que pausamos la campaña. "
                                     "Revisa la conexión en el panel y reanúdala cuando esté todo bien.")
