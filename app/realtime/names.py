"""The one table of event names: internal name -> wire name and class (PROTOCOL §3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EventClass(Enum):
    """How an event is kept: replayed in full, replayed newest-per-key, or never stored."""

    DURABLE = "durable"
    LATEST = "latest"
    EPHEMERAL = "ephemeral"


@dataclass(frozen=True, slots=True)
class EventName:
    """One row of the table."""

    internal: str
    wire: str
    cls: EventClass
    key: str | None = None  # latest-wins key template, formatted with the event's key fields


EVENTS: dict[str, EventName] = {
    e.internal: e
    for e in (
        EventName("message:new", "new_message", EventClass.DURABLE),
        EventName("message:status", "message_status", EventClass.LATEST, "msg:{}"),
        # A message's file became ready or failed (docs/protocol-additions.md).
        EventName("message:media", "message_media", EventClass.LATEST, "media:{}"),
        EventName("conversation:updated", "conversation_updated", EventClass.LATEST, "conv:{}"),
        EventName("stats:updated", "stats_updated", EventClass.LATEST, "stats"),
        EventName("bot:status_changed", "bot_status_changed", EventClass.LATEST, "bot"),
        EventName("whatsapp:qr", "whatsapp_qr", EventClass.EPHEMERAL),
        # authenticated and disconnected share a key: replay yields only the current state.
        EventName("whatsapp:authenticated", "whatsapp_authenticated", EventClass.LATEST, "wa:session"),
        EventName("whatsapp:disconnected", "whatsapp_disconnected", EventClass.LATEST, "wa:session"),
        EventName("bulk:progress", "bulk_message_progress", EventClass.LATEST, "bulk:{}"),
        # Meta flagged the number and campaigns paused (131048, 368...): sent to admins.
        EventName("bulk:alert", "bulk_alert", EventClass.DURABLE),
        EventName("typing", "typing", EventClass.EPHEMERAL),
        EventName("presence:changed", "presence_changed", EventClass.EPHEMERAL),
    )
}


def lookup(internal: str) -> EventName:
    """Return the table row for an internal name (KeyError for a name not in the table)."""
    return EVENTS[internal]


def coalesce_key(name: EventName, key_part: object | None) -> str | None:
    """The latest-wins key of one event, or None for durable events."""
    if name.cls is not EventClass.LATEST or name.key is None:
        return None
    if "{}" in name.key:
        if key_part is None:
            raise ValueError(f"{name.internal} needs a key")
        return name.key.format(key_part)
    return name.key
