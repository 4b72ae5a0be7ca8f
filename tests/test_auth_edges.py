"""Auth edges: login CSRF, the Bearer scheme, changes made by another process."""

from __future__ import annotations

import pytest

from app import keys
from app.auth import principal, users
from app.services import tenants
from app.sqlite import connect
from tests.helpers.actors import PASSWORD, Actor


async def test_cross_site_login_form_is_refused(alice: Actor) -> None:
    form = {"email": alice.email, "password": PASSWORD, "next": "/"}
    resp = await alice.client.post("/login", data=form, headers={"Origin": "https://evil.example"},
                                   allow_redirects=False)
    assert resp.status == 403
    assert "condorito_session" not in resp.cookies
    host = alice.client.make_url("").origin()
    ok = await alice.client.post("/login", data=form, headers={"Origin": str(host)},
                                 allow_redirects=False)
    assert ok.status == 303 and "condorito_session" in ok.cookies


async def test_bearer_scheme_is_case_insensitive(alice: Actor) -> None:
    resp = await alice.client.get("/api/v1/me", headers={"Authorization": f"bearer {alice.token}"})
    assert resp.status == 200 and (await resp.json())["email"] == alice.email


async def test_cookie_with_a_non_bearer_header_still_needs_same_origin(alice: Actor) -> None:
    alice.client.session.cookie_jar.update_cookies({"condorito_session": alice.token})
    resp = await alice.client.post("/api/v1/auth/logout", headers={"Authorization": "Basic eDp5"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
    assert (await alice.get("/api/v1/me")).status == 200  # nothing was logged out


async def test_changes_by_another_process_apply_after_the_cache_ttl(
    alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await alice.get("/api/v1/me")).status == 200
    # As the CLI or an operator would: straight to the database, no cache invalidation.
    db = alice.client.app[keys.DB]
    await db.write(lambda tx: tenants.set_status(tx, alice.tenant_id, "suspended"))
    assert (await alice.get("/api/v1/me")).status == 200  # still cached
    monkeypatch.setattr(principal, "CACHE_TTL", 0.0)
    resp = await alice.get("/api/v1/me")
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"


async def test_the_revocation_watch_reads_only_revoked_sessions(alice: Actor) -> None:
    """The watch runs every 2 s over all tenants: its query walks sessions_revoked (revoked ones,
    by time), not every session row; and it finds a session revoked by a logout."""
    resp = await alice.client.post("/api/v1/auth/logout", headers=alice.headers)
    assert resp.status in (200, 204)
    conn = connect(alice.client.app[keys.DB].path, readonly=True)
    sent: list[str] = []
    conn.set_trace_callback(sent.append)
    try:
        found = users.revoked_since(conn, 0)
        assert [(t, u) for t, u, _ in found] == [(alice.tenant_id, alice.user_id)]
        conn.set_trace_callback(None)
        query = next(sql for sql in sent if "revoked_at >=" in sql)
        plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + query))
        assert "USING INDEX sessions_revoked" in plan, plan
    finally:
        conn.close()
