"""What happens to a campaign's sends, as the outbox and the providers report it.

Called inside the writes of messages.py (statuses), outbox.py (accepted) and the inbox
(replies), so a recipient's state changes in the same transaction as its message. Each call
is one indexed statement that finds nothing for a message no campaign sent.
"""

from __future__ import annotations

import random

from app.clock import now_ms
from app.db import Tx
from app.realtime import stream

# A recipient's state only moves forward, as a message's status does (`failed` and `unknown`
# may still be overtaken by a later delivery receipt from another device).
RANK = {"pending": 0, "sending": 1, "failed": 2, "unknown": 2, "sent": 3, "delivered": 4, "read": 5}
# The outbox found the send interrupted by a crash: Meta may or may not have it. Never re-sent.
UNCONFIRMED = "send_unconfirmed"
# Refusals by the runner's gate just before the provider call (pause/cancel): nothing was sent.
WITHDRAWN = ("bulk_paused", "bulk_cancelled")
# Meta's codes (§2.5) as the Cloud provider reports them (`wa_<code>`).
PAIR_RATE = ("wa_131056",)                        # this recipient, too often: retry later
STOP_NUMBER = {"wa_131048": "spam_limit",         # pause every campaign of the number, tell admins
               "wa_368": "account_restricted", "wa_131031": "account_restricted",
               "wa_130497": "account_restricted"}
PAIR_RETRIES = 3
PAIR_BACKOFF_MS = 6_000  # Meta: about one message per 6 s to the same person
REPLY_WINDOW_MS = 7 * 24 * 3600 * 1000  # an answer within a week of the send counts as a reply


def _forward(tx: Tx, tenant_id: int, message_id: int, state: str, error: str | None = None) -> int:
    """Move the recipient of this message to `state` if that is forward; returns its campaign
    id (0 when the message is no campaign's or the move is not forward)."""
    lower = [s for s, r in RANK.items() if r < RANK[state]]
    row = tx.execute(
        f"UPDATE campaign_recipients SET state = ?, error = ?, updated_at = ?"
        f" WHERE message_id = ? AND tenant_id = ? AND state IN ({','.join('?' * len(lower))})"
        " RETURNING campaign_id",
        (state, error, now_ms(), message_id, tenant_id, *lower),
    ).fetchone()
    return int(row[0]) if row else 0


def on_accepted(tx: Tx, tenant_id: int, message_id: int) -> None:
    """The provider took the message: its recipient is `sent`."""
    _forward(tx, tenant_id, message_id, "sent")


def on_status(tx: Tx, tenant_id: int, message_id: int, status: str, error: str | None) -> None:
    """A message's status moved (messages.set_status): follow it on its recipient."""
    if status in ("sent", "delivered", "read"):
        _forward(tx, tenant_id, message_id, status)
        return
    if status != "failed":
        return
    if error == UNCONFIRMED:
        _forward(tx, tenant_id, message_id, "unknown", error)
        return
    if error in WITHDRAWN or error in PAIR_RATE:
        _retry_later(tx, tenant_id, message_id, error)
        return
    campaign_id = _forward(tx, tenant_id, message_id, "failed", error)
    if campaign_id and error in STOP_NUMBER:
        pause_number(tx, tenant_id, STOP_NUMBER[error], error)


def _retry_later(tx: Tx, tenant_id: int, message_id: int, error: str) -> None:
    """Back to `pending`: withdrawn sends at once (on resume), 131056 after a growing delay;
    a recipient over its retries for 131056 is `failed`."""
    row = tx.execute(
        "SELECT id, attempts FROM campaign_recipients WHERE message_id = ? AND tenant_id = ?"
        " AND state = 'sending'", (message_id, tenant_id),
    ).fetchone()
    if row is None:
        return
    now = now_ms()
    if error in WITHDRAWN:
        tx.execute("UPDATE campaign_recipients SET state = 'pending', updated_at = ?"
                   " WHERE id = ? AND tenant_id = ?", (now, row[0], tenant_id))
    elif row[1] >= PAIR_RETRIES:
        tx.execute("UPDATE campaign_recipients SET state = 'failed', error = ?, updated_at = ?"
                   " WHERE id = ? AND tenant_id = ?", (error, now, row[0], tenant_id))
    else:
        delay = PAIR_BACKOFF_MS * 2 ** (row[1] - 1)
        delay += random.randint(0, delay // 2)  # jitter: retries of many recipients spread out
        tx.execute("UPDATE campaign_recipients SET state = 'pending', error = ?, not_before = ?,"
                   " updated_at = ? WHERE id = ? AND tenant_id = ?",
                   (error, now + delay, now, row[0], tenant_id))


def pause_number(tx: Tx, tenant_id: int, reason: str, code: str) -> None:
    """Meta flagged the number (131048 spam limit, 368 restricted...): every running campaign of
    the tenant pauses, and the admins are told (a durable `bulk_alert` for role admin)."""
    now = now_ms()
    ids = [r[0] for r in tx.execute(
        "UPDATE campaigns SET status = 'paused', pause_reason = ?, updated_at = ?, dirty = 1"
        " WHERE tenant_id = ? AND status IN ('running', 'scheduled') RETURNING id",
        (reason, now, tenant_id),
    ).fetchall()]
    if ids:
        stream.append(tx, tenant_id, "bulk:alert",
                      {"kind": "paused", "reason": reason, "code": code,
                       "campaign_ids": [str(i) for i in sorted(ids)], "at": now},
                      audience="role:admin")


def on_reply(tx: Tx, tenant_id: int, phone: str) -> None:
    """A customer wrote: their recipient rows of the last week's campaigns count `replied`."""
    now = now_ms()
    tx.execute(
        "UPDATE campaign_recipients SET replied_at = ? WHERE tenant_id = ? AND phone = ?"
        " AND replied_at IS NULL AND queued_at >= ? AND state IN ('sent', 'delivered', 'read', 'unknown')",
        (now, tenant_id, phone, now - REPLY_WINDOW_MS),
    )
