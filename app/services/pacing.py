"""How fast a campaign may send: settings with safe defaults, and the per-number pacer.

Two modes. `rate` (Cloud API, sandbox): a steady number of messages per second, well under
Meta's 80 per second per number (the outbox's governor still guards the number itself).
`human` (a QR-linked WhatsApp Web number, which WhatsApp bans when it looks automated): random
gaps between messages, a longer pause every N messages, a cap per 24 hours, and for a number
linked only days ago a cap that starts low and doubles each day (warm-up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from app.errors import Invalid

DAY_MS = 24 * 3600 * 1000
MAX_BATCH = 50  # recipients handed to the outbox in one write at most

DEFAULTS: dict[str, dict[str, Any]] = {
    "rate": {"mode": "rate", "rate": 10.0},
    "human": {"mode": "human", "min_gap_s": 8.0, "max_gap_s": 25.0, "pause_every": 25,
              "pause_min_s": 120.0, "pause_max_s": 300.0, "daily_cap": 250,
              "warmup_start": 30, "warmup_days": 4},
}
# What an API client may set, and the range each setting must stay in.
BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "rate": {"rate": (0.1, 80.0)},
    "human": {"min_gap_s": (2.0, 3600.0), "max_gap_s": (2.0, 3600.0), "pause_every": (1, 10_000),
              "pause_min_s": (0.0, 7200.0), "pause_max_s": (0.0, 7200.0), "daily_cap": (1, 10_000),
              "warmup_start": (1, 10_000), "warmup_days": (0, 60)},
}
_INTEGER = {"pause_every", "daily_cap", "warmup_start", "warmup_days"}


def mode_for(provider: str) -> str:
    """A QR-linked number paces like a person; the Cloud API and the sandbox by rate."""
    return "human" if provider == "web" else "rate"


def check(provider: str, raw: Any) -> dict[str, Any]:
    """The defaults for the tenant's provider with the caller's overrides, each within bounds."""
    mode = mode_for(provider)
    settings = dict(DEFAULTS[mode])
    if raw is None:
        return settings
    if not isinstance(raw, dict):
        raise Invalid("pacing must be an object", code="invalid_field", field="pacing")
    for key, value in raw.items():
        if key == "mode":
            continue  # the mode follows the provider, never the request
        if key not in BOUNDS[mode]:
            raise Invalid(f"pacing.{key} is not a {mode}-mode setting", code="invalid_field",
                          field="pacing")
        lo, hi = BOUNDS[mode][key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise Invalid(f"pacing.{key} must be a number in {lo}..{hi}", code="invalid_field",
                          field="pacing")
        settings[key] = int(value) if key in _INTEGER else float(value)
    if mode == "human" and (settings["min_gap_s"] > settings["max_gap_s"]
                            or settings["pause_min_s"] > settings["pause_max_s"]):
        raise Invalid("pacing minimums must not exceed maximums", code="invalid_field", field="pacing")
    return settings


def cap_today(settings: dict[str, Any], linked_since: int | None, now: int) -> int | None:
    """Messages the number may send in 24 hours (None: no cap). A number linked `d` days ago
    (d < warmup_days) may send warmup_start * 2^d, never more than daily_cap."""
    if settings.get("mode") != "human":
        return None
    cap = int(settings["daily_cap"])
    if linked_since is None or settings["warmup_days"] <= 0:
        return cap
    days = max(0, (now - linked_since) // DAY_MS)
    if days >= settings["warmup_days"]:
        return cap
    return min(cap, int(settings["warmup_start"]) * 2 ** int(days))


def gap(settings: dict[str, Any], sent: int, rng: random.Random) -> float:
    """Seconds to wait after the `sent`-th message of this run (human mode): a random gap, plus
    a longer random pause after every `pause_every` messages."""
    wait = rng.uniform(settings["min_gap_s"], settings["max_gap_s"])
    if sent > 0 and sent % int(settings["pause_every"]) == 0:
        wait += rng.uniform(settings["pause_min_s"], settings["pause_max_s"])
    return wait


@dataclass(slots=True)
class Pacer:
    """One number's pace, in the runner's memory (times are the loop's monotonic clock)."""

    next_at: float = 0.0
    sent: int = 0  # messages this run, for the long pause

    def due(self, settings: dict[str, Any], now: float) -> int:
        """How many messages may be handed over now (0: wait until `next_at`)."""
        if now < self.next_at:
            return 0
        if settings["mode"] == "human":
            return 1
        interval = 1.0 / float(settings["rate"])
        if now - self.next_at > 1.0:  # idle for a while: start afresh, no burst to catch up
            self.next_at = now
        return min(MAX_BATCH, 1 + int((now - self.next_at) / interval))

    def took(self, settings: dict[str, Any], n: int, now: float, rng: random.Random) -> None:
        """`n` messages were handed over."""
        if n <= 0:
            return
        if settings["mode"] == "human":
            self.sent += n
            self.next_at = now + gap(settings, self.sent, rng)
        else:
            self.next_at += n / float(settings["rate"])
