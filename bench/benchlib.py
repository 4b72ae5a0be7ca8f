"""Shared pieces of the benchmarks: servers under test, /proc probes, a lean WebSocket and HTTP
client for the load generator, percentiles and tables.

The load generator is written against raw asyncio transports on purpose: aiohttp's client costs
several times more CPU per frame than the servers we measure, and a load generator that saturates
first measures itself. Every client frame is still a real RFC 6455 frame (masked), every HTTP
request a real HTTP/1.1 request on a keep-alive connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER_CORE = 0
LOADGEN_CORE = 1


class BenchError(Exception):
    """A benchmark cannot go on (server did not start, a setup call failed...)."""


# -- cores, limits, clocks ----------------------------------------------------------------------


def _two_cores() -> bool:
    try:
        return len(os.sched_getaffinity(0)) >= 2 and (os.cpu_count() or 1) >= 2
    except AttributeError:
        return False


# Read once at import, before this process pins itself to one core (after which its own
# affinity mask, inherited by the servers it starts, holds a single core).
_TWO_CORES = _two_cores()


def two_cores() -> bool:
    """True when at least two cores are available (then server and load generator split)."""
    return _TWO_CORES


def pin_loadgen() -> str:
    """Pin this process (the load generator) to its core; returns a note for the report."""
    if two_cores():
        os.sched_setaffinity(0, {LOADGEN_CORE})
        return f"server on core {SERVER_CORE}, load generator on core {LOADGEN_CORE}"
    return "single core: server and load generator share it (numbers are pessimistic)"


def raise_nofile(want: int) -> int:
    """Raise RLIMIT_NOFILE toward `want` (capped by the hard limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, want), hard) if hard != resource.RLIM_INFINITY else max(soft, want)
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def now_us() -> int:
    """The load generator's clock (monotonic, microseconds): stamps and receipts use it."""
    return time.monotonic_ns() // 1000


def use_fast_loop() -> str:
    """uvloop for the load generator when installed (it only makes the generator cheaper)."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


class SelfCpu:
    """CPU used by this process (the load generator) over a window."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = self._cpu()

    @staticmethod
    def _cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def read(self) -> tuple[float, float]:
        """(cpu seconds, share of one core) since the start."""
        cpu = self._cpu() - self.c0
        wall = max(1e-9, time.monotonic() - self.t0)
        return cpu, cpu / wall


# -- /proc probes -------------------------------------------------------------------------------


def proc_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    rest = raw[raw.rindex(b")") + 2:].split()
    return int(rest[11]) / CLK_TCK, int(rest[12]) / CLK_TCK


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    u, s = proc_times(pid)
    return u + s


def proc_mem(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, bytes."""
    out = {}
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith((b"VmRSS:", b"VmHWM:")):
                key, val = line.split(b":", 1)
                out[key.decode()] = int(val.split()[0]) * 1024
    return out


def core_busy() -> dict[int, float]:
    """Busy seconds of each core since boot (everything but idle and iowait), /proc/stat."""
    out = {}
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"cpu") and line[3:4].isdigit():
                parts = line.split()
                vals = [int(v) for v in parts[1:]]
                out[int(parts[0][3:])] = (sum(vals[:8]) - vals[3] - vals[4]) / CLK_TCK
    return out


class CoreLoad:
    """How busy the server's and the load generator's cores were with *other* processes.

    The machine is shared: a benchmark whose cores were busy with someone else's test suite
    reports less throughput and more latency than the server deserves (CPU per delivery is
    affected much less). We subtract our own processes' CPU from each core's busy time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.b0 = core_busy()

    def others(self, own: dict[int, float]) -> dict[int, float]:
        """Share of each core used by other processes over the window; `own` = our CPU seconds
        per core (server on SERVER_CORE, load generator on LOADGEN_CORE)."""
        wall = max(1e-9, time.monotonic() - self.t0)
        b1 = core_busy()
        return {c: max(0.0, (b1[c] - self.b0.get(c, 0.0) - own.get(c, 0.0)) / wall) for c in b1}


def others_note(load: dict[int, float]) -> tuple[str, bool]:
    """A one-line note on other processes' use of our two cores; True when it is significant."""
    cores = [SERVER_CORE, LOADGEN_CORE] if two_cores() else [0]
    used = {c: load.get(c, 0.0) for c in cores}
    text = ", ".join(f"core {c} {v * 100:.0f} %" for c, v in used.items())
    return f"other processes used: {text}", any(v > 0.10 for v in used.values())


class Profiler:
    """BENCH_PROFILE=DIR: sample a server with py-spy over a measured window only (collapsed
    stacks in DIR/<label>-<pid>.txt; summarise with bench/profile_summary.py). py-spy runs on
    the load generator's core, but reading the target's memory still costs the server a little:
    compare CPU figures from unprofiled runs."""

    def __init__(self, pid: int, label: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        out_dir = os.environ.get("BENCH_PROFILE")
        spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
        if not out_dir or not Path(spy).exists():
            return
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(out_dir) / f"{label}-{pid}.txt"
        rate = os.environ.get("BENCH_PROFILE_RATE", "250")
        cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", rate, "--threads",
               "--nonblocking", "-o", str(self.path)]
        if os.environ.get("BENCH_PROFILE_PERF"):  # native stacks (SQLite, the kernel) with perf
            self.path = self.path.with_suffix(".perf")
            cmd = ["perf", "record", "-p", str(pid), "-g", "-F", rate, "-o", str(self.path)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # let it attach before the window opens

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        print(f"profile: {self.path}", file=sys.stderr)
        self.proc = None


def tcp_queues(local_port: int, remote_port: int) -> tuple[int, int] | None:
    """(send queue, receive queue) in bytes of the loopback TCP socket local_port -> remote_port,
    from /proc/net/tcp: kernel memory that no process RSS shows."""
    want_l = f":{local_port:04X}"
    want_r = f":{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want_l) and parts[2].endswith(want_r):
                tx, rx = parts[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


class CpuWindow:
    """Server CPU seconds and wall time between `start()` and `stop()` (profiled with py-spy
    when BENCH_PROFILE is set)."""

    def __init__(self, pid: int, label: str = "server") -> None:
        self.pid = pid
        self.label = label
        self.cpu0 = self.cpu1 = 0.0
        self.u0 = self.u1 = self.s0 = self.s1 = 0.0
        self.t0 = self.t1 = 0.0
        self.profiler: Profiler | None = None

    def start(self) -> None:
        if os.environ.get("BENCH_PROFILE"):
            self.profiler = Profiler(self.pid, self.label)
        self.t0 = time.monotonic()
        self.u0, self.s0 = proc_times(self.pid)
        self.cpu0 = self.u0 + self.s0

    def stop(self) -> None:
        self.t1 = time.monotonic()
        self.u1, self.s1 = proc_times(self.pid)
        self.cpu1 = self.u1 + self.s1
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None

    @property
    def cpu(self) -> float:
        return self.cpu1 - self.cpu0

    @property
    def sys_share(self) -> float:
        """Kernel share of the window's CPU (on loopback the sender also pays for TCP receive)."""
        return (self.s1 - self.s0) / self.cpu if self.cpu > 0 else float("nan")

    @property
    def wall(self) -> float:
        return max(1e-9, self.t1 - self.t0)


# -- servers under test -------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin_server() -> None:
    if two_cores():
        os.sched_setaffinity(0, {SERVER_CORE})


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
                                     preexec_fn=_pin_server)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} at start:\n"
                                 + self.log_tail())
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                if two_cores() and os.sched_getaffinity(self.pid) != {SERVER_CORE}:
                    raise BenchError(f"{self.name} is not pinned to core {SERVER_CORE}")
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def mem(self) -> dict[str, int]:
        return proc_mem(self.pid)

    def cpu(self) -> float:
        return proc_cpu(self.pid)

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


class Condorito:
    """`python run.py` on a temp database, tenants and users made through the CLI."""

    def __init__(self, tenants: int = 2, provider: str = "sandbox",
                 env_extra: dict[str, str] | None = None, keep: bool = False,
                 tmp_root: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="condorito-bench-", dir=tmp_root))
        self.db = self.tmp / "bench.db"
        self.port = free_port()
        self.env = condorito_env(env_extra)
        self.keep = keep
        self.tenants = [Tenant(i, f"bench{i + 1}", provider) for i in range(tenants)]
        self.server = ServerProcess(
            "condorito", [PY, str(ROOT / "run.py"), "--db", str(self.db), "--host", "127.0.0.1",
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

    def close(self) -> None:
        self.server.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Baseline:
    """bench/baseline_socketio.py (python-socketio AsyncServer on aiohttp), same scenario."""

    def __init__(self, tenants: int = 2, keep: bool = False) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sio-bench-"))
        self.port = free_port()
        self.keep = keep
        self.tenants = [Tenant(i, f"bench{i + 1}", "sio") for i in range(tenants)]
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

    def close(self) -> None:
        self.server.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# -- HTTP/1.1 keep-alive client -------------------------------------------------------------------


class _HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.fut: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.fut = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.fut

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self.buf = buf
            return
        head = buf[:end].lower()
        i = head.find(b"\r\ncontent-length:")
        if i < 0:
            if b"transfer-encoding: chunked" in head:
                self._fail(BenchError("chunked responses are not supported by the bench client"))
                return
            length = 0
        else:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17: j if j > 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            self.buf = buf
            return
        status = int(buf[9:12])
        body = buf[end + 4: total]
        self.buf = buf[total:]
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result((status, body))
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionError(f"HTTP connection lost: {exc}"))


class HttpPool:
    """`size` keep-alive connections; at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host = host
        self.port = port
        self.size = size
        self.free: asyncio.Queue[_HttpConn] = asyncio.Queue()
        self.conns: list[_HttpConn] = []
        self.prefix = f"\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: "

    async def _open(self) -> _HttpConn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_HttpConn, self.host, self.port)
        conn.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    async def open(self) -> None:
        self.conns = list(await asyncio.gather(*(self._open() for _ in range(self.size))))
        for c in self.conns:
            self.free.put_nowait(c)

    def encode(self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        return (f"{method} {path} HTTP/1.1{self.prefix}{len(body)}\r\n{extra}\r\n").encode() + body

    async def acquire(self) -> _HttpConn:
        conn = await self.free.get()
        if conn.lost:
            conn = await self._open()
        return conn

    def release(self, conn: _HttpConn) -> None:
        self.free.put_nowait(conn)

    async def send_raw(self, data: bytes) -> tuple[int, bytes]:
        conn = await self.acquire()
        try:
            return await conn.send(data)
        finally:
            self.release(conn)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return await self.send_raw(self.encode(method, path, body, headers))

    def close(self) -> None:
        for c in self.conns:
            if c.transport is not None:
                c.transport.close()


# -- WebSocket client ----------------------------------------------------------------------------


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked, final client frame (RFC 6455 §5.3)."""
    n = len(payload)
    key = os.urandom(4)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + key + _mask(payload, key)


class WsClient(asyncio.Protocol):
    """A minimal RFC 6455 client. Subclasses implement `on_open` and `on_text`.

    `on_text(payload, now)` gets each complete text message; `now` is read once per socket read,
    so frames that arrived together share it.
    """

    path = "/"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.frag: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason = b""
        self.lost = False
        self.bytes_in = 0
        self.msgs_in = 0                  # WebSocket text messages (a batch array counts once)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()   # set by subclasses (welcome...)
        self.done: asyncio.Future[None] = loop.create_future()    # set when the socket is gone

    # transport plumbing
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(  # type: ignore[attr-defined]
            (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
             ).encode())

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._refused(buf[: end].split(b"\r\n", 1)[0].decode(errors="replace"))
                return
            self.upgraded = True
            buf = buf[end + 4:]
            self.on_open()
        now = time.monotonic_ns() // 1000
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            ln = buf[pos + 1] & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(buf[pos + 2: pos + 10], "big")
                hdr = 10
            end = pos + hdr + ln
            if end > n:
                break
            op = b0 & 0x0F
            if op == 1 and b0 & 0x80:
                self.msgs_in += 1
                self.on_text(buf[pos + hdr: end], now)
            else:
                self._control(b0, op, buf[pos + hdr: end], now)
            pos = end
        self.buf = buf[pos:] if pos < n else b""

    def _control(self, b0: int, op: int, payload: bytes, now: int) -> None:
        if op in (0, 1, 2):  # fragments (servers here do not fragment, but be correct)
            self.frag.append(payload)
            if b0 & 0x80:
                whole, self.frag = b"".join(self.frag), []
                self.on_text(whole, now)
        elif op == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close_reason = payload[2:]
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(payload[:2], 8))
                self.transport.close()
        elif op == 9:
            self.send(payload, 10)

    def _refused(self, status_line: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"upgrade refused: {status_line}"))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"socket closed before ready (code {self.close_code})"))
        if not self.done.done():
            self.done.set_result(None)
        self.on_lost()

    def send(self, payload: bytes, opcode: int = 1) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(client_frame(payload, opcode))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(code.to_bytes(2, "big"), 8)
            self.transport.close()

    # hooks
    def on_open(self) -> None: ...

    def on_text(self, payload: bytes, now: int) -> None: ...

    def on_lost(self) -> None: ...


async def connect_all(factories: Sequence[Callable[[], WsClient]], host: str, port: int,
                      concurrency: int = 200, wait_s: float = 60.0) -> tuple[list[WsClient], list[float]]:
    """Open every socket (bounded concurrency); wait for each to be ready. Returns the clients
    and each one's set-up time in seconds (TCP connect → ready)."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(factory: Callable[[], WsClient]) -> WsClient:
        async with sem:
            t0 = time.monotonic()
            _, client = await loop.create_connection(factory, host, port)
            await asyncio.wait_for(client.ready, wait_s)
            times.append(time.monotonic() - t0)
            return client

    clients = await asyncio.gather(*(one(f) for f in factories))
    return list(clients), times


# -- injection payloads --------------------------------------------------------------------------


def body_text(tenant_index: int, k: int, stamp: int, tag: str = "bx") -> str:
    """The message body: tag (bx measured, bw warm-up), tenant, per-tenant message index, send
    time (load generator clock, µs)."""
    return f"{tag}:{tenant_index}:{k}:{stamp}"


def phone_of(tenant_index: int, k: int) -> str:
    """A few customers per tenant, so conversations repeat as they do in a real inbox."""
    return f"5691{tenant_index:02d}{k % 50:05d}"


def cloud_webhook(phone_number_id: str, wa_id: str, phone: str, body: str) -> bytes:
    """A Cloud API `messages` webhook carrying one text message (reference §1.3-1.4)."""
    return orjson.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "bench-waba", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Bench Customer"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": wa_id, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": body}}],
        }}]}],
    })


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# -- numbers and tables --------------------------------------------------------------------------


def percentiles(values: list[int], ps: Iterable[float] = (50, 90, 99)) -> list[float]:
    """Nearest-rank percentiles of a list (sorted in place); NaN when empty."""
    if not values:
        return [float("nan") for _ in ps]
    values.sort()
    n = len(values)
    return [values[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))] for p in ps]


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        if abs(v) >= 1000:
            s = f"{v:,.0f}"
        elif abs(v) >= 100:
            s = f"{v:.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.2f}"
    elif isinstance(v, int):
        s = f"{v:,}"
    else:
        s = str(v)
    return s + unit


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A compact fixed-width table (first column left-aligned, others right)."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for j, r in enumerate(cells):
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def mb(n: int | float) -> str:
    return f"{n / 1e6:.1f} MB"
