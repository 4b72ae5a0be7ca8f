"""REST: POST /api/v1/bulk/preview: a recipient list read, checked and rendered; nothing written.

The "new campaign" screen sends what the shop has (a CSV file, pasted numbers or a filter of its
contacts) and shows back the recipients, every row that will not get the message and why, and
the first messages as they will read. Starting the campaign then posts the recipients to /bulk.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from app import keys
from app.errors import Invalid
from app.services import audience, bulk_import, phones
from app.services.bulk_import import Import, Recipient
from app.web.bodies import json_object, json_response

MAX_BODY_TEXT = 4096  # characters of a message (WhatsApp allows 4096 in a text message)
MAX_FIELD_BYTES = 64 * 1024  # a form field other than the file (the message, pasted numbers)


async def _read_part(part: BodyPartReader, limit: int, code: str) -> bytes:
    """A multipart field, refused as soon as it passes `limit` (never held whole in memory)."""
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise Invalid(f"{part.name} over {limit} bytes", code=code, limit=limit)
    return bytes(data)


async def _read_form(request: web.Request) -> dict[str, Any]:
    """The multipart form: `file` (bytes), `body` and `numbers` (text)."""
    out: dict[str, Any] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise Invalid("nested multipart is not accepted", code="invalid_form")
        if part.name == "file":
            out["file"] = await _read_part(part, bulk_import.MAX_FILE_BYTES, "file_too_large")
        elif part.name in ("body", "numbers"):
            raw = await _read_part(part, MAX_FIELD_BYTES, "field_too_large")
            out[part.name] = raw.decode("utf-8", errors="replace")
        else:
            await part.release()
    return out


def _text(data: dict[str, Any], name: str, max_len: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", code="invalid_field", field=name)
    if len(value) > max_len:
        raise Invalid(f"{name} is too long", code="invalid_field", field=name)
    return value


async def _from_contacts(request: web.Request, tenant_id: int, spec: Any, country: str) -> Import:
    if not isinstance(spec, dict) or not isinstance(spec.get("q", ""), str):
        raise Invalid('contacts must be {"q": "text"}', code="invalid_field", field="contacts")
    q = spec.get("q", "")[:100]
    rows = await request.app[keys.DB].read(
        lambda c: audience.contacts(c, tenant_id, q, bulk_import.MAX_ROWS + 1))
    if len(rows) > bulk_import.MAX_ROWS:
        raise Invalid(f"more than {bulk_import.MAX_ROWS} contacts", code="too_many_rows",
                      limit=bulk_import.MAX_ROWS)
    result = Import(rows=len(rows))
    for n, row in enumerate(rows, 1):
        try:  # stored numbers are E.164 digits already; this gives the display form (and checks)
            phone = phones.normalize("+" + row["phone"], country)
        except phones.PhoneError as err:
            result.problems.append(bulk_import.Problem(n, row["phone"], err.reason))
            continue
        result.recipients.append(Recipient(n, phone.digits, phone.display, row["name"], {}))
    return result


async def handle_preview(request: web.Request) -> web.Response:
    """POST /api/v1/bulk/preview: multipart (`file`, `body`) or JSON (`body` with `numbers` or
    `contacts`) -> recipients, problems, counts and the first rendered messages."""
    p = request[keys.PRINCIPAL]
    tenant = await request.app[keys.TENANTS].get(p.tenant_id)
    country = tenant.default_country
    if request.content_type == "multipart/form-data":
        try:
            data = await _read_form(request)
        except (ValueError, HttpProcessingError):  # aiohttp: no boundary, a malformed part header
            raise Invalid("malformed multipart/form-data", code="invalid_form") from None
    else:
        data = json_object(await request.read())
    body = _text(data, "body", MAX_BODY_TEXT)
    if "file" in data:
        source, result = "csv", bulk_import.parse_csv(data["file"], country)
    elif "numbers" in data:
        source, result = "pasted", bulk_import.parse_pasted(_text(data, "numbers", MAX_FIELD_BYTES), country)
    elif "contacts" in data:
        source, result = "contacts", await _from_contacts(request, p.tenant_id, data["contacts"], country)
    else:
        raise Invalid("send a CSV file, pasted numbers or a contacts filter", code="missing_source")
    return json_response({
        "source": source,
        "default_country": country,
        "recipients": [r.public() for r in result.recipients],
        "problems": [pr.public() for pr in result.problems],
        "counts": result.counts(),
        "columns": result.columns,
        "phone_column": result.phone_column,
        "name_column": result.name_column,
        "delimiter": result.delimiter,
        "encoding": result.encoding,
        "variables": bulk_import.variables_in(body),
        "unknown_variables": bulk_import.unknown_variables(body, result.columns),
        "preview": bulk_import.preview(body, result.recipients),
    })


def setup_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/api/v1/bulk/preview", handle_preview, name="api_bulk_preview")
