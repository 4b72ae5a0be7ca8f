"""Users and login sessions of a tenant."""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from app.clock import now_ms
from app.db import Tx
from app.errors import Conflict, Invalid, NotFound
from app.text import clean_text

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")
ROLES = ("admin", "agent")
MIN_PASSWORD = 8    # NIST SP 800-63B minimum
MAX_PASSWORD = 256  # scrypt cost grows with length; bound it


@dataclass(frozen=True, slots=True)
class User:
    """A person who logs in; belongs to exactly one tenant."""

    id: int
    tenant_id: int
    client_code: str
    email: str
    name: str
    role: str
    disabled: bool
    token_version: int
    tenant_status: str
    must_change_password: bool = False
    lang: str | None = None

    def public(self) -> dict[str, Any]:
        """The user object of the API."""
        return {"id": str(self.id), "name": self.name, "email": self.email, "role": self.role,
                "client_code": self.client_code, "disabled": self.disabled,
                "must_change_password": self.must_change_password, "lang": self.lang}


_SELECT = (
    "SELECT u.id, u.tenant_id, t.code AS client_code, u.email, u.name, u.role, u.disabled,"
    " u.token_version, t.status AS tenant_status, u.password_hash, u.must_change_password, u.lang"
    " FROM users u JOIN tenants t ON t.id = u.tenant_id"
)


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["tenant_id"], row["client_code"], row["email"], row["name"],
                row["role"], bool(row["disabled"]), row["token_version"], row["tenant_status"],
                bool(row["must_change_password"]), row["lang"])


def check_email(email: str) -> str:
    """Normalise and validate an e-mail address."""
    email = (email or "").strip()
    if not EMAIL_RE.match(email):
        raise Invalid("invalid e-mail address", code="invalid_email")
    return email


def check_password(password: str) -> str:
    """Enforce the password length policy."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="weak_password"
        )
    return password


def check_lang(lang: object) -> str:
    """A supported interface language, or "" for none."""
    if lang not in ("", "es", "en"):
        raise Invalid("lang must be es or en", code="invalid_field", field="lang")
    return str(lang)


def one_time_password() -> str:
    """A password an admin reads out once: 12 characters without look-alikes (0/O, 1/l/I)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def check_role(role: str) -> str:
    """Validate a role name."""
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    return role


def create_user(
    tx: Tx, tenant_id: int, email: str, name: str, role: str, password_hash: str,
    *, must_change_password: bool = False,
) -> User:
    """Insert a user; e-mails are unique across the install (login names no tenant)."""
    email = check_email(email)
    check_role(role)
    try:
        row = tx.execute(
            "INSERT INTO users (tenant_id, email, name, role, password_hash, created_at,"
            " must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (tenant_id, email, (clean_text(name) or email.split("@")[0]).strip()[:100], role, password_hash,
             now_ms(), int(must_change_password)),
        ).fetchone()
    except sqlite3.IntegrityError:
        raise Conflict("a user with that e-mail already exists", code="email_taken") from None
    user = get_user(tx.conn, tenant_id, row[0])
    assert user is not None
    return user


def get_user(conn: sqlite3.Connection, tenant_id: int, user_id: int) -> User | None:
    """A user of one tenant (None for another tenant's user)."""
    row = conn.execute(_SELECT + " WHERE u.id = ? AND u.tenant_id = ?", (user_id, tenant_id)).fetchone()
    return _user(row) if row else None


def find_login(conn: sqlite3.Connection, email: str) -> tuple[User, str] | None:
    """The user and password hash for a login e-mail."""
    row = conn.execute(_SELECT + " WHERE u.email = ?", (email.strip(),)).fetchone()
    return (_user(row), row["password_hash"]) if row else None


def password_hash_of(conn: sqlite3.Connection, tenant_id: int, user_id: int) -> str | None:
    """The stored hash of one user."""
    row = conn.execute(
        "SELECT password_hash FROM users WHERE id = ? AND tenant_id = ?", (user_id, tenant_id)
    ).fetchone()
    return row[0] if row else None


def list_users(conn: sqlite3.Connection, tenant_id: int) -> list[User]:
    """Every user of one tenant."""
    rows = conn.execute(_SELECT + " WHERE u.tenant_id = ? ORDER BY u.id", (tenant_id,)).fetchall()
    return [_user(r) for r in rows]


def update_user(
    tx: Tx, tenant_id: int, user_id: int, *, name: str | None = None, role: str | None = None,
    disabled: bool | None = None, password_hash: str | None = None,
    must_change_password: bool | None = None, lang: str | None = None,
) -> User:
    """Change a user; disabling, a new role or a new password revokes every token they hold.

    `lang` "" clears the user's own language (the tenant's default applies again)."""
    current = get_user(tx.conn, tenant_id, user_id)
    if current is None:
        raise NotFound("user not found")
    revoke = False
    if name is not None:
        tx.execute("UPDATE users SET name = ? WHERE id = ? AND tenant_id = ?",
                   (clean_text(name).strip()[:100] or current.name, user_id, tenant_id))
    if role is not None and check_role(role) != current.role:
        tx.execute("UPDATE users SET role = ? WHERE id = ? AND tenant_id = ?", (role, user_id, tenant_id))
        revoke = True
    if disabled is not None and disabled != current.disabled:
        tx.execute("UPDATE users SET disabled = ? WHERE id = ? AND tenant_id = ?",
                   (int(disabled), user_id, tenant_id))
        revoke = revoke or disabled
    if password_hash is not None:
        tx.execute("UPDATE users SET password_hash = ? WHERE id = ? AND tenant_id = ?",
                   (password_hash, user_id, tenant_id))
        revoke = True
    if must_change_password is not None:
        tx.execute("UPDATE users SET must_change_password = ? WHERE id = ? AND tenant_id = ?",
                   (int(must_change_password), user_id, tenant_id))
    if lang is not None:
        tx.execute("UPDATE users SET lang = ? WHERE id = ? AND tenant_id = ?",
                   (check_lang(lang) or None, user_id, tenant_id))
    if revoke:
        tx.execute("UPDATE users SET token_version = token_version + 1 WHERE id = ? AND tenant_id = ?",
                   (user_id, tenant_id))
    user = get_user(tx.conn, tenant_id, user_id)
    assert user is not None
    return user


def create_session(tx: Tx, user: User, ttl: int) -> str:
    """Record one login; its id goes in the token."""
    sid = secrets.token_urlsafe(12)
    now = now_ms()
    tx.execute(
        "INSERT INTO sessions (id, tenant_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (sid, user.tenant_id, user.id, now, now + ttl * 1000),
    )
    # Keep the table small: expired sessions of this user go when they log in again.
    tx.execute("DELETE FROM sessions WHERE user_id = ? AND expires_at < ?", (user.id, now))
    return sid


def session_active(conn: sqlite3.Connection, tenant_id: int, user_id: int, session_id: str) -> bool:
    """True while a session of this user exists, has not expired and was not revoked."""
    row = conn.execute(
        "SELECT revoked_at FROM sessions WHERE id = ? AND tenant_id = ? AND user_id = ?"
        " AND expires_at > ?",
        (session_id, tenant_id, user_id, now_ms()),
    ).fetchone()
    return row is not None and row[0] is None


def revoke_session(tx: Tx, tenant_id: int, session_id: str) -> None:
    """Logout: that session's token stops working."""
    tx.execute(
        "UPDATE sessions SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
        (now_ms(), session_id, tenant_id),
    )


def revoke_user_sessions(tx: Tx, tenant_id: int, user_id: int) -> int:
    """Every session of one user ends (a password reset from the command line)."""
    return tx.execute(
        "UPDATE sessions SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL",
        (now_ms(), tenant_id, user_id),
    ).rowcount


def revoked_since(conn: sqlite3.Connection, since_ms: int) -> list[tuple[int, int, str]]:
    """(tenant, user, session) of sessions revoked at or after `since_ms`, over every tenant:
    the server's watch for revocations made by another process (ids only, no tenant's data)."""
    rows = conn.execute(
        "SELECT tenant_id, user_id, id FROM sessions WHERE revoked_at >= ?", (since_ms,)
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def count_active_users(conn: sqlite3.Connection, tenant_id: int) -> int:
    """People who can sign in to one tenant (the first-run checklist asks for a teammate)."""
    return conn.execute("SELECT COUNT(*) FROM users WHERE tenant_id = ? AND disabled = 0",
                        (tenant_id,)).fetchone()[0]
