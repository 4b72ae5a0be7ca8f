"""Login throttling that an attacker cannot turn against the account's owner.

Failures are counted in a sliding window under three keys:

- per (account, address): the pair is locked after `max_account` failures, so one address cannot
  keep guessing one account's password;
- per address: an address that fails `max_ip` times across any accounts is locked;
- per account, across addresses: never a lock (a lock there would let anyone shut the owner out by
  failing on purpose), only a growing delay before the password is checked, so spreading guesses
  over many addresses stays slow while the owner's right password from a clean address gets in.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from app.errors import RateLimited

# Bounded memory: an attacker spraying random e-mails or addresses cannot grow the table past this.
MAX_KEYS = 50_000
# Bounded sleepers: each delayed login holds a coroutine; past this many, answer 429 at once.
MAX_SLEEPERS = 1000
# The cross-address delay: starts after DELAY_AFTER failures, doubles with each one, capped.
DELAY_AFTER = 3
BASE_DELAY = 0.25
MAX_DELAY = 5.0


class LoginThrottle:
    """Locks (account, address) pairs and addresses; slows accounts failing from many addresses."""

    def __init__(self, *, max_account: int, max_ip: int, window: float,
                 base_delay: float = BASE_DELAY, max_delay: float = MAX_DELAY,
                 max_sleepers: int = MAX_SLEEPERS,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.max_account = max_account
        self.max_ip = max_ip
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_sleepers = max_sleepers
        self.sleepers = 0
        self._sleep = sleep  # tests record the pauses instead of waiting them out
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

    @staticmethod
    def _keys(email: str, ip: str) -> tuple[str, str, str]:
        account = email.strip().lower()
        return f"p:{account}\x00{ip}", f"i:{ip}", f"a:{account}"

    def retry_after(self, email: str, ip: str, now: float | None = None) -> int:
        """Seconds until this address may try this account again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        pair, addr, _ = self._keys(email, ip)
        waits = []
        for key, limit in ((pair, self.max_account), (addr, self.max_ip)):
            q = self._recent(key, now)
            if len(q) >= limit:
                waits.append(q[-limit] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else 0

    def delay(self, email: str, now: float | None = None) -> float:
        """Seconds to wait before checking a password for this account (failures from anywhere)."""
        now = time.monotonic() if now is None else now
        n = len(self._recent(self._keys(email, "")[2], now))
        if n < DELAY_AFTER:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** min(n - DELAY_AFTER, 32))

    async def check(self, email: str, ip: str) -> None:
        """Raise RateLimited for a locked pair or address; otherwise wait the account's delay."""
        wait = self.retry_after(email, ip)
        if wait:
            raise RateLimited("too many failed logins", retry_after=wait)
        pause = self.delay(email)
        if pause <= 0:
            return
        if self.sleepers >= self.max_sleepers:
            raise RateLimited("too many logins waiting", retry_after=max(1, math.ceil(pause)))
        self.sleepers += 1
        try:
            await self._sleep(pause)
        finally:
            self.sleepers -= 1

    def failed(self, email: str, ip: str, now: float | None = None) -> None:
        """Count one failed attempt under the pair, the address and the account."""
        now = time.monotonic() if now is None else now
        keep = max(self.max_account, self.max_ip, DELAY_AFTER + 32)
        for key in self._keys(email, ip):
            q = self._fails.get(key)
            if q is None:
                q = self._fails[key] = deque()
            else:
                self._fails.move_to_end(key)
            q.append(now)
            while len(q) > keep:
                q.popleft()
        while len(self._fails) > MAX_KEYS:
            self._fails.popitem(last=False)

    def succeeded(self, email: str, ip: str) -> None:
        """A right password clears this pair only: the account's delay and the address's count
        stay, so a guess that succeeds elsewhere does not speed up an attack in progress."""
        self._fails.pop(self._keys(email, ip)[0], None)
