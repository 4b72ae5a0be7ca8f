"""JWT issue and verify: HS256 pinned, exp/iat/sub required, per-user version and session."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"  # pinned; never taken from the token header (RFC 8725 §2.1)
LEEWAY = 5  # seconds of clock skew tolerated on exp/iat


class TokenError(Exception):
    """A token that must be refused; `code` is `token_expired` or `unauthorized`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says."""

    user_id: int
    tenant_id: int
    session_id: str
    version: int
    expires_at: int


def issue(
    secret: str, *, user_id: int, tenant_id: int, session_id: str, version: int, ttl: int,
    now: float | None = None,
) -> tuple[str, int]:
    """Sign a token; return it and its expiry (unix seconds)."""
    iat = int(now if now is not None else time.time())
    exp = iat + ttl
    token = jwt.encode(
        {"sub": str(user_id), "tid": tenant_id, "sid": session_id, "ver": version,
         "iat": iat, "exp": exp},
        secret,
        algorithm=ALGORITHM,
    )
    return token, exp


def verify(secret: str, token: str) -> Claims:
    """Check signature, algorithm and expiry; raise TokenError otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "sub"], "enforce_minimum_key_length": True},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "token expired") from None
    except jwt.PyJWTError:
        raise TokenError("unauthorized", "invalid token") from None
    try:
        return Claims(
            user_id=int(claims["sub"]),
            tenant_id=int(claims["tid"]),
            session_id=str(claims["sid"]),
            version=int(claims["ver"]),
            expires_at=int(claims["exp"]),
        )
    except (KeyError, TypeError, ValueError):
        raise TokenError("unauthorized", "invalid token claims") from None
