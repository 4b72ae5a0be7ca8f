"""A stand-in for the Graph API's media endpoints, answering like Meta's docs (§2.8).

GET /{version}/{media_id} -> {"url", "mime_type", "sha256", "file_size", "id"} (bearer token
required); GET of that url -> the bytes, again only with the bearer token; POST
/{version}/{phone_id}/media (multipart upload) -> {"id"}; POST /{version}/{phone_id}/messages ->
a wamid. Errors carry `code` and `fbtrace_id` like Meta's. Tests queue failures to see retries.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

VERSION = "v23.0"


def graph_error(status: int, code: int, message: str) -> web.Response:
    """An error body as the Graph API sends one."""
    return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                        "fbtrace_id": "A" + secrets.token_hex(8)}}, status=status)


@dataclass
class FakeMedia:
    """One file the fake holds."""

    data: bytes
    mime: str
    file_size: int | None = None      # announced size; None: the real one


@dataclass
class FakeGraphMedia:
    """The fake's state: files, the token it wants, what it saw."""

    token: str
    files: dict[str, FakeMedia] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)          # media ids looked up
    downloads: list[str] = field(default_factory=list)        # media ids downloaded (authorised)
    refused: int = 0                                          # requests without the right token
    fail_downloads: list[int] = field(default_factory=list)   # statuses to answer first, in order
    uploads: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    server: TestServer | None = None
    got_send: asyncio.Event = field(default_factory=asyncio.Event)  # set at each accepted send

    @property
    def base(self) -> str:
        """The api_base a tenant configures to reach this fake."""
        assert self.server is not None
        return str(self.server.make_url(f"/{VERSION}"))

    def add(self, media_id: str, data: bytes, mime: str, file_size: int | None = None) -> str:
        """Hold a file; return the base64 sha256 a webhook announces for it (Meta's form)."""
        self.files[media_id] = FakeMedia(data, mime, file_size)
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    def _authorised(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        self.refused += not ok
        return ok

    async def _lookup(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        media_id = request.match_info["media_id"]
        self.lookups.append(media_id)
        found = self.files.get(media_id)
        if found is None:
            return graph_error(400, 100, "Unsupported get request.")
        url = str(request.url.with_path(f"/lookaside/{media_id}").with_query(
            {"ext": secrets.token_hex(4)}))
        return web.json_response({
            "messaging_product": "whatsapp", "url": url, "mime_type": found.mime, "id": media_id,
            "sha256": hashlib.sha256(found.data).hexdigest(),
            "file_size": found.file_size if found.file_size is not None else len(found.data),
        })

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401, text="token required")
        if self.fail_downloads:
            return web.Response(status=self.fail_downloads.pop(0), text="try later")
        media_id = request.match_info["media_id"]
        found = self.files.get(media_id)
        if found is None:
            return web.Response(status=404)
        self.downloads.append(media_id)
        return web.Response(body=found.data, content_type=found.mime)

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or form.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "Param file must be a file upload.")
        media_id = "up." + secrets.token_hex(6)
        data = upload.file.read()
        self.uploads.append({"id": media_id, "type": form.get("type"), "filename": upload.filename,
                             "data": data, "phone": request.match_info["phone"]})
        return web.json_response({"id": media_id})

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return graph_error(401, 190, "Invalid OAuth access token.")
        self.sent.append(await request.json())
        self.got_send.set()
        return web.json_response({"messaging_product": "whatsapp",
                                  "messages": [{"id": "wamid.out." + secrets.token_hex(6)}]})

    def app(self) -> web.Application:
        """The aiohttp application of the fake."""
        app = web.Application()
        app.router.add_get(f"/{VERSION}/{{media_id}}", self._lookup)
        app.router.add_get("/lookaside/{media_id}", self._download)
        app.router.add_post(f"/{VERSION}/{{phone}}/media", self._upload)
        app.router.add_post(f"/{VERSION}/{{phone}}/messages", self._messages)
        return app

    async def start(self) -> FakeGraphMedia:
        """Serve on 127.0.0.1."""
        self.server = TestServer(self.app(), host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            await self.server.close()
