"""The bulk pages: list, new campaign, one campaign, do-not-send list; translated, CSP-clean,
with the business's default country and provider where the page explains them."""

from __future__ import annotations

import re

import pytest

from tests.helpers.actors import Actor
from tests.helpers.api import json_ok

PAGES = ("/bulk", "/bulk/new", "/bulk/suppressions", "/bulk/{id}")


async def draft(actor: Actor) -> str:
    """A campaign of the actor's tenant, not started."""
    got = await json_ok(await actor.post("/api/v1/bulk", {"name": "Quetzal secreto", "body": "Hola {{nombre}}",
                                                         "recipients": [{"phone": "56987654321"}]}), 201)
    return got["id"]


@pytest.mark.parametrize("path", PAGES)
async def test_bulk_pages_render_in_both_languages(alice: Actor, path: str) -> None:
    path = path.format(id=await draft(alice)) if "{id}" in path else path
    for lang, word in (("es", "Envíos masivos"), ("en", "Bulk sends")):
        resp = await alice.get(f"{path}?lang={lang}")
        assert resp.status == 200, path
        html = await resp.text()
        assert word in html  # the top bar's tab at least
        assert re.search(r'id="nav-bulk" class="nav-item active"', html)
        assert "/static/css/bulk.css" in html and 'src="/static/js/bulk/' in html
        for tag in re.findall(r"<script[^>]*>", html):
            assert 'type="module" src="/static/' in tag or 'type="application/json"' in tag, tag
        assert "style=" not in html
        assert "bulk." not in re.sub(r"<script[^>]*>.*?</script>|/static/[^\"]+|\bjs/bulk/", "", html, flags=re.S), \
            "an untranslated key shows"


async def test_new_campaign_page_explains_country_and_pacing(alice: Actor) -> None:
    html = await (await alice.get("/bulk/new?lang=es")).text()
    assert "como de Chile" in html and "modo de prueba" in html  # sandbox tenant, UTC -> Chile
    assert 'data-var="nombre"' in html and "{{nombre}}" in html
    await json_ok(await alice.patch("/api/v1/tenant", {"default_country": "AR"}))
    html = await (await alice.get("/bulk/new?lang=en")).text()
    assert "read as Argentina numbers" in html and 'data-var="name"' in html


async def test_campaign_page_is_the_owners_only(alice: Actor, bob: Actor) -> None:
    cid = await draft(alice)
    html = await (await alice.get(f"/bulk/{cid}")).text()
    assert f'data-campaign="{cid}"' in html and f'href="/api/v1/bulk/{cid}/export.csv"' in html
    other = await bob.get(f"/bulk/{cid}")  # another tenant's campaign is one that does not exist
    assert other.status == 404 and "Quetzal" not in await other.text()
    for bad in ("/bulk/a%22b", "/bulk/" + "9" * 19, "/bulk/a.b", "/bulk/999999"):
        assert (await alice.get(bad)).status == 404


async def test_pages_need_a_session(client) -> None:
    for path in (p.format(id=1) for p in PAGES):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (302, 303) and resp.headers["Location"].startswith("/login"), path
