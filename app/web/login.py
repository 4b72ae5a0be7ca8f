"""Logging in and out: throttled password check, a session row, a signed token."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from app import keys
from app.auth import tokens, users
from app.auth.principal import Principal
from app.errors import AppError
from app.realtime import const

log = logging.getLogger("condorito.auth")


class InvalidCredentials(AppError):
    """Same answer for an unknown e-mail, a wrong password and a disabled account."""

    status = 401
    code = "invalid_credentials"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A fresh token and who it is for."""

    token: str
    expires_at: int
    user: users.User


async def login(app: web.Application, email: str, password: str, ip: str) -> LoginResult:
    """Check a password and open a session; throttled as app/auth/throttle.py explains."""
    throttle = app[keys.THROTTLE]
    email = (email or "").strip()
    await throttle.check(email, ip)
    db = app[keys.DB]
    found = await db.read(lambda c: users.find_login(c, email)) if email else None
    user, stored = found if found else (None, None)
    ok = await app[keys.HASHER].verify(password or "", stored)
    if not ok or user is None or user.disabled or user.tenant_status != "active":
        throttle.failed(email, ip)
        log.info("login failed", extra={"fields": {"ip": ip}})
        raise InvalidCredentials("invalid e-mail or password")
    throttle.succeeded(email, ip)
    config = app[keys.CONFIG]
    sid = await db.write(lambda tx: users.create_session(tx, user, config.token_ttl))
    token, exp = tokens.issue(config.secret, user_id=user.id, tenant_id=user.tenant_id,
                              session_id=sid, version=user.token_version, ttl=config.token_ttl)
    log.info("login", extra={"fields": {"user": user.id, "tenant": user.tenant_id}})
    return LoginResult(token, exp, user)


async def logout(app: web.Application, principal: Principal) -> None:
    """Revoke this session's token and close the sockets opened with it."""
    await app[keys.DB].write(
        lambda tx: users.revoke_session(tx, principal.tenant_id, principal.session_id)
    )
    app[keys.AUTH].forget_session(principal.session_id)
    hub = app[keys.HUB]
    hub.close_where(lambda c: c.ident.session_id == principal.session_id,
                    const.CLOSE_UNAUTHORIZED, "logged out")
    hub.release_polls(principal.session_id)


def revoke_user(app: web.Application, user_id: int, reason: str) -> None:
    """After a user's tokens were revoked (password, role, disabled): drop cache, close sockets."""
    app[keys.AUTH].forget_user(user_id)
    app[keys.HUB].close_where(lambda c: c.ident.user_id == user_id, const.CLOSE_UNAUTHORIZED, reason)


async def change_password(app: web.Application, principal: Principal, current: str, new: str) -> None:
    """A user changes their own password: checks the current one; every token is revoked."""
    new = users.check_password(new)
    db = app[keys.DB]
    stored = await db.read(lambda c: users.password_hash_of(c, principal.tenant_id, principal.user_id))
    if not await app[keys.HASHER].verify(current, stored):
        raise InvalidCredentials("current password is wrong")
    new_hash = await app[keys.HASHER].hash(new)
    await db.write(lambda tx: users.update_user(tx, principal.tenant_id, principal.user_id,
                                                password_hash=new_hash, must_change_password=False))
    revoke_user(app, principal.user_id, "password changed")
