"""`GET /api/v1/openapi.json`: the OpenAPI 3.1 description of every REST route.

Kept true by tests: tests/test_openapi.py fails when a route under /api/v1 is not described here,
and runs schemathesis against the live server (no 5xx, every answer matches its schema).
A module that adds routes adds its operations to OPERATIONS (or to a module of its own merged
in `document`), next to its schemas in openapi_schemas.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from app.auth.middleware import public
from app.jsonenc import dumps
from app.web.openapi_schemas import (
    BOT,
    BOT_RULES,
    BOT_TRY,
    BULK_PREVIEW,
    CAMPAIGN,
    COUNT,
    HEALTH,
    ID,
    OPTOUT,
    RECIPIENT,
    SCHEMAS,
    SUPPRESSION,
    obj,
    page,
    ref,
)

PATH = "/api/v1/openapi.json"
STR = {"type": "string"}
JSON = "application/json"


def answer(status: int, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """One documented answer; None means no body (204)."""
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {JSON: {"schema": schema}}
    return {str(status): out}


def op(summary: str, ok: dict[str, Any], *, body: dict[str, Any] | None = None,
       query: dict[str, dict[str, Any]] | None = None, headers: dict[str, dict[str, Any]] | None = None,
       auth: bool = True, tag: str = "", forms: dict[str, Any] | None = None) -> dict[str, Any]:
    """An operation: its 2xx answer(s), and every 4xx as the error object."""
    params = [{"name": n, "in": where, "required": False, "schema": s}
              for where, given in (("query", query), ("header", headers)) for n, s in (given or {}).items()]
    out: dict[str, Any] = {
        "summary": summary, "tags": [tag] if tag else [],
        "responses": {**ok, "4XX": {"description": "refused; `error.code` says why",
                                    "content": {JSON: {"schema": ref("Error")}}}},
    }
    if params:
        out["parameters"] = params
    if body is not None or forms:
        content = ({JSON: {"schema": body}} if body is not None else {}) | {
            kind: {"schema": s} for kind, s in (forms or {}).items()}
        out["requestBody"] = {"required": True, "content": content}
    if not auth:
        out["security"] = []
    return out


BYTES = {"type": "string", "contentMediaType": "application/octet-stream"}
LANG = {"enum": ["es", "en", ""]}
PASSWORD = {"type": "string", "minLength": 1, "maxLength": 256}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 100}

OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "/api/v1/auth/login": {"post": op(
        "Sign in: a bearer token for the API and the sockets",
        answer(200, "signed in", obj({"token": STR, "expires_at": {"type": "integer"}, "user": ref("User")})),
        body=obj({"email": STR, "password": PASSWORD}), auth=False, tag="auth")},
    "/api/v1/auth/logout": {"post": op(
        "Sign out: this token and its sockets stop working", answer(204, "signed out"), tag="auth")},
    "/api/v1/me": {
        "get": op("The signed-in user", answer(200, "the user", ref("User")), tag="auth"),
        "patch": op("Change one's own name or interface language", answer(200, "the user", ref("User")),
                    body=obj({}, {"name": STR, "lang": LANG}), tag="auth"),
    },
    "/api/v1/me/password": {"post": op(
        "Change one's own password (every token of the user is revoked)", answer(204, "changed"),
        body=obj({"current_password": PASSWORD, "new_password": PASSWORD}), tag="auth")},
    "/api/v1/users": {
        "get": op("The business's users (admin)", answer(200, "users", page(ref("User"), seq=False)),
                  tag="team"),
        "post": op("Add a user (admin); without `password` a one-time password is answered once",
                   answer(201, "created", {"allOf": [ref("User"), obj({}, {"one_time_password": STR})]}),
                   body=obj({"email": STR}, {"name": STR, "role": {"enum": ["admin", "agent"]},
                                              "password": PASSWORD}), tag="team"),
    },
    "/api/v1/users/{id}": {"patch": op(
        "Change a user (admin): name, role, disabled, password", answer(200, "the user", ref("User")),
        body=obj({}, {"name": STR, "role": {"enum": ["admin", "agent"]}, "disabled": {"type": "boolean"},
                      "password": PASSWORD}), tag="team")},
    "/api/v1/users/{id}/password-reset": {"post": op(
        "A new one-time password for a user (admin); their sessions end",
        answer(200, "the user and the password, shown once",
               {"allOf": [ref("User"), obj({"one_time_password": STR})]}), tag="team")},
    "/api/v1/tenant": {
        "get": op("The business", answer(200, "the business", ref("Tenant")), tag="business"),
        "patch": op("Change the business (admin)", answer(200, "the business", ref("Tenant")),
                    body=obj({}, {"name": STR, "default_lang": {"enum": ["es", "en"]}, "timezone": STR,
                                  "default_country": STR}),
                    tag="business"),
    },
    "/api/v1/conversations": {"get": op(
        "Conversations, newest first", answer(200, "a page", page(ref("Conversation"))),
        query={"q": STR, "status": {"enum": ["open", "closed", "all"]}, "cursor": STR, "limit": LIMIT,
               "unread": {"enum": ["0", "1", "true", "false"]}}, tag="inbox")},
    "/api/v1/conversations/{id}": {"get": op(
        "One conversation", answer(200, "the conversation and the stream seq it was read at",
                                   {"allOf": [ref("Conversation"), obj({"seq": {"type": "integer"}})]}),
        tag="inbox")},
    "/api/v1/conversations/{id}/messages": {
        "get": op("Messages, oldest to newest", answer(200, "a page", page(ref("Message"))),
                  query={"before": STR, "limit": LIMIT}, tag="inbox"),
        "post": op("Send a text (`body`) or an approved template (`template`, Cloud API); the same"
                   " Idempotency-Key again answers the same message",
                   answer(201, "queued", ref("Message")),
                   body=obj({}, {"body": STR, "reply_to": ID, "template": obj(
                       {"name": STR, "language": STR},
                       {"params": {"type": "array", "items": STR, "maxItems": 20}})}),
                   headers={"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 200}},
                   tag="inbox"),
    },
    "/api/v1/conversations/{id}/media": {"post": op(
        "Send a photo (JPEG, PNG) or a document, with an optional caption",
        answer(201, "queued, its `media` ready", ref("Message")),
        forms={"multipart/form-data": obj({"file": BYTES}, {"caption": STR})},
        headers={"Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 200}}, tag="inbox")},
    "/api/v1/conversations/{id}/read": {"post": op(
        "Mark read: unread goes to 0", answer(204, "read"), tag="inbox")},
    "/api/v1/stats": {"get": op("Today's figures", answer(200, "figures", ref("Stats")), tag="inbox")},
    "/api/v1/stats/hourly": {"get": op(
        "Today's messages per hour of the business's day", answer(200, "24 hours", ref("Hourly")),
        tag="inbox")},
    "/api/v1/whatsapp": {"get": op(
        "The WhatsApp link state", answer(200, "the state", ref("WhatsApp")), tag="whatsapp")},
    "/api/v1/whatsapp/connect": {"post": op(
        "Start linking (progress arrives as events)", answer(202, "started", ref("WhatsApp")),
        tag="whatsapp")},
    "/api/v1/whatsapp/logout": {"post": op(
        "Unlink", answer(202, "unlinking", ref("WhatsApp")), tag="whatsapp")},
    "/api/v1/whatsapp/config": {
        "get": op("The provider settings, secrets masked (admin)",
                  answer(200, "settings", ref("WhatsAppConfig")), tag="whatsapp"),
        "put": op("Choose the provider and its settings (admin)",
                  answer(200, "settings", ref("WhatsAppConfig")),
                  body=obj({"provider": {"enum": ["sandbox", "cloud", "web"]}},
                           {n: {"type": "string", "maxLength": 1024} for n in (
                               "phone_number_id", "access_token", "app_secret", "verify_token",
                               "api_base", "waba_id")}), tag="whatsapp"),
    },
    "/api/v1/whatsapp/templates": {"get": op(
        "The approved message templates of the business's WhatsApp account (Cloud API)",
        {**answer(200, "the templates", obj({"items": {"type": "array", "items": ref("Template")}})),
         **answer(502, "Meta refused or could not be asked; `error.code` is Meta's (wa_190...)",
                  ref("Error"))}, tag="whatsapp")},
    "/api/v1/sandbox/inbound": {"post": op(
        "The sandbox phone sends the business a message",
        answer(202, "received",
               obj({"message_id": ID, "conversation_id": ID, "duplicate": {"type": "boolean"}})),
        body=obj({"from": STR, "body": STR}, {"name": STR, "id": STR, "media": obj(
            {"type": {"enum": ["image", "audio", "video", "document", "sticker"]}, "mime": STR,
             "data": {"type": "string", "contentEncoding": "base64"}}, {"filename": STR})}),
        tag="whatsapp")},
    "/api/v1/media/{id}": {"get": op(
        "A message's file (id: the message's); documents and active types download",
        {"200": {"description": "the bytes, with their own type", "content": {"*/*": {"schema": BYTES}}}},
        tag="inbox")},
    "/api/v1/events": {"get": op(
        "Long-poll the event stream (the same frames as /ws)", answer(200, "events", ref("Events")),
        query={"since": {"type": "integer", "minimum": 0}, "epoch": STR,
               "timeout": {"type": "integer", "minimum": 0, "maximum": 50}}, tag="realtime")},
    "/api/v1/bulk/preview": {"post": op(
        "Read, check and render a recipient list (CSV, pasted numbers or contacts); writes nothing",
        answer(200, "the recipients, the rows left out and why, the first messages", BULK_PREVIEW),
        body=obj({"body": STR}, {"numbers": STR, "contacts": obj({}, {"q": STR})}),
        forms={"multipart/form-data": obj({"body": STR}, {"file": {"type": "string", "contentMediaType":
                                                                   "text/csv"}, "numbers": STR})},
        tag="bulk")},
    "/api/v1/suppressions": {
        "get": op("Phones bulk campaigns skip, newest first",
                  answer(200, "a page", {"allOf": [page(SUPPRESSION), obj({"total": COUNT})]}),
                  query={"cursor": STR, "limit": LIMIT}, tag="bulk"),
        "post": op("Put a phone on the list (read with the business's default country)",
                   {**answer(201, "added", SUPPRESSION), **answer(200, "it was there already", SUPPRESSION)},
                   body=obj({"phone": STR}), tag="bulk"),
    },
    "/api/v1/suppressions/{phone}": {"delete": op(
        "Take a phone (E.164 digits) off the list", answer(204, "removed"), tag="bulk")},
    "/api/v1/optout": {
        "get": op("The opt-out words", answer(200, "words", OPTOUT), tag="bulk"),
        "put": op("Set the opt-out words (admin)", answer(200, "words", OPTOUT),
                  body=obj({"words": {"type": "array", "items": STR}}), tag="bulk"),
    },
    "/api/v1/bulk": {
        "get": op("Campaigns, newest first", answer(200, "a page", page(CAMPAIGN)),
                  query={"cursor": STR, "limit": LIMIT}, tag="bulk"),
        "post": op("A draft campaign (scheduled when scheduled_at is given)",
                   answer(201, "created", CAMPAIGN),
                   body=obj({"name": STR, "body": STR, "recipients": {"type": "array", "items": obj(
                       {"phone": STR}, {"name": STR, "vars": {"type": "object"}})}},
                       {"template": obj({"name": STR}, {"language": STR}), "pacing": {"type": "object"},
                        "start_at": {"type": "integer"}, "scheduled_at": {"type": "integer"}}),
                   tag="bulk"),
    },
    "/api/v1/bulk/{id}": {"get": op(
        "One campaign and the stream seq it was read at",
        answer(200, "the campaign", {"allOf": [CAMPAIGN, obj({"seq": {"type": "integer"}})]}), tag="bulk")},
    **{f"/api/v1/bulk/{{id}}/{action}": {"post": op(
        f"{action.title()} the campaign (409 invalid_state when its status does not allow it)",
        answer(202, "the campaign after the move", CAMPAIGN), tag="bulk")}
       for action in ("start", "pause", "resume", "cancel")},
    "/api/v1/bulk/{id}/recipients": {"get": op(
        "Recipients in list order, with their state and error", answer(200, "a page", page(RECIPIENT)),
        query={"state": STR, "cursor": STR, "limit": LIMIT}, tag="bulk")},
    "/api/v1/bulk/{id}/export.csv": {"get": op(
        "Every recipient's outcome as CSV (UTF-8 with BOM)",
        {"200": {"description": "CSV", "content": {"text/csv": {"schema": STR}}}}, tag="bulk")},
    "/api/v1/bot": {
        "get": op("The bot's settings and today's status", answer(200, "settings", BOT), tag="bot"),
        "put": op("Change any of the bot's settings (admin); 400 lists every bad field",
                  answer(200, "settings", BOT), body=obj({}, {"enabled": {"type": "boolean"}, **BOT_RULES}),
                  tag="bot"),
    },
    "/api/v1/bot/try": {"post": op(
        "What the bot would answer now (saved settings, or an unsaved draft of them)",
        answer(200, "the answer and the rule behind it", BOT_TRY),
        body=obj({"text": STR}, {"settings": {"type": "object"}, "new_contact": {"type": "boolean"},
                                 "menu": {"type": ["integer", "null"], "minimum": 0}}),
        tag="bot")},
    "/healthz": {"get": op(
        "Process up, database writable, WhatsApp states as counts (no login)",
        {**answer(200, "healthy", HEALTH), **answer(503, "the database takes no write", HEALTH)},
        auth=False, tag="operations")},
    "/metrics": {"get": op(
        "Prometheus text format; CONDORITO_METRICS_TOKEN as a bearer token, else this machine only",
        {"200": {"description": "metrics", "content": {"text/plain": {"schema": STR}}}},
        auth=False, tag="operations")},
    PATH: {"get": op("This description", answer(200, "OpenAPI 3.1", {"type": "object"}), auth=False,
                     tag="meta")},
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document. Path parameters are added where the path names them."""
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        item: dict[str, Any] = dict(methods)
        names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if names:
            item["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                  for n in names]
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Condorito", "version": "1",
                 "description": "REST API v1 (PROTOCOL.md §2 and docs/protocol-additions.md). "
                                "Realtime: WebSocket /ws?v=1, long-poll /api/v1/events, "
                                "Socket.IO /socket.io/."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    }


def setup_routes(app: web.Application) -> None:
    """Serve the document, built once (it does not change while the server runs)."""
    body = dumps(document())

    @public
    async def handle_openapi(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=JSON)

    app.router.add_get(PATH, handle_openapi)
