"""The per-number send governor: a token bucket per tenant (one WhatsApp number each).

Every send of the outbox worker takes a token first, whoever queued it (agents, the bot, bulk
campaigns), so no sender can push a number past its rate. Meta allows 80 messages/s per number
by default and 20 for numbers shared with the WhatsApp Business app; going over answers 130429
(shared/reference/whatsapp-apis.md §2.7), so the default keeps under the lower figure.

After a 130429 the number's rate halves (never below MIN_RATE) and then climbs back linearly
to its configured rate over RECOVERY seconds: slow down when Meta says so, recover without
waiting for a person. A rate of 0 means unlimited (benchmarks, a sandbox demo).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_RATE = 20.0    # messages per second per number
BURST_SECONDS = 0.25   # a full bucket holds this many seconds of sends (>= 1 token)
MIN_RATE = 0.5         # a throttled number still sends one message every 2 s
RECOVERY = 30.0        # seconds from a 130429 back to the configured rate
UNLIMITED_BATCH = 64   # how many sends "unlimited" lets start at once
EPSILON = 1e-9         # a token refilled to 0.9999999 after exactly its wait counts as whole


@dataclass(slots=True)
class _Bucket:
    rate: float            # configured messages/s (0: unlimited)
    tokens: float
    at: float              # when `tokens` was last brought up to date
    slow_rate: float = 0.0  # the rate right after the last throttle
    slow_at: float = -math.inf


class Governor:
    """Token buckets by tenant id; `clock` is monotonic seconds (tests pass a fake one)."""

    def __init__(self, rate: float = DEFAULT_RATE, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.default_rate = max(0.0, rate)
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._overrides: dict[int, float] = {}

    def set_rate(self, tenant_id: int, rate: float | None) -> None:
        """A tenant's own rate (e.g. 80 for a number Meta allows more), None: the default."""
        if rate is None:
            self._overrides.pop(tenant_id, None)
        else:
            self._overrides[tenant_id] = max(0.0, rate)
        self._buckets.pop(tenant_id, None)

    def configured(self, tenant_id: int) -> float:
        """The tenant's configured rate (0: unlimited)."""
        return self._overrides.get(tenant_id, self.default_rate)

    def rate(self, tenant_id: int) -> float:
        """The rate in force now: the configured one, or lower while recovering from a 130429."""
        bucket = self._bucket(tenant_id)
        return self._rate(bucket, self._clock())

    def _rate(self, bucket: _Bucket, now: float) -> float:
        if bucket.rate == 0:
            return 0.0
        since = now - bucket.slow_at
        if since >= RECOVERY:
            return bucket.rate
        return bucket.slow_rate + (bucket.rate - bucket.slow_rate) * since / RECOVERY

    def _bucket(self, tenant_id: int) -> _Bucket:
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            rate = self.configured(tenant_id)
            bucket = self._buckets[tenant_id] = _Bucket(rate, self._capacity(rate), self._clock())
        return bucket

    @staticmethod
    def _capacity(rate: float) -> float:
        return max(1.0, rate * BURST_SECONDS)

    def _refill(self, bucket: _Bucket) -> float:
        now = self._clock()
        rate = self._rate(bucket, now)
        bucket.tokens = min(self._capacity(rate), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        return rate

    def available(self, tenant_id: int) -> int:
        """How many sends may start now."""
        bucket = self._bucket(tenant_id)
        if bucket.rate == 0:
            return UNLIMITED_BATCH
        self._refill(bucket)
        return int(bucket.tokens + EPSILON)

    def try_take(self, tenant_id: int) -> bool:
        """Take one token if there is one."""
        bucket = self._bucket(tenant_id)
        if bucket.rate == 0:
            return True
        self._refill(bucket)
        if bucket.tokens + EPSILON < 1:
            return False
        bucket.tokens -= 1
        return True

    def wait(self, tenant_id: int) -> float:
        """Seconds until the next token (0 when one is there)."""
        bucket = self._bucket(tenant_id)
        if bucket.rate == 0:
            return 0.0
        rate = self._refill(bucket)
        return max(0.0, (1 - EPSILON - bucket.tokens) / rate)

    def throttled(self, tenant_id: int) -> None:
        """Meta answered 130429 for this number: halve its rate, recover over RECOVERY s."""
        bucket = self._bucket(tenant_id)
        if bucket.rate == 0:
            return
        now = self._clock()
        current = self._refill(bucket)
        bucket.slow_rate = max(MIN_RATE, min(current, bucket.rate) / 2)
        bucket.slow_at = now
        # What the bucket held was the reason Meta said no: it starts again from empty.
        bucket.tokens = 0.0
