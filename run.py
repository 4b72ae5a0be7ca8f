#!/usr/bin/env python3
"""Condorito command line: serve (default), create-tenant, create-user, backup, restore,
reset-password."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from app import create_app
from app.auth import users
from app.auth.passwords import hash_password
from app.config import Config, ConfigError, load_config, resolve_secret
from app.db import Database, Tx
from app.errors import AppError
from app.logs import setup_logging
from app.private_files import private_dir
from app.serve_lock import LockBusy, ServeLock
from app.services import restore, tenants
from app.sqlite import backup
from app.whatsapp.base import ALL_PROVIDERS

T = TypeVar("T")

# A whole office reconnecting at once (after a restart) must not overflow the accept queue:
# aiohttp's default of 128 made the 129th SYN wait for a one-second retransmit.
LISTEN_BACKLOG = 1024
DEMO_CODE = "demo"
DEMO_EMAIL = "admin@demo.local"


def run_write(config: Config, fn: Callable[[Tx], T]) -> T:
    """One write transaction from the CLI, through the database's own commit path.

    Safe beside a running server (WAL + busy timeout); before- and after-commit hooks run as
    they do in the server, so the CLI never writes a row the server's hooks would have kept
    in step.
    """
    return asyncio.run(_write(config.db_path, fn))


async def _write(path: Path, fn: Callable[[Tx], T]) -> T:
    db = Database(path)
    await db.open()
    try:
        return await db.write(fn)
    finally:
        await db.close()


def bootstrap(config: Config) -> tuple[str, str] | None:
    """On an empty database: tenant `demo` and an admin with a random password, shown once."""
    password = secrets.token_urlsafe(12)
    password_hash = hash_password(password)

    def fn(tx: Tx) -> bool:
        if tenants.count_tenants(tx.conn):
            return False
        tenant = tenants.create_tenant(tx, DEMO_CODE, "Demo", "sandbox")
        users.create_user(tx, tenant.id, DEMO_EMAIL, "Admin", "admin", password_hash)
        return True

    return (DEMO_EMAIL, password) if run_write(config, fn) else None


def cmd_serve(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; aiohttp closes sockets (1001) and commits in-flight writes."""
    config = resolve_secret(config)
    created = bootstrap(config)
    if created:
        email, password = created
        print("Condorito: first run. Tenant 'demo' created with an admin login (shown once):",
              flush=True)
        print(f"  e-mail:   {email}\n  password: {password}", flush=True)
    listening = f"Condorito listening on http://{config.host}:{config.port}"
    # run_app calls `print` once the sockets are bound and startup has run, so the line is
    # only shown when a client can connect (printing it earlier raced the bind).
    web.run_app(create_app(config), host=config.host, port=config.port,
                print=lambda *_: print(listening, flush=True), access_log=None, shutdown_timeout=10,
                backlog=LISTEN_BACKLOG)
    return 0


def cmd_create_tenant(config: Config, code: str, name: str, provider: str) -> int:
    """Add a tenant."""
    tenant = run_write(config, lambda tx: tenants.create_tenant(tx, code, name, provider))
    print(f"tenant {tenant.code} created (id {tenant.id}, provider {tenant.provider})")
    return 0


def cmd_create_user(config: Config, code: str, email: str, role: str, name: str | None) -> int:
    """Add a user; the password comes from stdin (never from argv, which `ps` shows)."""
    password = users.check_password(sys.stdin.readline().rstrip("\r\n"))
    users.check_email(email)
    users.check_role(role)
    password_hash = hash_password(password)

    def fn(tx: Tx) -> users.User:
        tenant = tenants.get_tenant_by_code(tx.conn, code)
        if tenant is None:
            raise AppError(f"no tenant {code!r}", code="unknown_tenant")
        return users.create_user(tx, tenant.id, email, name or "", role, password_hash)

    user = run_write(config, fn)
    print(f"user {user.email} created in {code} (id {user.id}, role {user.role})")
    return 0


def cmd_backup(config: Config, target: str) -> int:
    """A consistent copy of the live database."""
    if not config.db_path.exists():
        raise AppError(f"no database at {config.db_path}", code="no_database")
    out = Path(target)
    if out.exists():
        raise AppError(f"{out} already exists", code="target_exists")
    # A directory made for backups is private; an existing one is the operator's choice.
    private_dir(out.parent, tighten=False)
    backup(config.db_path, out)
    print(f"backup written to {out}")
    return 0


def cmd_restore(config: Config, source: str) -> int:
    """Replace the database with a backup; refused while a server runs on it."""
    backup_path = Path(source)
    info = restore.inspect(backup_path)
    if backup_path.resolve() == config.db_path.resolve():
        raise AppError("the backup is the database itself", code="same_file")
    private_dir(config.db_path.parent)
    lock = ServeLock(config.db_path)
    try:
        lock.acquire(exclusive=True)
    except LockBusy:
        raise AppError(f"a server is running on {config.db_path}; stop it first",
                       code="server_running") from None
    try:
        restore.copy_into(backup_path, config.db_path)
        # Through Database: the schema is brought up to date like at a server's start.
        epochs = run_write(config, restore.new_epochs)
    finally:
        lock.release()
    print(f"restored {backup_path} into {config.db_path}: {info.tenants} tenants, "
          f"{info.messages} messages (schema {info.version}); {epochs} stream epochs changed, "
          "so open browsers reload")
    return 0


def cmd_reset_password(config: Config, code: str, email: str) -> int:
    """A new one-time password for a user; their tokens and sockets stop working."""
    password = users.one_time_password()
    password_hash = hash_password(password)

    def fn(tx: Tx) -> users.User:
        tenant = tenants.get_tenant_by_code(tx.conn, code)
        if tenant is None:
            raise AppError(f"no tenant {code!r}", code="unknown_tenant")
        found = users.find_login(tx.conn, email)
        if found is None or found[0].tenant_id != tenant.id:
            raise AppError(f"no user {email!r} in {code}", code="unknown_user")
        user = users.update_user(tx, tenant.id, found[0].id, password_hash=password_hash,
                                 must_change_password=True)
        # A running server closes these sessions' sockets when it sees them (revocations.py).
        users.revoke_user_sessions(tx, tenant.id, user.id)
        return user

    user = run_write(config, fn)
    print(f"one-time password for {user.email} in {code} (shown once; they choose their own at "
          f"sign-in): {password}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="run.py", description="Condorito WhatsApp CRM")
    p.add_argument("--db", help="SQLite file (env CONDORITO_DB; default ./data/condorito.db)")
    p.add_argument("--host", help="address to bind (env CONDORITO_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env CONDORITO_PORT; default 8080)")
    p.add_argument("--log-format", choices=("text", "json"),
                   help="log lines as text or JSON objects (env CONDORITO_LOG_FORMAT; default text)")
    sub = p.add_subparsers(dest="command")
    sv = sub.add_parser("serve", help="run the server (default)")
    ct = sub.add_parser("create-tenant", help="add a tenant")
    ct.add_argument("code")
    ct.add_argument("--name", required=True)
    ct.add_argument("--provider", choices=ALL_PROVIDERS, default="sandbox")
    cu = sub.add_parser("create-user", help="add a user to a tenant")
    cu.add_argument("code")
    cu.add_argument("email")
    cu.add_argument("--password-stdin", action="store_true", required=True)
    cu.add_argument("--role", choices=users.ROLES, default="agent")
    cu.add_argument("--name")
    bk = sub.add_parser("backup", help="consistent online copy of the database")
    bk.add_argument("path")
    rs = sub.add_parser("restore", help="replace the database with a backup (server stopped)")
    rs.add_argument("path")
    rp = sub.add_parser("reset-password", help="a new one-time password for a user")
    rp.add_argument("code")
    rp.add_argument("email")
    for sp in (sv, ct, cu, bk, rs, rp):
        # SUPPRESS as the default: an absent sub-command --db must not erase `run.py --db X cmd`.
        sp.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0 on success, 1 with a one-line error otherwise."""
    args = parser().parse_args(argv)
    try:
        config = load_config(db=args.db, host=args.host, port=args.port, log_format=args.log_format)
        setup_logging(config.log_level, config.log_format)
        if args.command in (None, "serve"):
            return cmd_serve(config)
        if args.command == "create-tenant":
            return cmd_create_tenant(config, args.code, args.name, args.provider)
        if args.command == "create-user":
            return cmd_create_user(config, args.code, args.email, args.role, args.name)
        if args.command == "backup":
            return cmd_backup(config, args.path)
        if args.command == "restore":
            return cmd_restore(config, args.path)
        if args.command == "reset-password":
            return cmd_reset_password(config, args.code, args.email)
    except (AppError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"error: database: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
