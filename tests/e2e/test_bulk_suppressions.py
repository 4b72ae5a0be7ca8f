"""The do-not-send list in a real browser: a number added as typed (read with the business's
country), shown formatted, kept after a reload, refused in words when it is not a number, removed."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.e2e.chat_helpers import sign_in
from tests.e2e.conftest import Live
from tests.e2e.shots import shot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_do_not_send_list_add_see_remove(page: Page, live: Live) -> None:
    await sign_in(page, live, "/bulk/suppressions")
    await expect(page.locator("#sup-empty")).to_be_visible()
    await expect(page.locator("#words")).to_have_value("STOP, BAJA, PARAR, CANCELAR")
    await page.fill("#sup-phone", "9 8765 4321")  # as typed: the business's country reads it
    await page.click("#sup-add button[type=submit]")
    await expect(page.locator("#sup-status")).to_have_text("Agregado a la lista.")
    item = page.locator("#sup-list li")
    await expect(item).to_have_count(1)
    await expect(item.locator("strong")).to_have_text("+56 9 8765 4321")
    await expect(page.locator("#sup-count")).to_have_text("1 número en la lista")
    await page.fill("#sup-phone", "llamar")
    await page.click("#sup-add button[type=submit]")
    await expect(page.locator("#sup-status")).to_have_text("Ese número no sirve: no es un número.")
    await page.reload()
    await expect(item).to_have_count(1)  # it is stored, not only drawn
    await shot(page, "bulk-suppressions-es-1280", full_page=True)
    await item.get_by_role("button", name="Quitar +56 9 8765 4321 de la lista").click()
    await expect(item).to_have_count(0)
    await expect(page.locator("#sup-empty")).to_be_visible()
