"""The pages under the Content-Security-Policy (issue 7 item 2) in a real browser: the login page
and the dashboard render and work with no policy violation and no console error, and the policy
really is in force (an inline script injected into the page is refused)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import Live
from tests.e2e.test_dashboard import api_token, inbound, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Collected in the page from the first script on; read back with page.evaluate.
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def violations(page: Page) -> list[Any]:
    return await page.evaluate("window.__csp")


async def test_pages_work_under_the_policy(page: Page, live: Live) -> None:
    await page.add_init_script(WATCH)
    errors = watch_console(page)
    first = await page.goto(live.base + "/login")
    assert first is not None and "script-src 'self'" in first.headers["content-security-policy"]
    assert await violations(page) == []
    await sign_in(page, live)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    token = await api_token(live)
    await inbound(live, token, "56911112222", "hola")
    await expect(page.locator("#stat-unread")).to_have_text("1")
    assert await violations(page) == []
    for path in ("/chat", "/settings"):
        resp = await page.goto(live.base + path)
        assert resp is not None and resp.status == 200, path
        await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
        assert await violations(page) == [], path
    assert errors == []


async def test_inline_script_is_refused(page: Page, live: Live) -> None:
    await page.add_init_script(WATCH)
    await page.goto(live.base + "/login")
    await page.evaluate("""() => {
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
    }""")
    await page.wait_for_function("window.__csp.length > 0")
    assert await page.evaluate("window.__ran === undefined")
    assert any(v.startswith("script-src") for v in await violations(page))
