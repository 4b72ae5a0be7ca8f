"""A stand-in for Meta's Graph API (WhatsApp Cloud API), answering like Meta's docs.

Shapes follow /work/shared/reference/whatsapp-apis.md §2: a send answers
`{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid.…"}]}`; an
error answers `{"error": {"message", "type", "code", "error_subcode"?, "error_data",
"fbtrace_id"}}` with the HTTP status Meta uses for that code. Mark-as-read answers
`{"success": true}`; the template list is paged like Graph's edges.

Behaviour is scripted per request: `fail(code, times=n)` queues failures for the next sends,
`throttle(n)` queues n 130429s, `hang()` makes a send never answer (a timeout), `hold()` counts
a send as accepted and then keeps the answer back until `release()` (the crash window between
Meta's acceptance and our commit). Every accepted send is counted (`accepted`), every request
records the bearer token it carried (`tokens`). Waiting is by condition, never by sleeping.

Other helpers add routes (media) with `graph.app.router` before `start()`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

VERSION = "v23.0"

# The HTTP status Meta answers with for an error code (most codes are 400).
_HTTP_STATUS = {190: 401, 10: 403, 368: 403, 131031: 403, 131000: 500, 131016: 503, 131057: 500,
                4: 400, 80007: 400, 130429: 400}
_MESSAGES = {
    4: "(#4) Application request limit reached",
    100: "(#100) Invalid parameter",
    190: "Error validating access token: Session has expired",
    368: "Temporarily blocked for policies violations",
    130429: "(#130429) Rate limit hit",
    131000: "Something went wrong",
    131016: "Service unavailable",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131048: "(#131048) Spam rate limit hit",
    131051: "(#131051) Unsupported message type",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    132001: "(#132001) Template name does not exist in the translation",
}


def error_body(code: int, message: str | None = None, *, subcode: int | None = None,
               details: str = "", fbtrace_id: str | None = None) -> dict[str, Any]:
    """Meta's error envelope (§2.4)."""
    err: dict[str, Any] = {
        "message": message or _MESSAGES.get(code, f"(#{code}) error"),
        "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or "details"},
        "fbtrace_id": fbtrace_id or "A" + secrets.token_urlsafe(12),
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


@dataclass(frozen=True, slots=True)
class Failure:
    """One scripted non-success answer."""

    code: int | None = None         # Meta error code; None with http_status: a bare 5xx
    http_status: int | None = None  # defaults to Meta's status for the code
    subcode: int | None = None
    hang: bool = False              # never answer (the client times out)


@dataclass(slots=True)
class Sent:
    """One send Meta accepted."""

    wamid: str
    phone_number_id: str
    token: str
    payload: dict[str, Any]


@dataclass
class FakeGraph:
    """The fake Graph API server; `base` is what a tenant's `api_base` is set to."""

    token: str | None = None  # when set, any other bearer token gets a 190
    templates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by WABA id
    accepted: list[Sent] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    requests: int = 0  # send requests that got past the token check, answered or not
    template_requests: int = 0
    seen_at: list[float] = field(default_factory=list)  # loop time of every send request

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        self.app.router.add_get("/{version}/{waba_id}/message_templates", self._templates)
        self._script: deque[Failure] = deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._held: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._hung: list[asyncio.Event] = []
        self.port = 0
        self.on_accept: Callable[[Sent], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeGraph:
        """Listen on loopback (a free port unless one is given)."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Answer what is held or hanging (so nothing waits forever), then stop."""
        self.release()
        for gate in self._hung:
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeGraph:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base(self) -> str:
        """The api_base to configure: http://127.0.0.1:port/v23.0."""
        return f"http://127.0.0.1:{self.port}/{VERSION}"

    # -- scripting --------------------------------------------------------------------------

    def fail(self, code: int | None = None, *, times: int = 1, http_status: int | None = None,
             subcode: int | None = None) -> None:
        """The next `times` sends answer this error (after any already scripted)."""
        self._script.extend([Failure(code, http_status, subcode)] * times)

    def throttle(self, times: int = 1) -> None:
        """The next `times` sends hit the throughput limit (130429)."""
        self.fail(130429, times=times)

    def hang(self, times: int = 1) -> None:
        """The next `times` sends never answer (until close)."""
        self._script.extend([Failure(hang=True)] * times)

    def hold(self) -> None:
        """Accept (and count) the next sends but keep their answers back until `release()`."""
        self._held = asyncio.Event()

    def release(self) -> None:
        """Let held answers go."""
        if self._held is not None:
            self._held.set()
            self._held = None

    def add_template(self, waba_id: str, name: str, *, language: str = "es",
                     body: str = "Hola {{1}}, tu pedido {{2}} está listo.",
                     status: str = "APPROVED", category: str = "UTILITY") -> None:
        """A template of that WABA, in Graph's message_templates shape."""
        self.templates.setdefault(waba_id, []).append({
            "name": name, "language": language, "status": status, "category": category,
            "id": str(next(self._ids) + 10_000),
            "components": [{"type": "BODY", "text": body}],
        })

    # -- waiting ----------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[FakeGraph], bool], timeout: float = 10.0) -> None:
        """Until predicate(self) holds (checked after every request)."""
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))
        await asyncio.wait_for(wait(), timeout)

    async def wait_accepted(self, n: int, timeout: float = 10.0) -> list[Sent]:
        """Until at least n sends were accepted; returns them."""
        await self.wait_for(lambda g: len(g.accepted) >= n, timeout)
        return self.accepted

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- handlers ---------------------------------------------------------------------------

    def _bearer(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        self.tokens.append(token)
        return token

    def _error(self, failure: Failure) -> web.Response:
        if failure.code is None:
            return web.Response(status=failure.http_status or 503, text="Service Unavailable")
        status = failure.http_status or _HTTP_STATUS.get(failure.code, 400)
        return web.json_response(error_body(failure.code, subcode=failure.subcode), status=status)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        token = self._bearer(request)
        try:
            payload = await request.json()
            if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
                raise ValueError
        except ValueError:
            await self._notify()
            return web.json_response(error_body(100), status=400)
        if self.token is not None and token != self.token:
            await self._notify()
            return self._error(Failure(190))
        if payload.get("status") == "read":  # mark as read (not a send, never scripted)
            self.reads.append(payload)
            await self._notify()
            return web.json_response({"success": True})
        self.requests += 1  # send attempts (mark-as-read is not one)
        self.seen_at.append(asyncio.get_running_loop().time())
        if self._script:
            failure = self._script.popleft()
            if failure.hang:
                gate = asyncio.Event()
                self._hung.append(gate)
                await self._notify()
                await gate.wait()
                return web.json_response(error_body(131000), status=500)
            await self._notify()
            return self._error(failure)
        sent = Sent(f"wamid.FAKE{next(self._ids)}", request.match_info["phone_number_id"], token,
                    payload)
        self.accepted.append(sent)
        if self.on_accept is not None:
            self.on_accept(sent)
        held = self._held
        await self._notify()
        if held is not None:
            await held.wait()
        to = str(payload.get("to", ""))
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": sent.wamid, "message_status": "accepted"}]})

    async def _templates(self, request: web.Request) -> web.Response:
        self.template_requests += 1
        token = self._bearer(request)
        if self.token is not None and token != self.token:
            return self._error(Failure(190))
        items = list(self.templates.get(request.match_info["waba_id"], []))
        status = request.query.get("status")
        if status:
            items = [t for t in items if t["status"] == status.upper()]
        await self._notify()
        return web.json_response({"data": items, "paging": {"cursors": {"before": "b", "after": "a"}}})
