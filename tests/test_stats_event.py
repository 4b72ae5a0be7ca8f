"""stats_updated carries exactly the GET /stats object (PROTOCOL §3.2), seq included."""

from __future__ import annotations

from typing import Any

from tests.helpers.actors import Actor
from tests.helpers.api import stats
from tests.helpers.frames import barrier, drain_until, events

CONVS = "/api/v1/conversations"


async def settled_stats_event(actor: Actor, ws: Any, unread: int) -> dict[str, Any]:
    """The stats_updated that reports `unread`, once nothing else is pending on the socket."""
    frames = await drain_until(ws, lambda f: f.get("event") == "stats_updated" and f["data"]["unread"] == unread)
    later = events(await barrier(ws))
    # One write touched the stats once, so one event describes it and nothing follows it.
    assert later == [], later
    return frames[-1]


async def test_stats_updated_is_the_get_stats_object(alice: Actor, bob: Actor) -> None:
    ws, _ = await alice.ws()
    bob_ws, _ = await bob.ws()
    conv = (await alice.inbound("56911112222", "hola", name="Ana"))["conversation_id"]
    event = await settled_stats_event(alice, ws, 1)
    got = await stats(alice)
    # Same keys, same values, and the seq is the event's own: the head GET /stats reads at.
    assert event["data"] == got
    assert event["data"]["seq"] == event["seq"]
    assert set(got) == {"conversations_open", "unread", "messages_today_in", "messages_today_out",
                        "contacts", "bulk_active", "seq"}

    # The read mark's stats_updated as well.
    resp = await alice.post(f"{CONVS}/{conv}/read")
    assert resp.status == 204, await resp.text()
    event = await settled_stats_event(alice, ws, 0)
    assert event["data"] == await stats(alice)
    assert event["data"]["seq"] == event["seq"] > got["seq"]

    # The other tenant saw none of it.
    assert events(await barrier(bob_ws), "stats_updated") == []


async def test_replayed_stats_updated_keeps_its_seq(alice: Actor) -> None:
    ws, welcome = await alice.ws()
    await alice.inbound("56911112222", "hola")
    live = await settled_stats_event(alice, ws, 1)
    await ws.close()
    ws2, _ = await alice.ws(resume={"epoch": welcome["epoch"], "seq": 0})
    replayed = await drain_until(ws2, lambda f: f.get("event") == "stats_updated")
    assert replayed[-1]["data"] == live["data"] == {**live["data"], "seq": live["seq"]}
