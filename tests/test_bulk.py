"""Bulk campaigns in one process with a counting fake provider: creation and its 400s, a whole
run (each recipient once, counters = rows, progress monotonic and final), opt-out skips, pause
and resume without repeats, no send after a cancel answer, the rate held, Meta's 131056 and
131048, export, bulk_active, and isolation between tenants."""

from __future__ import annotations

import csv
import io
import itertools
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app import keys
from app.services import bulk_track
from app.whatsapp import sandbox
from tests.helpers.actors import Actor, make_actor
from tests.helpers.api import assert_error, json_ok, stats
from tests.helpers.bulk import CountingProvider, act, campaign, create, digits, people, recipients
from tests.helpers.frames import drain_until, events, is_event

BULK = "/api/v1/bulk"


@pytest.fixture
def fake(client: TestClient) -> CountingProvider:
    return CountingProvider().install(client)


def finished(status: str = "completed") -> Any:
    return is_event("bulk_message_progress", lambda d: d["status"] == status)


async def db_counts(client: TestClient, campaign_id: str) -> dict[str, int]:
    rows = await client.app[keys.DB].read(lambda c: c.execute(
        "SELECT state, COUNT(*) FROM campaign_recipients WHERE campaign_id = ? GROUP BY state",
        (int(campaign_id),)).fetchall())
    return {r[0]: r[1] for r in rows}


async def test_a_campaign_sends_each_recipient_once_and_reports_true_progress(
        client: TestClient, alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 40, rate=80)
    assert (c["status"], c["total"], c["pending"], c["sent"]) == ("draft", 40, 40, 0)
    assert c["pacing"] == {"mode": "rate", "rate": 80.0}
    started = await act(alice, c["id"], "start")
    assert started["status"] == "running"
    frames = await drain_until(ws, finished(), timeout=20)
    assert (await stats(alice))["bulk_active"] == 0
    progress = [f["data"] for f in events(frames, "bulk_message_progress") if f["data"]["id"] == c["id"]]
    for before, after in itertools.pairwise(progress):
        for key in ("sent", "failed", "skipped"):
            assert after[key] >= before[key], (before, after)
    final = progress[-1]
    assert final["sent"] + final["failed"] + final["skipped"] + final["unknown"] == 40
    assert fake.per_phone() == {digits(i): 1 for i in range(40)}
    counts = await db_counts(client, c["id"])
    got = await campaign(alice, c["id"])
    assert got["sent"] == sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 40
    assert got["pending"] == 0 and got["status"] == "completed" and got["finished_at"]
    bodies = {s.to: s.body for s in fake.sends}
    assert bodies[digits(3)] == "Hola Cliente 3, tu cupón C3"
    # Each send is an outbound message of author kind "bulk" in the recipient's conversation.
    rows = await recipients(alice, c["id"])
    assert [r["phone"] for r in rows] == [digits(i) for i in range(40)]
    assert {r["state"] for r in rows} == {"sent"}


async def test_bulk_active_counts_running_campaigns(client: TestClient, alice: Actor,
                                                    fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 3, rate=0.1)  # one send now, the next in 10 s
    await act(alice, c["id"], "start")
    await drain_until(ws, is_event("stats_updated", lambda d: d["bulk_active"] == 1))
    await act(alice, c["id"], "cancel")
    await drain_until(ws, is_event("stats_updated", lambda d: d["bulk_active"] == 0))


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "", "body": "x", "recipients": people(1)}, "invalid_field"),
    ({"name": "x", "body": "", "recipients": people(1)}, "invalid_body"),
    ({"name": "x", "body": "x", "recipients": []}, "invalid_recipients"),
    ({"name": "x", "body": "x", "recipients": [{"phone": "123"}]}, "invalid_recipients"),
    ({"name": "x", "body": "x", "recipients": [{"name": "sin teléfono"}]}, "invalid_recipients"),
    ({"name": "x", "body": "x", "recipients": people(1) + people(1)}, "invalid_recipients"),
    ({"name": "x", "body": "x", "recipients": [{"phone": "+56987654321", "vars": [1]}]}, "invalid_recipients"),
    ({"name": "x", "body": "x", "recipients": people(1), "pacing": {"rate": 500}}, "invalid_field"),
    ({"name": "x", "body": "x", "recipients": people(1), "pacing": {"min_gap_s": 1}}, "invalid_field"),
    ({"name": "x", "body": "x", "recipients": people(1), "start_at": "mañana"}, "invalid_field"),
    ({"name": "x", "body": "x", "recipients": people(1), "scheduled_at": -1}, "invalid_field"),
    ({"name": "x", "body": "x", "recipients": people(1), "template": "promo"}, "invalid_field"),
])
async def test_bad_campaigns_are_refused_whole(alice: Actor, body: dict[str, Any], code: str) -> None:
    err = await assert_error(await alice.post(BULK, body), 400, code)
    if body.get("recipients") and len(body["recipients"]) == 2:
        assert (err["index"], err["reason"]) == (1, "duplicate")
    assert (await json_ok(await alice.get(BULK)))["items"] == []


async def test_moves_that_do_not_fit_the_status_are_409(alice: Actor, fake: CountingProvider) -> None:
    c = await create(alice, 1)
    await assert_error(await alice.post(f"{BULK}/{c['id']}/resume"), 409, "invalid_state")
    await assert_error(await alice.post(f"{BULK}/{c['id']}/pause"), 409, "invalid_state")
    await act(alice, c["id"], "cancel")
    await assert_error(await alice.post(f"{BULK}/{c['id']}/start"), 409, "invalid_state")
    await assert_error(await alice.post(f"{BULK}/{c['id']}/nope"), 404)
    await assert_error(await alice.get(f"{BULK}/{c['id']}/recipients", params={"state": "x"}), 400)


async def test_a_future_start_time_schedules(alice: Actor, fake: CountingProvider) -> None:
    c = await create(alice, 1, start_at=4_102_444_800_000)  # 2100
    assert (await act(alice, c["id"], "start"))["status"] == "scheduled"
    await alice.client.app[keys.BULK].passes(2)
    assert fake.sends == []
    assert (await act(alice, c["id"], "pause"))["status"] == "paused"


async def test_scheduled_at_creates_it_scheduled_and_it_starts_at_its_time(
        client: TestClient, alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    later = await create(alice, 1, scheduled_at=4_102_444_800_000)
    assert (later["status"], later["scheduled_at"]) == ("scheduled", 4_102_444_800_000)
    assert (await act(alice, later["id"], "start"))["status"] == "running"  # "send now"
    await drain_until(ws, finished(), timeout=20)
    due = await create(alice, 1, scheduled_at=1)  # its time has come: the runner starts it
    assert due["status"] == "scheduled"
    await client.app[keys.BULK].passes(1)
    await drain_until(ws, is_event("bulk_message_progress",
                                   lambda d: d["id"] == due["id"] and d["status"] == "completed"))


async def test_a_contact_who_sent_baja_is_skipped_and_counted(client: TestClient, alice: Actor,
                                                              fake: CountingProvider) -> None:
    await alice.inbound(digits(2), "BAJA")
    ws, _ = await alice.ws()
    c = await create(alice, 5)
    await act(alice, c["id"], "start")
    final = (await drain_until(ws, finished(), timeout=20))[-1]["data"]
    assert (final["skipped"], final["sent"]) == (1, 4)
    # The opt-out confirmation is one send to that phone; the campaign sent it nothing.
    assert [s.body.startswith("Listo") for s in fake.accepted() if s.to == digits(2)] == [True]
    skipped = await recipients(alice, c["id"], state="skipped")
    assert [(r["phone"], r["error"]) for r in skipped] == [(digits(2), "opted_out")]


async def test_pause_then_resume_keeps_going_without_repeats(alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 30, rate=20)
    await act(alice, c["id"], "start")
    await fake.wait_sends(5)
    paused = await act(alice, c["id"], "pause")
    assert paused["status"] == "paused" and paused["pause_reason"] == "user"
    at_pause = len(fake.sends)
    await alice.client.app[keys.BULK].passes(4)
    assert len(fake.sends) == at_pause  # nothing started while paused
    await act(alice, c["id"], "resume")
    await drain_until(ws, finished(), timeout=20)
    assert fake.per_phone() == {digits(i): 1 for i in range(30)}


async def test_no_send_starts_after_the_cancel_answer(client: TestClient, alice: Actor,
                                                      fake: CountingProvider) -> None:
    c = await create(alice, 200, rate=60)
    await act(alice, c["id"], "start")
    await fake.wait_sends(10)
    cancelled = await act(alice, c["id"], "cancel")
    answered = time.monotonic()
    assert cancelled["status"] == "cancelled"
    await client.app[keys.BULK].passes(4)
    assert all(s.at < answered for s in fake.sends)
    after = await campaign(alice, c["id"])
    assert after["status"] == "cancelled" and after["sent"] == len(fake.sends) < 200
    assert after["pending"] == 200 - len(fake.sends)
    assert max(fake.per_phone().values()) == 1


async def test_the_configured_rate_is_held(alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 31, rate=10)  # 3 s: slow enough for a loaded CI machine to keep up
    await act(alice, c["id"], "start")
    frames = await drain_until(ws, finished(), timeout=20)
    stamps = sorted(s.at for s in fake.sends)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])  # by the provider's clock
    assert 9 <= rate <= 11, rate
    # Progress at most ~2 per second: events of the same status are >= 0.5 s apart (a change
    # of status is announced at once).
    progress = [f for f in events(frames, "bulk_message_progress") if f["data"]["id"] == c["id"]]
    assert len(progress) >= 4
    for before, after in itertools.pairwise(progress):
        if before["data"]["status"] == after["data"]["status"]:
            assert after["ts"] - before["ts"] >= 450, (before, after)


async def test_pair_rate_limit_retries_that_recipient_only(client: TestClient, alice: Actor,
                                                          fake: CountingProvider,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_track, "PAIR_BACKOFF_MS", 50)
    fake.refuse[digits(1)].extend(["wa_131056", "wa_131056"])
    ws, _ = await alice.ws()
    c = await create(alice, 4)
    await act(alice, c["id"], "start")
    final = (await drain_until(ws, finished(), timeout=20))[-1]["data"]
    assert (final["sent"], final["failed"], final["status"]) == (4, 0, "completed")
    assert [s.accepted for s in fake.sends if s.to == digits(1)] == [False, False, True]
    retried = next(r for r in await recipients(alice, c["id"]) if r["phone"] == digits(1))
    assert retried["attempts"] == 3


async def test_spam_limit_pauses_the_campaign_and_tells_the_admins(
        client: TestClient, alice: Actor, fake: CountingProvider) -> None:
    fake.refuse[digits(2)].append("wa_131048")
    agent = await make_actor(client, "acme", role="agent")
    ws_admin, _ = await alice.ws()
    ws_agent, _ = await agent.ws()
    c = await create(alice, 20, rate=20)
    await act(alice, c["id"], "start")
    alert = (await drain_until(ws_admin, is_event("bulk_alert"), timeout=20))[-1]["data"]
    assert alert["reason"] == "spam_limit" and alert["campaign_ids"] == [c["id"]]
    await drain_until(ws_admin, is_event("bulk_message_progress", lambda d: d["status"] == "paused"))
    got = await campaign(alice, c["id"])
    assert (got["status"], got["pause_reason"]) == ("paused", "spam_limit")
    sent_then = len(fake.sends)
    await client.app[keys.BULK].passes(3)
    assert len(fake.sends) == sent_then
    frames = await drain_until(ws_agent, is_event("bulk_message_progress", lambda d: d["status"] == "paused"))
    assert not events(frames, "bulk_alert")  # admins only


async def test_export_csv(alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 3, recipients=[{"phone": "+56987650001", "name": "=HYPERLINK(1)"},
                                           {"phone": "+56987650002", "name": "Ñandú"}])
    await act(alice, c["id"], "start")
    await drain_until(ws, finished(), timeout=20)
    resp = await alice.get(f"{BULK}/{c['id']}/export.csv")
    assert resp.status == 200 and resp.content_type == "text/csv"
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["phone", "name", "state", "error", "attempts", "replied", "updated_at"]
    assert [r[:3] for r in rows[1:]] == [["56987650001", "'=HYPERLINK(1)", "sent"],
                                         ["56987650002", "Ñandú", "sent"]]


async def test_a_reply_counts_as_replied(alice: Actor, fake: CountingProvider) -> None:
    ws, _ = await alice.ws()
    c = await create(alice, 2)
    await act(alice, c["id"], "start")
    await drain_until(ws, finished(), timeout=20)
    await alice.inbound(digits(1), "me interesa")
    await drain_until(ws, is_event("bulk_message_progress", lambda d: d["replied"] == 1))
    assert [r["replied"] for r in await recipients(alice, c["id"])] == [False, True]


async def test_another_tenant_can_neither_see_nor_control_a_campaign(
        client: TestClient, alice: Actor, bob: Actor, fake: CountingProvider) -> None:
    ws_bob, _ = await bob.ws()
    ws_alice, _ = await alice.ws()
    c = await create(alice, 3)
    for action in ("start", "pause", "resume", "cancel"):
        await assert_error(await bob.post(f"{BULK}/{c['id']}/{action}"), 404, "not_found")
    for path in ("", "/recipients", "/export.csv"):
        await assert_error(await bob.get(f"{BULK}/{c['id']}{path}"), 404, "not_found")
    assert (await json_ok(await bob.get(BULK)))["items"] == []
    await act(alice, c["id"], "start")
    await drain_until(ws_alice, finished(), timeout=20)
    # Bob's socket got none of it: a barrier call answers after everything queued for him.
    await ws_bob.send_json({"type": "call", "id": 1, "method": "presence"})
    frames = await drain_until(ws_bob, lambda f: f.get("type") == "result")
    assert not events(frames, "bulk_message_progress")
    assert fake.accepted(bob.tenant_id) == []


async def test_a_qr_number_paces_like_a_person_and_shows_its_allowance(
        client: TestClient, alice: Actor) -> None:
    await client.app[keys.DB].write(lambda tx: tx.execute(
        "UPDATE tenants SET provider = 'web' WHERE id = ?", (alice.tenant_id,)))
    client.app[keys.TENANTS].forget(alice.tenant_id)
    c = await json_ok(await alice.post(BULK, {"name": "QR", "body": "Hola", "recipients": people(2)}), 201)
    assert c["pacing"]["mode"] == "human" and c["pacing"]["min_gap_s"] >= 5
    assert (c["pacing"]["cap_24h"], c["pacing"]["sent_24h"]) == (250, 0)


async def test_receipts_move_recipients_to_delivered_and_read(
        client: TestClient, alice: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RECEIPTS", (("sent", 0.0), ("delivered", 0.0), ("read", 0.0)))
    ws, _ = await alice.ws()
    assert (await alice.post("/api/v1/whatsapp/connect")).status == 202
    qr = (await drain_until(ws, is_event("whatsapp_qr")))[-1]["data"]
    pair = await client.post("/sandbox/pair/" + qr["value"].rsplit("/", 1)[1], data={"phone": "56900000009"})
    assert pair.status == 200
    c = await create(alice, 3)  # the real sandbox this time: it answers with receipts
    await act(alice, c["id"], "start")
    final = (await drain_until(ws, is_event("bulk_message_progress", lambda d: d["read"] == 3),
                               timeout=20))[-1]["data"]
    assert (final["sent"], final["delivered"], final["read"], final["status"]) == (3, 3, 3, "completed")
    assert {r["state"] for r in await recipients(alice, c["id"])} == {"read"}
