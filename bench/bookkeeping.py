"""The bookkeeping of one fan-out run: what was sent and acknowledged, what the Python receivers
saw (first sightings with their latency, duplicates, cross-tenant deliveries, seq regressions),
and the wait for every delivery owed.

Every injected message carries `bx:<tenant>:<k>:<stamp>` as its body: the tenant's index, the
message's index within that tenant, and the load generator's clock when the request was written.
Each receiver keeps one byte per message of its tenant: 0 = not seen, 1 = seen. A second sighting
is a duplicate; a message acknowledged by the server (2xx) but never seen is lost; a frame whose
clientCode (or body tenant) is not the receiver's is a cross-tenant delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from servers import Tenant

if TYPE_CHECKING:
    from loadgen import Receiver


class Run:
    """What one server run saw."""

    def __init__(self, tenants: list[Tenant], n_per_tenant: int) -> None:
        self.tenants = tenants
        self.n = n_per_tenant
        self.acked = [bytearray(n_per_tenant) for _ in tenants]
        self.post_failed = 0
        self.post_errors: list[str] = []
        self.lat: list[int] = []          # µs, first sightings of measured messages
        self.unique = 0                   # first sightings
        self.dup = 0                      # second sightings of a message id
        self.seq_regress = 0              # seq not above the previous one on that socket
        self.cross = 0
        self.unparsed = 0
        self.bad_index = 0
        self.warm = 0                     # warm-up deliveries (not measured)
        self.other = 0                    # other events (conversation_updated, stats, presence)
        self.frames = 0                   # every event frame
        self.pings = 0
        self.errors: list[str] = []       # error frames / close codes seen
        self.first_send = 0
        self.last_send = 0
        self.last_recv = 0
        self.target = 1 << 62             # unique deliveries that complete the run
        self.complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.receivers: list[Receiver] = []
        self.sent = 0

    def note_error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)

    def expected(self) -> int:
        """Deliveries owed: every acknowledged message times the sockets of its tenant."""
        per_tenant = [0] * len(self.tenants)
        for r in self.receivers:
            if not r.gone:
                per_tenant[r.tenant.index] += 1
        return sum(sum(a) * per_tenant[i] for i, a in enumerate(self.acked))

    def losses(self) -> int:
        lost = 0
        for r in self.receivers:
            acked = self.acked[r.tenant.index]
            seen = r.counts
            lost += sum(1 for k in range(self.n) if acked[k] and not seen[k])
        return lost

    def note_post_failure(self, text: str) -> None:
        """A request that was not acknowledged (an HTTP error, or no answer at all)."""
        self.post_failed += 1
        if len(self.post_errors) < 5:
            self.post_errors.append(text)


async def wait_delivered(run: Run, wait_s: float) -> bool:
    """After the last answer: wait until every owed delivery arrived (or the timeout)."""
    run.target = run.expected()
    if run.unique >= run.target:
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(run.complete), wait_s)
    return run.unique >= run.target
