"""Requests being handled right now, so background writes can yield to a burst of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Long-lived requests are not "work in progress": a socket or a parked poll waits for hours.
_LONG_LIVED = ("/ws", "/api/v1/events", "/socket.io/")
# A burst, not everyday traffic: a shop's own requests rarely overlap more than a few at a time,
# a provider redelivering a backlog (or a benchmark) keeps dozens in flight.
BURST = 4


class InFlight:
    """A counter of short requests in progress."""

    def __init__(self) -> None:
        self.count = 0

    def busy(self) -> bool:
        """True during a burst: many short requests being handled at once."""
        return self.count >= BURST

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        """The aiohttp middleware that keeps the count."""
        @web.middleware
        async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in _LONG_LIVED:
                return await handler(request)
            self.count += 1
            try:
                return await handler(request)
            finally:
                self.count -= 1
        return count_requests
