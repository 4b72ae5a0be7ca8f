#!/usr/bin/env python3
"""The python-socketio baseline: the "obvious Python port" of the Node + Socket.IO stack.

A python-socketio AsyncServer on aiohttp (async_mode "aiohttp"), doing what Condorito does on the
measured path minus storage: an HTTP POST delivers a WhatsApp message and the server emits one
`new_message` event to every socket in the tenant's room. Nothing is stored, nothing is
authenticated beyond the tenant named at connect and the webhook signature.

Routes:
  POST /inbound                          {"tenant","from","body","id"?,"name"?} -> 202
  POST /webhooks/whatsapp/{client_code}  a signed Cloud API webhook (X-Hub-Signature-256)
  /socket.io/                            clients connect with auth {"tenant": "<code>"}

Webhook app secrets come from BASELINE_APP_SECRETS="code=secret,code=secret".
Run by bench/fanout.py; by hand: python bench/baseline_socketio.py --port 8090
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import time

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", logger=False,
                           engineio_logger=False)
_ids = itertools.count(1)
_conversations: dict[tuple[str, str], int] = {}  # in memory only: ids for the payload's shape
SECRETS = dict(kv.split("=", 1) for kv in os.environ.get("BASELINE_APP_SECRETS", "").split(",") if "=" in kv)


@sio.event
async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
    tenant = (auth or {}).get("tenant")
    if not isinstance(tenant, str) or not tenant:
        return False
    await sio.enter_room(sid, tenant)
    return True


def _payload(tenant: str, phone: str, name: str, body: str, wa_id: str) -> dict:
    """The same shape as Condorito's `new_message` data: {clientCode, message, conversation}."""
    now = int(time.time() * 1000)
    conv_id = _conversations.setdefault((tenant, phone), len(_conversations) + 1)
    message = {"id": str(next(_ids)), "conversation_id": str(conv_id), "direction": "in",
               "type": "text", "body": body, "status": "delivered", "wa_id": wa_id,
               "created_at": now, "author": {"kind": "contact"}}
    conversation = {"id": str(conv_id), "contact": {"id": str(conv_id), "name": name, "phone": phone},
                    "last_message": message, "unread_count": 1, "status": "open", "updated_at": now}
    return {"clientCode": tenant, "message": message, "conversation": conversation}


async def inbound(request: web.Request) -> web.Response:
    data = await request.json()
    tenant = data["tenant"]
    wa_id = data.get("id") or f"sio.in.{next(_ids)}"
    payload = _payload(tenant, data["from"], data.get("name", ""), data["body"], wa_id)
    await sio.emit("new_message", payload, room=tenant)
    return web.json_response({"message_id": payload["message"]["id"]}, status=202)


async def webhook(request: web.Request) -> web.Response:
    tenant = request.match_info["client_code"]
    secret = SECRETS.get(tenant)
    if secret is None:
        raise web.HTTPNotFound()
    raw = await request.read()
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
        raise web.HTTPUnauthorized()
    doc = json.loads(raw)
    new = 0
    for entry in doc.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                     for c in value.get("contacts") or []}
            for item in value.get("messages") or []:
                body = (item.get("text") or {}).get("body", "")
                payload = _payload(tenant, item["from"], names.get(item["from"], ""), body, item["id"])
                await sio.emit("new_message", payload, room=tenant)
                new += 1
    return web.json_response({"ok": True, "new": new})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    args = p.parse_args()
    app = web.Application()
    sio.attach(app)
    app.router.add_post("/inbound", inbound)
    app.router.add_post("/webhooks/whatsapp/{client_code}", webhook)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, shutdown_timeout=5,
                backlog=1024)  # same accept queue as Condorito (run.py LISTEN_BACKLOG)


if __name__ == "__main__":
    main()
