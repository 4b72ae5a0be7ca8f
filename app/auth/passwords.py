"""Password hashing with stdlib scrypt at an OWASP-recommended cost, off the event loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# OWASP Password Storage Cheat Sheet lists N=2^14, r=8, p=5 as equivalent to its N=2^17 minimum;
# it needs 16 MiB per hash instead of 128 MiB, so a burst of logins cannot exhaust memory.
LOG_N = 14
R = 8
P = 5
_MAXMEM = 256 * 1024 * 1024  # OpenSSL's 32 MiB default refuses some OWASP parameter sets
# At most this many hashes run at once; each one costs ~200 ms of one core.
_CONCURRENCY = 2


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, log_n: int | None = None) -> str:
    """Hash a password; the result records its parameters: scrypt$logN$r$p$salt$hash."""
    n = LOG_N if log_n is None else log_n
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=1 << n, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=1 << int(n), r=int(r), p=int(p),
            maxmem=_MAXMEM, dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


class Hasher:
    """Hashes and checks passwords in worker threads, a bounded number at a time."""

    def __init__(self, concurrency: int = _CONCURRENCY) -> None:
        self._sem = asyncio.Semaphore(concurrency)
        self._dummy: str | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._sem:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def hash(self, password: str) -> str:
        """hash_password, off the loop."""
        return await self._run(hash_password, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        """verify_password, off the loop; an unknown user still costs one hash (same timing)."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self._run(hash_password, secrets.token_urlsafe(12))
            await self._run(verify_password, password, self._dummy)
            return False
        return await self._run(verify_password, password, stored)
