"""A stand-in for neonize's asyncio client (NewAClient): the same registration, connect, send and
stop surface, driven by the test instead of WhatsApp's servers. Events are neonize's own protobuf
classes, so what the provider reads is what the real library delivers.

The session store is a real file: pairing writes the device into it, and a later client on the
same file resumes (Connected, no QR), as whatsmeow does with its SQLite store.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.whatsapp import base
from app.whatsapp.web import NeonizeApi, load_neonize

if not base.WEB_INSTALLED:
    pytest.skip("the whatsapp-web extra is not installed", allow_module_level=True)
ev = load_neonize().events   # imported the way the app does (its import-time noise silenced)
from neonize.proto import Neonize_pb2 as proto  # noqa: E402
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e  # noqa: E402

DEVICE_PREFIX = "device:"


def jid(user: str, server: str = "s.whatsapp.net") -> Any:
    return proto.JID(User=user, Server=server)


@dataclass
class FakeClient:
    """One NewAClient: what the provider registered, what it sent, and its Go loop (a task)."""

    store: Path
    uuid: str
    handlers: dict[type, Any] = field(default_factory=dict)
    on_qr: Any = None
    sent: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)   # WhatsApp's media servers
    sent_media: list[tuple[str, str, bytes, str | None, str | None]] = field(default_factory=list)
    stopped: bool = False
    logged_out: bool = False
    running: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- neonize's surface -------------------------------------------------------------------

    def qr(self, f: Any) -> None:
        self.on_qr = f

    def event(self, kind: type) -> Any:
        def register(f: Any) -> None:
            self.handlers[kind] = f
        return register

    async def connect(self) -> asyncio.Task[None]:
        async def loop() -> None:
            self.running.set()
            if self.device():          # a stored session: whatsmeow connects without a QR
                await self.emit(proto.Connected(status=True))
            await self._stop_event.wait()
        self._stop_event = asyncio.Event()
        return asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        self.stopped = True
        self._stop_event.set()

    async def logout(self) -> None:
        self.logged_out = True

    async def get_me(self) -> Any:
        return proto.Device(JID=jid(self.device() or ""))

    async def download_any(self, message: Any) -> bytes:
        """whatsmeow fetches the encrypted file at its direct path and decrypts it."""
        part = message.imageMessage if message.HasField("imageMessage") else message.documentMessage
        return self.files[part.directPath]

    async def send_image(self, to: str, file: bytes, caption: str | None = None) -> Any:
        self.sent_media.append((to, "image", file, caption, None))
        return proto.SendResponse(ID=f"3EB0{next(self._ids):012d}", Timestamp=1)

    async def send_document(self, to: str, file: bytes, caption: str | None = None,
                            filename: str | None = None, mimetype: str | None = None) -> Any:
        self.sent_media.append((to, "document", file, caption, filename))
        return proto.SendResponse(ID=f"3EB0{next(self._ids):012d}", Timestamp=1)

    async def send_message(self, to: str, message: str) -> Any:
        if self.stopped:
            raise RuntimeError("client stopped")
        self.sent.append((to, message))
        return proto.SendResponse(ID=f"3EB0{next(self._ids):012d}", Timestamp=1)

    # -- what WhatsApp does, driven by the test ------------------------------------------------

    def device(self) -> str | None:
        text = self.store.read_text() if self.store.exists() else ""
        return text[len(DEVICE_PREFIX):] if text.startswith(DEVICE_PREFIX) else None

    async def emit(self, event: Any) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            await handler(self, event)

    async def show_qr(self, code: str) -> None:
        await self.on_qr(self, code.encode())

    async def scan(self, phone: str) -> None:
        """The phone scanned the code: whatsmeow stores the device, then reports success."""
        self.store.write_text(DEVICE_PREFIX + phone)
        await self.emit(proto.PairStatus(ID=jid(phone), Status=proto.PairStatus.SUCCESS))
        await self.emit(proto.Connected(status=True))

    async def message(self, msg_id: str, sender: str, content: Any, *, name: str = "",
                      group: bool = False, from_me: bool = False) -> None:
        chat = jid(sender, "g.us" if group else "s.whatsapp.net")
        source = proto.MessageSource(Chat=chat, Sender=jid(sender), IsFromMe=from_me, IsGroup=group)
        info = proto.MessageInfo(MessageSource=source, ID=msg_id, Pushname=name,
                                 Timestamp=1_764_300_000_000)
        await self.emit(proto.Message(Info=info, Message=content))

    async def receipt(self, kind: str, *ids: str, sender: str = "56911112222") -> None:
        source = proto.MessageSource(Chat=jid(sender), Sender=jid(sender))
        await self.emit(proto.Receipt(MessageSource=source, MessageIDs=list(ids),
                                      Type=proto.Receipt.ReceiptType.Value(kind)))


@dataclass
class FakeNeonize:
    """The NeonizeApi the provider loads: every client it builds is kept, newest last."""

    clients: list[FakeClient] = field(default_factory=list)
    built: asyncio.Queue[FakeClient] = field(default_factory=asyncio.Queue)

    def api(self) -> NeonizeApi:
        return NeonizeApi(self._new_client, ev, e2e.Message)

    def _new_client(self, path: str, uuid: str) -> FakeClient:
        client = FakeClient(Path(path), uuid)
        self.clients.append(client)
        self.built.put_nowait(client)
        return client

    async def next_client(self, timeout: float = 5.0) -> FakeClient:
        """The next client the provider builds, once its loop runs."""
        client = await asyncio.wait_for(self.built.get(), timeout)
        await asyncio.wait_for(client.running.wait(), timeout)
        return client


def text(body: str) -> Any:
    return e2e.Message(conversation=body)


def image(caption: str) -> Any:
    return e2e.Message(imageMessage=e2e.ImageMessage(caption=caption, mimetype="image/jpeg"))
