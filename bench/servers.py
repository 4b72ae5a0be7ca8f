"""The servers under test: Condorito (`python run.py` on a temp database, tenants and users made
through its CLI) and the python-socketio baseline, each a subprocess on 127.0.0.1 pinned to the
server's core, started, logged into and stopped here."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from errors import BenchError
from httpclient import HttpPool
from procfs import SERVER_CORE, pin_to_server_core, proc_mem, two_cores

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
HOST = "127.0.0.1"  # every server listens here, and only here


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess on 127.0.0.1, pinned to the server core, logs in its temp dir."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path,
                 cwd: Path = ROOT) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.workdir = workdir
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=pin_to_server_core)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                 + self.log_tail())
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                if two_cores() and os.sched_getaffinity(self.pid) != {SERVER_CORE}:
                    raise BenchError(f"{self.name} is not pinned to core {SERVER_CORE}")
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def mem(self) -> dict[str, int]:
        return proc_mem(self.pid)

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (clean shutdown), then SIGKILL if it does not go away in time."""
        p = self.proc
        if p is None or p.poll() is not None:
            return None if p is None else p.returncode
        p.send_signal(signal.SIGINT)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(5)


def run_cli(db: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """`python run.py ARGS... --db DB`; raises BenchError on a non-zero exit."""
    # --db goes after the subcommand: run.py's subparsers declare their own --db whose default
    # (None) overrides a --db given before the subcommand (argparse behaviour).
    r = subprocess.run([PY, str(ROOT / "run.py"), *args, "--db", str(db)], cwd=ROOT, env=env,
                       input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise BenchError(f"run.py {' '.join(args)} failed: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def condorito_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: a strong random secret, sockets per user raised."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDORITO_")}
    env["CONDORITO_SECRET"] = secrets.token_urlsafe(36)  # 48 characters
    env["CONDORITO_MAX_SOCKETS_PER_USER"] = "1000000"
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


class Tenant:
    """One benchmark tenant: code, admin login, token, Cloud API settings when used."""

    def __init__(self, index: int, code: str, provider: str) -> None:
        self.index = index
        self.code = code
        self.provider = provider
        self.email = f"admin@{code}.bench"
        self.password = secrets.token_urlsafe(18)
        self.token = ""
        self.phone_number_id = str(900000 + index)
        self.app_secret = secrets.token_hex(16)


class _ServerUnderTest:
    """What both servers share: a temp dir, a free port, tenants bench1.., one subprocess."""

    def __init__(self, prefix: str, tenants: int, provider: str, keep: bool,
                 tmp_root: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
        self.port = free_port()
        self.keep = keep
        self.tenants = [Tenant(i, f"bench{i + 1}", provider) for i in range(tenants)]
        self.server: ServerProcess

    def close(self) -> None:
        self.server.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Condorito(_ServerUnderTest):
    """`python run.py` on a temp database, tenants and users made through the CLI."""

    def __init__(self, tenants: int = 2, provider: str = "sandbox",
                 env_extra: dict[str, str] | None = None, keep: bool = False,
                 tmp_root: str | None = None) -> None:
        super().__init__("condorito-bench-", tenants, provider, keep, tmp_root)
        self.db = self.tmp / "bench.db"
        self.env = condorito_env(env_extra)
        self.server = ServerProcess(
            "condorito", [PY, str(ROOT / "run.py"), "--db", str(self.db), "--host", HOST,
                          "--port", str(self.port)], self.env, self.port, self.tmp)

    def setup(self) -> None:
        """Create tenants and admins (CLI), start the server, log in, switch to Cloud if asked."""
        for t in self.tenants:
            run_cli(self.db, self.env, "create-tenant", t.code, "--name", f"Bench {t.index + 1}",
                    "--provider", "cloud" if t.provider == "cloud" else "sandbox")
            run_cli(self.db, self.env, "create-user", t.code, t.email, "--password-stdin",
                    "--role", "admin", "--name", "Bench", stdin=t.password + "\n")
        self.server.start()

    async def login(self, http: HttpPool) -> None:
        for t in self.tenants:
            status, body = await http.request(
                "POST", "/api/v1/auth/login", orjson.dumps({"email": t.email, "password": t.password}))
            if status != 200:
                raise BenchError(f"login {t.email}: HTTP {status} {body[:200]!r}")
            t.token = orjson.loads(body)["token"]
            if t.provider == "cloud":
                cfg = {"provider": "cloud", "phone_number_id": t.phone_number_id,
                       "access_token": "bench-token", "app_secret": t.app_secret,
                       "verify_token": "bench-verify"}
                status, body = await http.request(
                    "PUT", "/api/v1/whatsapp/config", orjson.dumps(cfg),
                    headers={"Authorization": f"Bearer {t.token}"})
                if status != 200:
                    raise BenchError(f"cloud config {t.code}: HTTP {status} {body[:200]!r}")


class Baseline(_ServerUnderTest):
    """bench/baseline_socketio.py (python-socketio AsyncServer on aiohttp), same scenario."""

    def __init__(self, tenants: int = 2, keep: bool = False) -> None:
        super().__init__("sio-bench-", tenants, "sio", keep)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["BASELINE_APP_SECRETS"] = ",".join(f"{t.code}={t.app_secret}" for t in self.tenants)
        self.server = ServerProcess(
            "baseline", [PY, str(BENCH / "baseline_socketio.py"), "--port", str(self.port)], env,
            self.port, self.tmp)

    def setup(self) -> None:
        self.server.start()

    async def login(self, http: HttpPool) -> None:
        """Nothing to log into: the baseline trusts the tenant named at connect (no storage)."""
