"""Who is calling: a verified token resolved against the current user, session and tenant."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from app.auth import tokens, users
from app.db import Database
from app.errors import AppError

# Cached lookups stay bounded; the cache only saves a read per request and is dropped on change.
MAX_CACHED = 100_000
# Changes made by another process (the CLI, an operator's SQL) are seen within this many seconds;
# changes made through this process are seen at once (forget_* after commit).
CACHE_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, bound to one tenant for the life of a request or socket."""

    tenant_id: int
    client_code: str
    user_id: int
    session_id: str
    role: str
    name: str
    email: str
    expires_at: int
    must_change_password: bool = False
    lang: str | None = None

    def accepts(self, audience: str | None) -> bool:
        """The one visibility predicate, for live fan-out and replay alike."""
        if audience is None:
            return True
        return audience in (f"user:{self.user_id}", f"role:{self.role}")

    def user_object(self) -> dict[str, Any]:
        """The user object of the API."""
        return {"id": str(self.user_id), "name": self.name, "email": self.email, "role": self.role,
                "client_code": self.client_code, "must_change_password": self.must_change_password,
                "lang": self.lang}


class AuthFailure(AppError):
    """A refused credential: `code` is unauthorized, token_expired or forbidden."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        if self.code == "forbidden":
            self.status = 403


class Authenticator:
    """Verifies tokens and checks them against users/sessions, with a small coherent cache.

    Every change to a user or session in this process goes through `forget_*` after commit,
    so the cache never serves a revoked token.
    """

    def __init__(self, db: Database, secret: str) -> None:
        self._db = db
        self._secret = secret
        self._users: dict[int, tuple[float, users.User]] = {}
        self._sessions: dict[str, tuple[float, int]] = {}  # session -> (cached at, user id)

    def forget_user(self, user_id: int) -> None:
        """Drop a user's cached row (after it changed)."""
        self._users.pop(user_id, None)

    def forget_session(self, session_id: str) -> None:
        """Drop a session from the cache (after logout)."""
        self._sessions.pop(session_id, None)

    def forget_all(self) -> None:
        """Drop everything (e.g. after a tenant was suspended)."""
        self._users.clear()
        self._sessions.clear()

    async def authenticate(self, token: str) -> Principal:
        """Resolve a token or raise AuthFailure."""
        try:
            claims = tokens.verify(self._secret, token)
        except tokens.TokenError as exc:
            raise AuthFailure(str(exc), code=exc.code) from None
        now = time.monotonic()
        cached_user = self._users.get(claims.user_id)
        cached_session = self._sessions.get(claims.session_id)
        if (cached_user is not None and cached_session is not None
                and now - cached_user[0] < CACHE_TTL and now - cached_session[0] < CACHE_TTL):
            user: users.User | None = cached_user[1]
            session_ok = cached_session[1] == claims.user_id
        else:
            def load(conn: Any) -> tuple[users.User | None, bool]:
                return (users.get_user(conn, claims.tenant_id, claims.user_id),
                        users.session_active(conn, claims.tenant_id, claims.user_id,
                                             claims.session_id))
            user, session_ok = await self._db.read(load)
            if len(self._users) >= MAX_CACHED or len(self._sessions) >= MAX_CACHED:
                self.forget_all()
            if user is not None:
                self._users[user.id] = (now, user)
            if session_ok:
                self._sessions[claims.session_id] = (now, claims.user_id)
        if user is None or user.tenant_id != claims.tenant_id:
            raise AuthFailure("unknown user")
        if user.token_version != claims.version or not session_ok:
            raise AuthFailure("token revoked")
        if user.disabled:
            raise AuthFailure("user disabled")
        if user.tenant_status != "active":
            raise AuthFailure("tenant suspended", code="forbidden")
        return Principal(
            tenant_id=user.tenant_id, client_code=user.client_code, user_id=user.id,
            session_id=claims.session_id, role=user.role, name=user.name, email=user.email,
            expires_at=claims.expires_at, must_change_password=user.must_change_password,
            lang=user.lang,
        )
