"""Loading neonize (whatsmeow through ctypes): the optional extra `whatsapp-web`.

Imported at a tenant's first QR link, not at start-up: it loads an 18.8 MB Go library, and an
install without the extra must work (the provider then answers `provider_unavailable`).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.whatsapp.base import WEB_EXTRA_HINT, ProviderError


@dataclass(frozen=True, slots=True)
class NeonizeApi:
    """What the provider uses of neonize: a client constructor and the event classes."""

    new_client: Callable[[str, str], Any]   # (session store path, unique client id) -> client
    events: Any                             # namespace with ConnectedEv, MessageEv, ...
    message_type: Callable[[], Any]         # WhatsApp's Message protobuf (media downloads)


def load_neonize() -> NeonizeApi:
    """Import neonize now (it loads an 18.8 MB Go library); ProviderError when it is absent."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    real_popen = os.popen

    def popen(cmd: str, mode: str = "r", buffering: int = -1) -> Any:
        # Its import probes the platform with os.popen("uname -a").read() and never closes the
        # pipe: the process is left unreaped and its file unclosed (ResourceWarnings later, at
        # random). During the import the pipe is read, closed and the process waited for.
        with real_popen(cmd, mode, buffering) as pipe:
            return io.StringIO(pipe.read())

    os.popen = popen
    try:
        from neonize.aioze import events
        from neonize.aioze.client import NewAClient
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
    except (ImportError, OSError):
        raise ProviderError("provider_unavailable", WEB_EXTRA_HINT) from None
    finally:
        os.popen = real_popen
        root.handlers[:] = handlers  # its import calls logging.basicConfig: our logging stays ours
    # whatsmeow logs message metadata at INFO; only its warnings and errors reach our logs.
    for name in ("neonize", "neonize.utils.log", "whatsmeow", "Whatsmeow"):
        logging.getLogger(name).setLevel(logging.WARNING)

    def new_client(path: str, uuid: str) -> Any:
        # new_device=False and no jid: the store's first (only) device, or a new one to pair.
        return NewAClient(path, uuid=uuid)

    return NeonizeApi(new_client, events, Message)
