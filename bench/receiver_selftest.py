#!/usr/bin/env python3
"""Self-test of bench/receiver.c against a fake server that plays the awkward cases on purpose.

The fake server (127.0.0.1, random port) speaks just enough of Condorito's /ws?v=1 or of
Engine.IO v4 to drive the receiver through: frames split at random byte boundaries (1 byte to
100 kB per write), several frames per read, 7-, 16- and 64-bit payload lengths, a fragmented
message, a WebSocket ping (opcode 9), {"type":"ping"} frames, batch arrays, a duplicate, two
cross-tenant deliveries (clientCode, body tenant), a seq regression, a new_message layout the
fast path cannot read, a warm-up body, and a 4001 close on half the sockets. Then it checks
every counter of the receiver's report and what the receiver sent back (hello, pongs, close
echo, Socket.IO `40{auth}` and `3`).

  .venv/bin/python bench/receiver_selftest.py            # condo, condo+batch, sio
Exit 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from creceiver import compile_receiver
from procfs import now_us

TOKENS = {"TOKA": "bench1", "TOKB": "bench2"}
N_SOCK = 4


def ws(payload: bytes, op: int = 1, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def event(seq: int, code: str, ti: int, k: int, pad: int = 0, tag: str = "bx") -> bytes:
    data = {"clientCode": code, "message": {"id": str(k), "pad": "x" * pad,
                                            "body": f"{tag}:{ti}:{k}:{now_us()}"},
            "conversation": {"last_message": {"body": "zz"}}}
    return b'{"type":"event","seq":' + str(seq).encode() + b',"event":"new_message","data":' + \
        dumps(data) + b',"ts":1}'


def other(seq: int) -> bytes:
    return (b'{"type":"event","seq":' + str(seq).encode()
            + b',"event":"conversation_updated","data":{"type":"x"},"ts":1}')


class Fake:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.got: dict[str, Any] = {"hello": [], "pong_text": 0, "pong_ws": 0, "close": [],
                                    "sio_auth": [], "sio_pong": 0}
        self.tasks: set[asyncio.Task[None]] = set()

    async def frames(self, reader: asyncio.StreamReader, q: asyncio.Queue[tuple[int, bytes]]) -> None:
        buf = b""
        while True:
            d = await reader.read(65536)
            if not d:
                return
            buf += d
            while len(buf) >= 2:
                ln, hdr = buf[1] & 0x7F, 2
                if ln == 126:
                    ln, hdr = struct.unpack("!H", buf[2:4])[0], 4
                elif ln == 127:
                    ln, hdr = struct.unpack("!Q", buf[2:10])[0], 10
                if not buf[1] & 0x80:
                    raise AssertionError("client frame not masked")
                if len(buf) < hdr + 4 + ln:
                    break
                key = buf[hdr:hdr + 4]
                pl = bytes(b ^ key[i % 4] for i, b in enumerate(buf[hdr + 4:hdr + 4 + ln]))
                q.put_nowait((buf[0] & 0xF, pl))
                buf = buf[hdr + 4 + ln:]

    async def write_chunked(self, writer: asyncio.StreamWriter, data: bytes, seed: int) -> None:
        rnd = random.Random(seed)
        i = 0
        while i < len(data):
            n = rnd.choice([1, 2, 3, 7, 50, 500, 4000, 100000])
            writer.write(data[i:i + n])
            await writer.drain()
            i += n
            if rnd.random() < 0.3:
                await asyncio.sleep(0.001)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b"Origin:" in head:
            raise AssertionError("the receiver sent an Origin header")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
        q: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        reader_task = asyncio.create_task(self.frames(reader, q))
        try:
            if self.mode == "condo":
                await self.condo(writer, q)
            else:
                await self.sio(writer, q)
            await asyncio.sleep(30)  # keep the socket open until the test ends
        finally:
            reader_task.cancel()

    async def condo(self, writer: asyncio.StreamWriter, q: asyncio.Queue[tuple[int, bytes]]) -> None:
        _, pl = await asyncio.wait_for(q.get(), 5)
        hello = json.loads(pl)
        self.got["hello"].append(hello)
        code = TOKENS[hello["token"]]
        ti = int(code[-1]) - 1
        out = [ws(dumps({"type": "welcome", "v": 1, "head": 5, "user": {"head": 99}}))]
        seq = 6
        frames: list[bytes] = []
        for k in range(10):                                   # 0..9 short frames
            frames += [event(seq, code, ti, k), other(seq + 1)]
            seq += 2
        frames.append(event(seq, code, ti, 10, pad=300))      # 16-bit length
        frames.append(event(seq + 1, code, ti, 11, pad=70000))  # 64-bit length
        frames.append(b'{"type":"ping"}')
        frames.append(event(seq + 2, code, ti, 3))            # duplicate
        frames.append(event(seq + 3, "bench9", ti, 12))       # cross-tenant: clientCode
        frames.append(event(seq + 4, code, 1 - ti, 13))       # cross-tenant: body tenant
        frames.append(event(seq - 1, code, ti, 14))           # seq regression (still delivered)
        frames.append(b'{"type":"event","seq":' + str(seq + 5).encode()
                      + b',"event":"new_message","ts":1,"data":{"clientCode":"x"}}')  # unparsed
        frames.append(event(seq + 6, code, ti, 15, tag="bw"))  # warm-up body
        seq += 7
        if "features" in hello:  # batch: arrays of up to 3 frames, a lone frame unwrapped
            for i in range(0, len(frames), 3):
                chunk = frames[i:i + 3]
                out.append(ws(b"[" + b",".join(chunk) + b"]") if len(chunk) > 1 else ws(chunk[0]))
        else:
            out += [ws(f) for f in frames]
        out.append(ws(b"hello?", 9))                           # WebSocket ping
        f = event(seq, code, ti, 16)                           # fragmented, k=16
        out.append(ws(f[:10], 1, False) + ws(f[10:30], 0, False) + ws(f[30:], 0, True))
        await self.write_chunked(writer, b"".join(out), len(self.got["hello"]))
        deadline = time.monotonic() + 5
        text = wsp = 0
        while time.monotonic() < deadline and not (text and wsp):
            with contextlib.suppress(TimeoutError):
                op, pl = await asyncio.wait_for(q.get(), 0.5)
                text += op == 1 and pl == b'{"type":"pong"}'
                wsp += op == 10 and pl == b"hello?"
        self.got["pong_text"] += text
        self.got["pong_ws"] += wsp
        if code == "bench2":
            writer.write(ws(struct.pack("!H", 4001) + b"slow", 8))
            await writer.drain()
            try:
                self.got["close"].append(await asyncio.wait_for(q.get(), 3))
            except TimeoutError:
                self.got["close"].append(None)

    async def sio(self, writer: asyncio.StreamWriter, q: asyncio.Queue[tuple[int, bytes]]) -> None:
        writer.write(ws(b'0{"sid":"abc","pingInterval":25000}'))
        _, pl = await asyncio.wait_for(q.get(), 5)
        self.got["sio_auth"].append(pl)
        code = json.loads(pl[2:])["tenant"]
        ti = int(code[-1]) - 1
        out = [ws(b'40{"sid":"x"}')]
        for k in range(5):  # up to 160 kB: 7-, 16- and 64-bit lengths
            d = {"clientCode": code, "message": {"body": f"bx:{ti}:{k}:{now_us()}", "pad": "y" * (k * 40000)}}
            out.append(ws(b'42["new_message",' + dumps(d) + b"]"))
        out += [ws(b"2"), ws(b'42["other",{}]')]
        await self.write_chunked(writer, b"".join(out), len(self.got["sio_auth"]))
        _, pl = await asyncio.wait_for(q.get(), 5)
        self.got["sio_pong"] += pl == b"3"


async def scenario(exe: Path, mode: str, batch: bool) -> list[str]:
    fake = Fake(mode)
    srv = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    rx = await asyncio.create_subprocess_exec(str(exe), stdin=asyncio.subprocess.PIPE,
                                              stdout=asyncio.subprocess.PIPE, limit=1 << 24)
    assert rx.stdin is not None and rx.stdout is not None
    problems: list[str] = []
    try:
        cfg = [f"port {port}", f"mode {mode}", f"batch {int(batch)}", "n 20", "connect_timeout 10",
               "max_life 60", "tenant 0 bench1 TOKA", "tenant 1 bench2 TOKB",
               *[f"sock {i % 2}" for i in range(N_SOCK)], "go"]
        rx.stdin.write(("\n".join(cfg) + "\n").encode())
        ready = json.loads(await asyncio.wait_for(rx.stdout.readline(), 15))
        if ready.get("kind") != "ready" or ready["ready"] != N_SOCK:
            problems.append(f"ready line: {ready}")
        await asyncio.sleep(2.5)
        acked = "1" * 17 + "000"
        rx.stdin.write(f"acked 0 {acked}\nacked 1 {acked}\nstop 2\n".encode())
        rep = json.loads(await asyncio.wait_for(rx.stdout.readline(), 15))
        rx.stdin.write(b"quit\n")
        await asyncio.wait_for(rx.wait(), 5)
    finally:
        if rx.returncode is None:
            rx.kill()
            await rx.wait()
        for t in list(fake.tasks):
            t.cancel()
        srv.close()
        await srv.wait_closed()

    def want(key: str, value: Any) -> None:
        if rep.get(key) != value:
            problems.append(f"{key}: got {rep.get(key)!r}, want {value!r}")

    n = N_SOCK
    if mode == "condo":
        # per socket: k 0..11, 14, 16 first sightings; k 3 again; k 12, 13 crossed; 15 warm-up
        want("unique", 14 * n)
        want("dup", n)
        want("cross", 2 * n)
        want("seq_regress", n)
        want("unparsed", n)
        want("warm", n)
        want("other", 10 * n)
        want("frames", 29 * n)
        want("pings", n)
        want("ws_pings", n)
        want("lost", 3 * n)                     # 12, 13, 15 acked, never seen
        want("expected", 17 * (n // 2))         # the bench2 sockets were closed 4001
        want("close_codes", {"4001": n // 2})
        want("complete", False)
        if batch and rep["msgs_in"] >= 100:
            problems.append(f"batch: {rep['msgs_in']} WebSocket messages, arrays not used?")
        hellos = fake.got["hello"]
        if len(hellos) != n or any(h.get("type") != "hello" or h.get("v") != 1 for h in hellos):
            problems.append(f"hello frames: {hellos}")
        if any(("features" in h) != batch for h in hellos):
            problems.append("features asked for not as configured")
        if fake.got["pong_text"] != n or fake.got["pong_ws"] != n:
            problems.append(f"pongs: text {fake.got['pong_text']}, ws {fake.got['pong_ws']} of {n}")
        if fake.got["close"] != [(8, struct.pack("!H", 4001))] * (n // 2):
            problems.append(f"close echoes: {fake.got['close']}")
    else:
        want("unique", 5 * n)
        want("other", n)
        want("frames", 6 * n)
        want("pings", n)
        want("lost", 12 * n)
        want("dup", 0)
        want("cross", 0)
        want("unparsed", 0)
        if sorted(fake.got["sio_auth"]) != sorted(f'40{{"tenant":"bench{i % 2 + 1}"}}'.encode()
                                                   for i in range(n)):
            problems.append(f"socket.io auth: {fake.got['sio_auth']}")
        if fake.got["sio_pong"] != n:
            problems.append(f"socket.io pongs: {fake.got['sio_pong']} of {n}")
    lat_n = sum(c for _, c in rep["lat_hist"])
    if lat_n != rep["unique"] or not 0 <= rep["lat_max"] < 10_000_000:
        problems.append(f"latency histogram: {lat_n} samples for {rep['unique']} deliveries, "
                        f"max {rep['lat_max']} us")
    return problems


async def main_async() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-receiver-test-"))
    failed = False
    try:
        exe = await asyncio.to_thread(compile_receiver, tmp)
        for mode, batch in (("condo", False), ("condo", True), ("sio", False)):
            problems = await asyncio.wait_for(scenario(exe, mode, batch), 120)
            name = mode + (" batch" if batch else "")
            print(f"{'ok  ' if not problems else 'FAIL'} {name}")
            for p in problems:
                print(f"     {p}")
            failed |= bool(problems)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async()))
