"""Login throttling: failures counted per account and per client address in a sliding window."""

from __future__ import annotations

import time
from collections import OrderedDict, deque

# Bounded memory: an attacker spraying random e-mails cannot grow the table past this.
MAX_KEYS = 50_000


class LoginThrottle:
    """Refuses logins for an account or address after too many recent failures."""

    def __init__(self, *, max_account: int, max_ip: int, window: float) -> None:
        self.max_account = max_account
        self.max_ip = max_ip
        self.window = window
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def retry_after(self, email: str, ip: str, now: float | None = None) -> int:
        """Seconds until a login may be tried again; 0 when it may be tried now."""
        now = time.monotonic() if now is None else now
        waits = []
        for key, limit in ((f"a:{email.lower()}", self.max_account), (f"i:{ip}", self.max_ip)):
            q = self._recent(key, now)
            if len(q) >= limit:
                waits.append(q[0] + self.window - now)
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, email: str, ip: str, now: float | None = None) -> None:
        """Count one failed attempt."""
        now = time.monotonic() if now is None else now
        for key in (f"a:{email.lower()}", f"i:{ip}"):
            q = self._fails.get(key)
            if q is None:
                q = self._fails[key] = deque()
            else:
                self._fails.move_to_end(key)
            q.append(now)
            while len(q) > max(self.max_account, self.max_ip):
                q.popleft()
        while len(self._fails) > MAX_KEYS:
            self._fails.popitem(last=False)

    def succeeded(self, email: str) -> None:
        """A correct password clears the account's counter (not the address's)."""
        self._fails.pop(f"a:{email.lower()}", None)
