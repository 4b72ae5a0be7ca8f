"""The wall clock the stored rows use: one leaf module so nothing imports the stream for it."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Unix time in milliseconds."""
    return int(time.time() * 1000)
