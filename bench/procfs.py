"""This machine as the benchmarks see it: the two cores and who is pinned where, the fd limit,
the load generator's clock, and /proc readings (CPU, RSS, per-core load, TCP queues)."""

from __future__ import annotations

import os
import resource
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER_CORE = 0
LOADGEN_CORE = 1


# -- cores, limits, clock ------------------------------------------------------------------------


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


def pin_to_server_core() -> None:
    """preexec_fn of a server subprocess: the server's core (when there are two)."""
    if two_cores():
        os.sched_setaffinity(0, {SERVER_CORE})


def pin_to_loadgen_core() -> None:
    """preexec_fn of a load generator subprocess (the C receiver): the load generator's core."""
    if two_cores():
        os.sched_setaffinity(0, {LOADGEN_CORE})


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


# -- CPU ------------------------------------------------------------------------------------------


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


# -- memory ---------------------------------------------------------------------------------------


def proc_mem(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, bytes."""
    out = {}
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith((b"VmRSS:", b"VmHWM:")):
                key, val = line.split(b":", 1)
                out[key.decode()] = int(val.split()[0]) * 1024
    return out


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
