"""Sessions revoked by another process (`run.py reset-password`) end in this server too.

The command line cannot reach this process's sockets or its authentication cache, but it
commits `sessions.revoked_at`. Every `period` seconds the server reads the sessions revoked
lately, forgets them (and their users) in the cache and closes their sockets (4501). The window
read overlaps the previous one, so a revocation committed late is still seen; handling one twice
is harmless (nothing is left to close).
"""

from __future__ import annotations

import asyncio
import logging

from app.auth import users
from app.auth.principal import Authenticator
from app.clock import now_ms
from app.db import Database
from app.realtime import const
from app.realtime.hub import Hub
from app.tasks import cancel_and_wait

log = logging.getLogger("condorito.revocations")

OVERLAP_MS = 10_000


class RevocationWatch:
    """A background task that applies revocations committed by other processes."""

    def __init__(self, db: Database, auth: Authenticator, hub: Hub, period: float) -> None:
        self._db = db
        self._auth = auth
        self._hub = hub
        self._period = period
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop watching."""
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        since = now_ms() - OVERLAP_MS
        while True:
            await asyncio.sleep(self._period)
            started = now_ms()
            try:
                revoked = await self._db.read(lambda c, s=since: users.revoked_since(c, s))
            except Exception:
                log.exception("revocation watch failed")
                continue
            since = started - OVERLAP_MS
            self.apply(revoked)

    def apply(self, revoked: list[tuple[int, int, str]]) -> int:
        """Forget and disconnect the revoked sessions; return how many sockets were closed."""
        if not revoked:
            return 0
        sessions = {sid for _, _, sid in revoked}
        for _, user_id, sid in revoked:
            self._auth.forget_session(sid)
            self._auth.forget_user(user_id)
        closed = self._hub.close_where(lambda c: c.ident.session_id in sessions,
                                       const.CLOSE_UNAUTHORIZED, "session revoked")
        if closed:
            log.info("revoked sessions disconnected", extra={"fields": {"sockets": closed}})
        return closed
