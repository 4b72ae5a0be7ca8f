"""The command line (PROTOCOL §1), run as the operator runs it: `python run.py ...`."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import run
from app import create_app
from app.config import Config
from app.errors import AppError
from app.services import tenants

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "una clave larga y segura"
STRONG_SECRET = "Zt8q-3vK_x1pL9wR2mN7bY4cH6jF0sDgTuE5aQeW"


def cli_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDORITO_")}
    env["CONDORITO_DB"] = str(db)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(db: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, env=cli_env(db, **env), input=stdin,
        capture_output=True, text=True, timeout=60, check=False,
    )


def cli_all(db: Path, *calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Several invocations at once (each one is a fresh interpreter: about a second)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: cli(db, *args), calls))


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 1 with exactly one line on stderr, naming the problem."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "condorito.db"


def tenant_codes(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in conn.execute("SELECT code FROM tenants"))
    finally:
        conn.close()


BAD_CODES = ("Acme", "-acme", "a" * 33)  # upper case, not a letter or digit first, too long


def test_create_tenant(db: Path) -> None:
    ok = cli(db, "create-tenant", "acme", "--name", "Acme SpA")
    assert ok.returncode == 0, ok.stderr
    assert "acme" in ok.stdout
    assert tenant_codes(db) == ["acme"]

    other = db.parent / "other.db"
    cloud, duplicate, *invalid, elsewhere = cli_all(
        db,
        ("create-tenant", "glo_bex-2", "--name", "Globex", "--provider", "cloud"),
        ("create-tenant", "acme", "--name", "Otra"),
        *(("create-tenant", "--name", "X", "--", bad) for bad in BAD_CODES),
        ("--db", str(other), "create-tenant", "solo", "--name", "Solo"),
    )
    assert cloud.returncode == 0, cloud.stderr
    assert "acme" in one_line_error(duplicate)
    for bad, proc in zip(BAD_CODES, invalid, strict=True):
        assert bad in one_line_error(proc), bad
    assert tenant_codes(db) == ["acme", "glo_bex-2"]
    # `--db` before the command names the database, like CONDORITO_DB does.
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert tenant_codes(other) == ["solo"]


def test_cli_writes_go_through_the_database_commit_path(db: Path) -> None:
    """run.py commits through Database.write: after-commit hooks run, once the row is visible;
    a failing write leaves nothing behind."""
    config = Config(db_path=db, secret=STRONG_SECRET)
    seen: list[list[str]] = []

    def create(tx: Any) -> str:
        tenant = tenants.create_tenant(tx, "hooks", "Hooks")
        tx.after_commit.append(lambda: seen.append(tenant_codes(db)))
        return tenant.code

    assert run.run_write(config, create) == "hooks"
    assert seen == [["hooks"]]  # ran, and after COMMIT: another connection already sees the row

    def half(tx: Any) -> None:
        tenants.create_tenant(tx, "half", "Half")
        tx.after_commit.append(lambda: seen.append(["never"]))
        raise AppError("refused", code="refused")

    with pytest.raises(AppError):
        run.run_write(config, half)
    assert tenant_codes(db) == ["hooks"] and seen == [["hooks"]]


@pytest.mark.parametrize("argv", [
    ["--db", "X", "create-tenant", "c", "--name", "n"],
    ["create-tenant", "c", "--name", "n", "--db", "X"],
    ["--db", "X", "create-user", "c", "e@x.test", "--password-stdin"],
    ["--db", "X", "backup", "out.db"],
    ["--db", "X"],
    ["serve", "--db", "X"],
])
def test_db_flag_anywhere(argv: list[str]) -> None:
    assert run.parser().parse_args(argv).db == "X"


async def test_create_user_then_log_in(db: Path, aiohttp_client: Any) -> None:
    def prepare() -> list[subprocess.CompletedProcess[str]]:
        tenant = cli(db, "create-tenant", "acme", "--name", "Acme")
        user = cli(db, "create-user", "acme", "ana@acme.test", "--password-stdin", "--role", "admin",
                   "--name", "Ana", stdin=PASSWORD + "\n")
        attempts = [
            (("nope", "x@nope.test"), PASSWORD), (("acme", "ana@acme.test"), PASSWORD),
            (("acme", "short@acme.test"), "corta"), (("acme", "not-an-email"), PASSWORD),
        ]
        with ThreadPoolExecutor(max_workers=4) as pool:
            failures = pool.map(
                lambda a: cli(db, "create-user", *a[0], "--password-stdin", stdin=a[1] + "\n"), attempts
            )
            return [tenant, user, *failures]

    tenant, user, unknown, duplicate, weak, bad_email = await asyncio.to_thread(prepare)
    assert tenant.returncode == 0, tenant.stderr
    assert user.returncode == 0, user.stderr
    assert PASSWORD not in user.stdout + user.stderr
    assert "nope" in one_line_error(unknown)
    for proc in (duplicate, weak, bad_email):
        one_line_error(proc)

    client = await aiohttp_client(create_app(Config(db_path=db, secret=STRONG_SECRET)))
    resp = await client.post("/api/v1/auth/login", json={"email": "ana@acme.test", "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["user"]["client_code"] == "acme"
    assert body["user"]["role"] == "admin" and body["user"]["name"] == "Ana"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await me.json())["email"] == "ana@acme.test"
    wrong = await client.post("/api/v1/auth/login", json={"email": "ana@acme.test", "password": "corta123"})
    assert wrong.status == 401
    for email in ("short@acme.test", "not-an-email"):
        miss = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert miss.status == 401


def test_backup(db: Path, tmp_path: Path) -> None:
    missing, *created = cli_all(
        db,
        ("--db", str(tmp_path / "missing.db"), "backup", str(tmp_path / "none.db")),
        ("create-tenant", "acme", "--name", "Acme"),
        ("create-tenant", "globex", "--name", "Globex"),
    )
    assert "no database" in one_line_error(missing)
    assert not (tmp_path / "none.db").exists()
    assert [p.returncode for p in created] == [0, 0], [p.stderr for p in created]
    target = tmp_path / "backups" / "copy.db"
    done = cli(db, "backup", str(target))
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert tenant_codes(target) == ["acme", "globex"]
    # An existing file is never overwritten.
    before = target.read_bytes()
    one_line_error(cli(db, "backup", str(target)))
    assert target.read_bytes() == before


# -- serving ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python run.py --port P --db PATH` with its stdout read line by line, with a deadline."""

    def __init__(self, db: Path, log: Path, **env: str) -> None:
        self.port = free_port()
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "run.py", "--port", str(self.port), "--db", str(db)], cwd=ROOT,
            env=cli_env(db, **env), stdout=subprocess.PIPE, stderr=self._log, bufsize=0,
        )
        self.log = log
        self._buf = b""

    def readline(self, timeout: float = 60.0) -> str:
        # A deadline, not a wait: a loaded machine (other suites, 2 cores) has taken over 20 s
        # to import, create the database and hash the first password.
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no line from the server in {timeout}s: {self.log.read_text()}"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                assert chunk, f"server exited {self.proc.wait()}: {self.log.read_text()}"
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def lines_until_listening(self) -> list[str]:
        lines = [self.readline()]
        while "listening" not in lines[-1]:
            lines.append(self.readline())
        return lines

    def stop(self) -> int:
        """SIGINT, then the exit code (a clean shutdown is quick)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def login(self, email: str, password: str) -> tuple[int, dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/api/v1/auth/login", json.dumps({"email": email, "password": password}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()


def field(lines: list[str], name: str) -> str:
    matches = [ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith(name + ":")]
    assert len(matches) == 1, lines
    return matches[0]


def test_first_run_prints_the_demo_login_once(db: Path, tmp_path: Path) -> None:
    server = Server(db, tmp_path / "server1.log")
    try:
        lines = server.lines_until_listening()
        email, password = field(lines, "e-mail"), field(lines, "password")
        assert len(password) >= 12
        assert f":{server.port}" in lines[-1]
        status, body = server.login(email, password)
        assert status == 200, body
        assert body["user"]["client_code"] == "demo" and body["user"]["role"] == "admin"
        # The generated JWT secret is kept beside the database, readable by its owner only.
        assert (db.parent / "secret.key").stat().st_mode & 0o777 == 0o600
        # An online backup while serving.
        copy = cli(db, "backup", str(tmp_path / "live.db"))
        assert copy.returncode == 0, copy.stderr
        assert tenant_codes(tmp_path / "live.db") == ["demo"]
        assert server.stop() == 0
    finally:
        server.close()
    assert password not in (tmp_path / "server1.log").read_text()

    again = Server(db, tmp_path / "server2.log")
    try:
        lines = again.lines_until_listening()
        assert not any("password" in ln.lower() for ln in lines), lines
        assert password not in "\n".join(lines)
        status, _ = again.login(email, password)
        assert status == 200  # the same account, on the same secret file
        assert again.stop() == 0
    finally:
        again.close()
    assert password not in (tmp_path / "server2.log").read_text()


WEAK_SECRETS = ("short", "mysecretmysecretmysecretmysecret", "changeme" + "!" * 30, "a" * 64)


def test_weak_secret_refused(db: Path) -> None:
    def start(secret: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "run.py", "--port", str(free_port())], cwd=ROOT,
            env=cli_env(db, CONDORITO_SECRET=secret), capture_output=True, text=True, timeout=60,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(start, WEAK_SECRETS))
    for secret, proc in zip(WEAK_SECRETS, results, strict=True):
        line = one_line_error(proc)
        assert "CONDORITO_SECRET" in line, secret
        assert secret not in line  # the message explains; it does not echo the secret
        assert "listening" not in proc.stdout and "password" not in proc.stdout, secret
    assert not db.exists()  # refused before touching anything
