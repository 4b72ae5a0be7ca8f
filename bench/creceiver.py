"""The C receiver (bench/receiver.c and its parts) driven from Python: compile, configure, read
its results.

The Python receivers in loadgen.py saturate their core at ~70-85k deliveries/s, below what the
server can send; the C receiver does the same work (same protocols, same byte patterns, same
bookkeeping) in one epoll process. It is compiled at run time into a temp directory
(`gcc -O2 -o <tmpdir>/receiver bench/receiver.c bench/receiver_*.c`), pinned to the load
generator's core, fed a job on stdin and answers one JSON object per line on stdout (see the
comment at the top of receiver.c). Latency uses CLOCK_MONOTONIC in µs, which is what the Python
injector stamps (time.monotonic_ns() // 1000), so the two processes share the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson
from bookkeeping import Run
from errors import BenchError
from procfs import pin_to_loadgen_core, proc_cpu
from servers import Tenant

HERE = Path(__file__).resolve().parent
# main and the epoll loop, then its parts (receiver.h declares what they share)
SOURCES = [HERE / "receiver.c", *sorted(HERE.glob("receiver_*.c"))]


def compile_receiver(tmpdir: Path) -> Path:
    """gcc -O2 -o <tmpdir>/receiver bench/receiver*.c (never committed: built per run)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BenchError("--receiver c needs gcc (or cc) on PATH")
    out = tmpdir / "receiver"
    r = subprocess.run([gcc, "-O2", "-o", str(out), *map(str, SOURCES)], capture_output=True,
                       text=True, timeout=120, check=False)
    if r.returncode != 0:
        raise BenchError(f"compiling {', '.join(s.name for s in SOURCES)} failed:\n{r.stderr.strip()}")
    return out


class CReceivers:
    """One receiver.c process holding every socket of a run (C = `len(sock_tenants)`)."""

    in_process = False

    def __init__(self, port: int, mode: str, tenants: list[Tenant], sock_tenants: list[int],
                 n_per_tenant: int, batch: bool = False, concurrency: int = 200,
                 connect_timeout: float = 120.0, max_life: float = 3600.0) -> None:
        self.port = port
        self.mode = mode              # "condo" | "sio"
        self.tenants = tenants
        self.sock_tenants = sock_tenants
        self.n = n_per_tenant
        self.batch = batch
        self.concurrency = concurrency
        self.connect_timeout = connect_timeout
        self.max_life = max_life
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
        self.proc: asyncio.subprocess.Process | None = None
        self.ready_info: dict[str, Any] = {}
        self.setup_s = 0.0                  # first connect -> last welcome / connect ack (not gcc)
        self.connect_times: list[float] = []  # each socket's TCP connect -> ready, s
        self.last_report: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        """utime + stime of the receiver so far (from /proc, like the server's)."""
        return proc_cpu(self.pid)

    async def _send(self, text: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        await self.proc.stdin.drain()

    async def _read(self, kind: str, wait_s: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise BenchError(f"receiver: no {kind} line within {wait_s:.0f} s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            except TimeoutError:
                raise BenchError(f"receiver: no {kind} line within {wait_s:.0f} s") from None
            if not line:
                rc = await self.proc.wait()
                raise BenchError(f"receiver exited ({rc}) before its {kind} line")
            doc = orjson.loads(line)
            if doc.get("kind") == kind:
                return doc

    async def start(self) -> dict[str, Any]:
        """Compile, start, connect every socket; returns the ready line (connect_us: each
        socket's TCP connect -> welcome / connect ack, µs). Raises if any socket failed."""
        exe = await asyncio.to_thread(compile_receiver, self.tmp)
        self.proc = await asyncio.create_subprocess_exec(
            str(exe), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            preexec_fn=pin_to_loadgen_core, limit=64 * 1024 * 1024)
        lines = [f"port {self.port}", f"mode {self.mode}", f"batch {int(self.batch)}", f"n {self.n}",
                 f"concurrency {self.concurrency}", f"connect_timeout {self.connect_timeout:g}",
                 f"max_life {self.max_life:g}"]
        lines += [f"tenant {t.index} {t.code} {t.token or '-'}" for t in self.tenants]
        lines += [f"sock {i}" for i in self.sock_tenants]
        lines.append("go")
        await self._send("\n".join(lines) + "\n")
        self.ready_info = await self._read("ready", self.connect_timeout + 10)
        if self.ready_info["failed"]:
            errs = "; ".join(self.ready_info.get("errors", [])[:3])
            raise BenchError(f"receiver: {self.ready_info['failed']} of {len(self.sock_tenants)} "
                             f"sockets failed to connect: {errs}")
        self.setup_s = self.ready_info["connect_wall_us"] / 1e6
        self.connect_times = [us / 1e6 for us in self.ready_info["connect_us"]]
        return self.ready_info

    async def stats(self) -> dict[str, Any]:
        await self._send("stats\n")
        return await self._read("stats", 10)

    async def drain(self, run: Run, wait_s: float) -> None:
        """Tell the receiver what the server acknowledged; wait until every open socket of each
        tenant saw every acknowledged message (or `wait_s` seconds); keeps its report."""
        lines = [f"acked {i} " + bytes(a).translate(_BITS).decode() for i, a in enumerate(run.acked)]
        await self._send("\n".join(lines) + f"\nstop {wait_s:g}\n")
        self.last_report = await self._read("report", wait_s + 30)

    async def report(self) -> dict[str, Any]:
        """The report line of the last drain."""
        return self.last_report

    async def reset(self, run: Run) -> None:
        """A new phase: fresh bitmaps and counters (run.n messages per tenant), the same sockets."""
        self.n = run.n
        await self._send(f"reset {run.n}\n")

    async def close(self) -> None:
        """quit (close frames, exit); kill after 5 s; remove the temp dir."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
                assert proc.stdin is not None
                proc.stdin.write(b"quit\n")
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


_BITS = bytes.maketrans(b"\x00\x01", b"01")
