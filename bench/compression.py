"""What permessage-deflate would cost per socket: memory per compressor and CPU per frame.

aiohttp accepts permessage-deflate when a browser offers it and then compresses every frame
once per socket (no shared compression across sockets). This prints, for realistic event
frames (varied message bodies), the RSS one compressor holds after use and the CPU to compress
one frame with aiohttp's settings (level 1, raw deflate, 32 KiB window), so the choice to keep
compression off (app/config.py ws_compress) rests on a number.

    .venv/bin/python bench/compression.py [--sockets 1000] [--frames 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import time
import zlib

import orjson
from procfs import proc_mem

WORDS = ("hola", "precio", "envío", "canción", "vinilo", "gracias", "mañana", "pedido", "talla",
         "Valparaíso", "¿tienen?", "necesito", "boleta", "transferencia", "horario", "dirección")


def frame(i: int, rng: random.Random) -> bytes:
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))
    msg = {"id": str(10_000 + i), "conversation_id": str(rng.randint(1, 500)), "direction": "in",
           "type": "text", "body": body, "status": "delivered", "wa_id": f"wamid.{rng.getrandbits(96):x}",
           "created_at": 1764300000000 + i, "author": {"kind": "contact"}}
    conv = {"id": msg["conversation_id"], "contact": {"id": str(i), "name": "Ana", "phone": "56911112222"},
            "last_message": msg, "unread_count": rng.randint(1, 9), "status": "open",
            "updated_at": msg["created_at"]}
    data = orjson.dumps({"clientCode": "acme", "message": msg, "conversation": conv})
    return b'{"type":"event","seq":%d,"event":"new_message","data":%s,"ts":%d}' % (i, data, 0)


def rss_kb() -> int:
    return proc_mem(os.getpid())["VmRSS"] // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=20000)
    args = ap.parse_args()
    rng = random.Random(7)
    frames = [frame(i, rng) for i in range(args.frames)]
    before = rss_kb()
    keep = []
    for i in range(args.sockets):
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
        c.compress(frames[i % len(frames)])
        c.flush(zlib.Z_SYNC_FLUSH)
        keep.append(c)
    per_socket = (rss_kb() - before) / args.sockets
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    raw = out = 0
    start = time.perf_counter()
    for f in frames:
        out += len(c.compress(f) + c.flush(zlib.Z_SYNC_FLUSH))
        raw += len(f)
    per_frame = (time.perf_counter() - start) / len(frames) * 1e6
    print(f"frames: {len(frames):,}, mean {raw / len(frames):.0f} bytes; compressed to {out / raw:.0%}")
    print(f"RSS per socket's compressor: {per_socket:.0f} KB "
          f"(x 10 000 sockets = {per_socket * 10_000 / 1024:.0f} MB)")
    print(f"CPU to compress one frame for one socket: {per_frame:.1f} µs "
          f"(done once per socket per frame, not once per event)")
    del keep


if __name__ == "__main__":
    main()
