"""Who is calling: a verified token resolved against the current user, session and tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.auth import tokens
from app.db import Database
from app.errors import AppError
from app.services import users

# Cached lookups stay bounded; the cache only saves a read per request and is dropped on change.
MAX_CACHED = 100_000


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

    def accepts(self, audience: str | None) -> bool:
        """The one visibility predicate, for live fan-out and replay alike."""
        if audience is None:
            return True
        return audience in (f"user:{self.user_id}", f"role:{self.role}")

    def user_object(self) -> dict[str, Any]:
        """The user object of the API."""
        return {"id": str(self.user_id), "name": self.name, "email": self.email, "role": self.role,
                "client_code": self.client_code}


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
        self._users: dict[int, users.User] = {}
        self._sessions: set[str] = set()

    def forget_user(self, user_id: int) -> None:
        """Drop a user's cached row (after it changed)."""
        self._users.pop(user_id, None)

    def forget_session(self, session_id: str) -> None:
        """Drop a session from the cache (after logout)."""
        self._sessions.discard(session_id)

    async def authenticate(self, token: str) -> Principal:
        """Resolve a token or raise AuthFailure."""
        try:
            claims = tokens.verify(self._secret, token)
        except tokens.TokenError as exc:
            raise AuthFailure(str(exc), code=exc.code) from None
        user = self._users.get(claims.user_id)
        session_ok = claims.session_id in self._sessions
        if user is None or not session_ok:
            def load(conn: Any) -> tuple[users.User | None, bool]:
                return (users.get_user(conn, claims.tenant_id, claims.user_id),
                        users.session_active(conn, claims.tenant_id, claims.session_id))
            user, session_ok = await self._db.read(load)
            if user is not None:
                if len(self._users) >= MAX_CACHED:
                    self._users.clear()
                self._users[user.id] = user
            if session_ok:
                if len(self._sessions) >= MAX_CACHED:
                    self._sessions.clear()
                self._sessions.add(claims.session_id)
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
            expires_at=claims.expires_at,
        )
