"""Measured windows: the server's CPU between start and stop (sampled with py-spy when
BENCH_PROFILE is set), the load generator's own CPU, and other processes' use of both cores."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from procfs import LOADGEN_CORE, SERVER_CORE, CoreLoad, SelfCpu, proc_times


class Profiler:
    """BENCH_PROFILE=DIR: sample a server with py-spy over a measured window only (collapsed
    stacks in DIR/<label>-<pid>.txt; summarise with bench/profile_summary.py). py-spy runs on
    the load generator's core, but reading the target's memory still costs the server a little:
    compare CPU figures from unprofiled runs."""

    def __init__(self, pid: int, label: str) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        out_dir = os.environ.get("BENCH_PROFILE")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
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


class CpuWindow:
    """Server CPU seconds and wall time between `start()` and `stop()` (profiled with py-spy
    when BENCH_PROFILE is set); from its creation on, also the load generator's CPU and the
    other processes' use of both cores (`loadgen()`)."""

    def __init__(self, pid: int, label: str = "server") -> None:
        self.pid = pid
        self.label = label
        self.cpu0 = self.cpu1 = 0.0
        self.u0 = self.u1 = self.s0 = self.s1 = 0.0
        self.t0 = self.t1 = 0.0
        self.profiler: Profiler | None = None
        self.me = SelfCpu()
        self.cores = CoreLoad()

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

    def loadgen(self, extra_cpu: float = 0.0) -> tuple[float, float, dict[int, float]]:
        """Since this window was made: (this process's CPU seconds, its share of one core, the
        share of each core other processes used). `extra_cpu`: load generator CPU spent in
        another process (the C receiver), counted as ours on the load generator's core."""
        lg_cpu, lg_share = self.me.read()
        others = self.cores.others({SERVER_CORE: self.cpu, LOADGEN_CORE: lg_cpu + extra_cpu})
        return lg_cpu, lg_share, others

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
