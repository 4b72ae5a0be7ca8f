"""Media routes for the fake Graph API (tests/helpers/fake_graph.py), answering like Meta (§2.8).

`FakeGraphMedia(graph)` adds, before `graph.start()`: GET /{version}/{media_id} ->
{"url", "mime_type", "sha256", "file_size", "id"} (the bearer token required); GET of that url ->
the bytes, again only with the bearer token; POST /{version}/{phone_id}/media (multipart upload)
-> {"id"}. Sends stay the fake's own (`graph.accepted`). Tests queue download failures to see
retries and announce a false size to see the limit hold.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers.fake_graph import FakeGraph, error_body


@dataclass
class FakeMedia:
    """One file the fake holds."""

    data: bytes
    mime: str
    file_size: int | None = None      # announced size; None: the real one


@dataclass
class FakeGraphMedia:
    """The media side of a FakeGraph: its files and what it saw."""

    graph: FakeGraph
    files: dict[str, FakeMedia] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)          # media ids looked up
    downloads: list[str] = field(default_factory=list)        # media ids downloaded (authorised)
    refused: int = 0                                          # requests without the right token
    fail_downloads: list[int] = field(default_factory=list)   # statuses to answer first, in order
    uploads: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        router = self.graph.app.router
        router.add_get("/{version}/{media_id}", self._lookup)
        router.add_get("/lookaside/{media_id}", self._download)
        router.add_post("/{version}/{phone}/media", self._upload)

    @property
    def base(self) -> str:
        """The api_base a tenant configures to reach the fake."""
        return self.graph.base

    def add(self, media_id: str, data: bytes, mime: str, file_size: int | None = None) -> str:
        """Hold a file; return the base64 sha256 a webhook announces for it (Meta's form)."""
        self.files[media_id] = FakeMedia(data, mime, file_size)
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        self.graph.tokens.append(header[7:] if header.startswith("Bearer ") else "")
        ok = self.graph.token is None or header == f"Bearer {self.graph.token}"
        self.refused += not ok
        return ok

    async def _lookup(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response(error_body(190), status=401)
        media_id = request.match_info["media_id"]
        self.lookups.append(media_id)
        found = self.files.get(media_id)
        if found is None:
            return web.json_response(error_body(100, "Unsupported get request."), status=400)
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
            return web.json_response(error_body(190), status=401)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or form.get("messaging_product") != "whatsapp":
            return web.json_response(error_body(100, "Param file must be a file upload."), status=400)
        media_id = "up." + secrets.token_hex(6)
        self.uploads.append({"id": media_id, "type": form.get("type"), "filename": upload.filename,
                             "data": upload.file.read(), "phone": request.match_info["phone"]})
        return web.json_response({"id": media_id})
